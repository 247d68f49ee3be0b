import { createHmac } from 'node:crypto';
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
    error: errorForStatus(r.status_name),
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
    error: m.state === 'FINAL' ? errorForStatus(m.status_name) : NO_ERROR,
  };
}

/** `sha256=<hex>` of the exact bytes sent, keyed with the account's webhook secret. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
