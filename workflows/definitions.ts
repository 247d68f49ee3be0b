import { defineQuery } from '@temporalio/workflow';
import type { DeliveryWindow } from '../domain/delivery-window';

/** Module-level message definitions: the API, the UI and tests all refer to these names. */

export type BulkStatus = 'PENDING' | 'PAUSED' | 'PROCESSING' | 'CANCELED' | 'FINISHED' | 'FAILED' | 'EXPIRED';

export type SpeedUnit = 'MINUTE' | 'HOUR' | 'DAY';

export interface SendingSpeedLimit {
  amount: number;
  timeUnit: SpeedUnit;
}

/**
 * Messages of one bulk that share a schedule. Destinations themselves stay in the database; a group is a few
 * numbers, and a bulk has at most as many groups as its request had message entries (bounded by the API).
 */
export interface ScheduleGroup {
  index: number;
  sendAt: number;
  validityEndsAt: number;
  window?: DeliveryWindow;
  messageCount: number;
}

export interface BulkCounts {
  total: number;
  sent: number;
  rejected: number;
  expired: number;
  canceled: number;
}

export interface BulkWorkflowInput {
  accountId: string;
  bulkId: string;
  groups: ScheduleGroup[];
  speedLimit?: SendingSpeedLimit;
  /** Present only after continue-as-new: what the previous run had done. */
  carried?: CarriedState;
}

export interface CarriedState {
  status: BulkStatus;
  doneGroups: number[];
  counts: BulkCounts;
  sendLog: Array<{ at: number; count: number }>;
}

export interface BulkSnapshot {
  bulkId: string;
  status: BulkStatus;
  sendAt: number;
  counts: BulkCounts;
}

export const bulkStatusQuery = defineQuery<BulkSnapshot>('bulkStatus');
