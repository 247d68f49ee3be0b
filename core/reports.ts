import { createHmac } from 'node:crypto';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { DateTime } from 'luxon';
import type { MessageRow, ReportRow } from '../db/repository';
import { errorForStatus, NO_ERROR, statusByName, STATUSES, type MessageError, type MessageStatus } from '../domain/status';

/** Infobip's report date format: 2019-11-09T16:00:00.000+0000. */
export function formatReportDate(ms: number | null): string | null {
  return ms === null ? null : DateTime.fromMillis(ms, { zone: 'utc' }).toFormat("yyyy-MM-dd'T'HH:mm:ss.SSSZZZ");
}

function statusOf(name: string): MessageStatus {
  return statusByName(name) ?? STATUSES.PENDING_ACCEPTED;
}

export interface InfobipReport {
  /** Stable per message and status, so a receiver can drop the duplicates at-least-once delivery may bring. */
  reportId: string;
  bulkId: string;
  messageId: string;
  to: string;
  from: string | null;
  sentAt: string | null;
  doneAt: string | null;
  smsCount: number;
  price: { pricePerMessage: number; currency: string };
  status: MessageStatus;
  error: MessageError;
  callbackData?: string;
}

export function toInfobipReport(r: ReportRow): InfobipReport {
  return {
    reportId: r.id,
    bulkId: r.bulk_id,
    messageId: r.message_id,
    to: r.to_number,
    from: r.from_addr,
    sentAt: formatReportDate(r.submitted_at),
    doneAt: formatReportDate(r.done_at),
    smsCount: r.sms_count,
    // The simulator and the self-hosted providers carry no price; the field keeps Infobip's shape.
    price: { pricePerMessage: 0, currency: 'EUR' },
    status: statusOf(r.status_name),
    error: errorForStatus(r.status_name, r.error_name),
    ...(r.callback_data !== null ? { callbackData: r.callback_data } : {}),
  };
}

export function toInfobipLog(m: MessageRow) {
  return {
    bulkId: m.bulk_id,
    messageId: m.message_id,
    to: m.to_number,
    from: m.from_addr,
    text: m.text,
    sentAt: formatReportDate(m.submitted_at),
    doneAt: formatReportDate(m.done_at),
    smsCount: m.sms_count,
    price: { pricePerMessage: 0, currency: 'EUR' },
    status: statusOf(m.status_name),
    error: m.state === 'FINAL' ? errorForStatus(m.status_name, m.error_name) : NO_ERROR,
  };
}

/** `sha256=<hex>` of the exact bytes sent, keyed with the account's webhook secret. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Routee's message statuses. */
export type RouteeStatus = 'Queued' | 'Sent' | 'Failed' | 'Delivered' | 'Undelivered' | 'Unsent';

/** The Routee status a message's Infobip-style status name counts under. */
export function routeeStatusOf(statusName: string): RouteeStatus {
  if (statusName === 'PENDING_ACCEPTED') return 'Queued';
  // Accepted by the operator, not yet on the handset: still Sent in Routee's words.
  if (statusName.startsWith('PENDING') || statusName === 'DELIVERED_TO_OPERATOR') return 'Sent';
  if (statusName.startsWith('DELIVERED')) return 'Delivered';
  if (statusName === 'REJECTED_CANCELED') return 'Unsent';
  if (statusName.startsWith('REJECTED')) return 'Failed';
  return 'Undelivered';
}

/** Counts by status name, as counts by Routee status (every one present, 0 when none). */
export function routeeStatusCounts(byName: Readonly<Record<string, number>>): Record<RouteeStatus, number> {
  const counts: Record<RouteeStatus, number> = { Queued: 0, Sent: 0, Failed: 0, Delivered: 0, Undelivered: 0, Unsent: 0 };
  for (const [name, n] of Object.entries(byName)) counts[routeeStatusOf(name)] += n;
  return counts;
}

/**
 * The content type that marks a message's notifyUrl as a Routee `callback`: its reports are POSTed one by one
 * in Routee's shape (as application/json), not in batches of Infobip's.
 */
export const ROUTEE_CALLBACK_TYPE = 'application/vnd.routee.callback+json';

/** What a Routee campaign message carries in callback_data, for its callbacks. */
export interface RouteeCallbackContext {
  campaignTrackingId: string;
  campaignName?: string;
  groups: string[];
}

/** Routee's per-message callback (one per message; `part` 1 of `parts`). */
export function toRouteeCallback(r: ReportRow) {
  const context = (r.callback_data ? JSON.parse(r.callback_data) : {}) as Partial<RouteeCallbackContext>;
  return {
    messageId: r.message_id,
    smsId: r.message_id,
    campaignTrackingId: context.campaignTrackingId,
    ...(context.campaignName ? { campaignName: context.campaignName } : {}),
    groups: context.groups ?? [],
    part: 1,
    parts: r.sms_count,
    to: `+${r.to_number}`,
    from: r.from_addr,
    country: parsePhoneNumberFromString(`+${r.to_number}`)?.country,
    direction: 'Outbound',
    originatingService: 'Sms',
    status: {
      name: routeeStatusOf(r.status_name),
      reason: { detailedStatus: r.status_name, description: statusOf(r.status_name).description },
      updatedDate: new Date(r.done_at).toISOString(),
    },
  };
}
