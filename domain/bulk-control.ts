/**
 * The bulk control rules of Infobip's scheduling API, extended to bulks that are already sending.
 * One pure function serves the API's Updates (whose validators reject before anything reaches history) and
 * the operators' Signals from the Temporal UI.
 */
export type BulkStatus = 'PENDING' | 'PAUSED' | 'PROCESSING' | 'CANCELED' | 'FINISHED' | 'FAILED' | 'EXPIRED';

/** Statuses a client may ask for. CANCELLED is accepted as Infobip's own docs spell it both ways. */
export type RequestedStatus = 'PENDING' | 'PAUSED' | 'CANCELED';

export const FINAL_BULK_STATUSES: ReadonlySet<BulkStatus> = new Set(['CANCELED', 'FINISHED', 'FAILED', 'EXPIRED']);

export function normalizeRequestedStatus(value: string): RequestedStatus | undefined {
  const upper = value.trim().toUpperCase();
  if (upper === 'CANCELLED') return 'CANCELED';
  return upper === 'PENDING' || upper === 'PAUSED' || upper === 'CANCELED' ? upper : undefined;
}

/** How far ahead a send or a reschedule may be set, as Infobip allows. */
export const MAX_SCHEDULE_AHEAD_MS = 180 * 86_400_000;

export type Decision<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * PENDING → PAUSED | CANCELED; PAUSED → PENDING | CANCELED; PROCESSING → PAUSED | CANCELED (beyond Infobip).
 * Asking for the status a bulk already has is a no-op that succeeds (PENDING → PENDING, PAUSED → PAUSED; a
 * PROCESSING bulk asked for PENDING goes on sending). Final statuses change no more.
 */
export function decideStatusChange(current: BulkStatus, requested: RequestedStatus): Decision<RequestedStatus> {
  if (FINAL_BULK_STATUSES.has(current)) {
    return { ok: false, reason: `bulk is ${current}: its status can no longer change` };
  }
  const allowed: Record<string, RequestedStatus[]> = {
    PENDING: ['PENDING', 'PAUSED', 'CANCELED'],
    PROCESSING: ['PENDING', 'PAUSED', 'CANCELED'],
    PAUSED: ['PENDING', 'PAUSED', 'CANCELED'],
  };
  if (!allowed[current]?.includes(requested)) {
    return { ok: false, reason: `bulk is ${current}: it cannot change to ${requested}` };
  }
  return { ok: true, value: requested };
}

/**
 * A reschedule moves every message of the bulk: allowed while PENDING or PAUSED, and only when all its messages
 * share one send time (as Infobip refuses multi-schedule bulks). A past time means now.
 */
export function decideReschedule(
  current: BulkStatus,
  sendTimes: number[],
  requested: number,
  now: number,
): Decision<number> {
  if (current !== 'PENDING' && current !== 'PAUSED') {
    return { ok: false, reason: `bulk is ${current}: only PENDING or PAUSED bulks can be rescheduled` };
  }
  if (new Set(sendTimes).size > 1) {
    return { ok: false, reason: 'bulk has messages with different send times and cannot be rescheduled as one' };
  }
  if (requested > now + MAX_SCHEDULE_AHEAD_MS) {
    return { ok: false, reason: 'sendAt must be at most 180 days ahead' };
  }
  return { ok: true, value: Math.max(requested, now) };
}
