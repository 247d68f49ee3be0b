/**
 * Control inputs as they arrive at the workflow: from the API (well formed), and from people typing JSON into
 * the Temporal UI or `temporal workflow signal` (anything at all: nothing, null, a string, a typo'd field). A
 * workflow that throws on such input fails its task forever, so every handler parses with these first and refuses
 * what does not parse. Plain functions (no zod): they run inside the workflow bundle.
 */
import { normalizeRequestedStatus, type RequestedStatus } from './bulk-control';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Longest `by` kept in the control log. */
const MAX_ACTOR = 100;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${JSON.stringify(value.slice(0, 40))}` : `a ${typeof value}`;
}

/**
 * An object with only the allowed keys. No input at all counts as `{}` when `emptyAllowed` (a signal sent with
 * the UI's Data field left empty, or the CLI without --input); an explicit `null` is refused like any garbage.
 */
function objectWith(arg: unknown, allowed: readonly string[], emptyAllowed: boolean): Parsed<Record<string, unknown>> {
  if (arg === undefined && emptyAllowed) return { ok: true, value: {} };
  if (arg === undefined || arg === null) {
    return { ok: false, reason: `expected an object with ${allowed.join(', ')}; got ${arg === undefined ? 'no input' : describe(arg)}` };
  }
  if (typeof arg !== 'object' || Array.isArray(arg)) return { ok: false, reason: `expected an object; got ${describe(arg)}` };
  const extra = Object.keys(arg).filter((k) => !allowed.includes(k));
  if (extra.length > 0) return { ok: false, reason: `unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (allowed: ${allowed.join(', ')})` };
  return { ok: true, value: arg as Record<string, unknown> };
}

function actor(value: unknown): Parsed<string | undefined> {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  if (typeof value !== 'string' || value.trim() === '') return { ok: false, reason: `by must be a non-empty string; got ${describe(value)}` };
  return { ok: true, value: value.trim().slice(0, MAX_ACTOR) };
}

/** `pause`, `resume`, `cancel`: no input, or `{"by": "name"}`. */
export function parseActorInput(arg: unknown): Parsed<{ by?: string }> {
  const obj = objectWith(arg, ['by'], true);
  if (!obj.ok) return obj;
  const by = actor(obj.value.by);
  return by.ok ? { ok: true, value: by.value === undefined ? {} : { by: by.value } } : by;
}

/** `setStatus` update: `{"status": "PAUSED", "by"?: "name"}`. */
export function parseStatusInput(arg: unknown): Parsed<{ status: RequestedStatus; by?: string }> {
  const obj = objectWith(arg, ['status', 'by'], false);
  if (!obj.ok) return obj;
  const raw = obj.value.status;
  const status = typeof raw === 'string' ? normalizeRequestedStatus(raw) : undefined;
  if (!status) return { ok: false, reason: `status must be PENDING, PAUSED or CANCELED; got ${describe(raw)}` };
  const by = actor(obj.value.by);
  if (!by.ok) return by;
  return { ok: true, value: by.value === undefined ? { status } : { status, by: by.value } };
}

/**
 * `reschedule` signal and `setSendAt` update: `{"sendAt": "2030-07-07T17:00:00Z", "by"?: "name"}`. An ISO-8601
 * string with a zone (epoch milliseconds too, as older clients send them).
 */
export function parseRescheduleInput(arg: unknown): Parsed<{ sendAt: number; by?: string }> {
  const obj = objectWith(arg, ['sendAt', 'by'], false);
  if (!obj.ok) return obj;
  const raw = obj.value.sendAt;
  let sendAt: number;
  if (typeof raw === 'number' && Number.isFinite(raw)) sendAt = raw;
  else if (typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(raw.trim())) {
    sendAt = Date.parse(raw.trim());
  } else {
    return { ok: false, reason: `sendAt must be an ISO-8601 date-time with a zone, e.g. 2030-07-07T17:00:00Z; got ${describe(raw)}` };
  }
  if (!Number.isFinite(sendAt)) return { ok: false, reason: `sendAt ${String(raw)} is not a date` };
  const by = actor(obj.value.by);
  if (!by.ok) return by;
  return { ok: true, value: by.value === undefined ? { sendAt } : { sendAt, by: by.value } };
}
