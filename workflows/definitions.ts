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
  tuning?: WorkflowTuning;
  /** Present only after continue-as-new: what the previous run had done. */
  carried?: CarriedState;
}

/** Knobs with production defaults; tests lower them to exercise batching and continue-as-new quickly. */
export interface WorkflowTuning {
  /** Messages per sendBatch call (default 1000). */
  batchSize?: number;
  /** sendBatch activities in flight at once (default 4). */
  concurrency?: number;
  /** Continue-as-new once history has this many events (default 10,000), or when the server suggests it. */
  continueAsNewAfterEvents?: number;
}

export interface CarriedState {
  status: BulkStatus;
  doneGroups: number[];
  nextSeq: Record<number, number>;
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
