import { DateTime } from 'luxon';

/**
 * Routee's quiet hours: no message reaches a recipient between 23:00 and 08:00 or between 14:00 and 17:00 of
 * the recipient's local time. A message that would arrive in one is held to the end of it. Local time comes from
 * the number's country (libphonenumber) and the country's zones (core/time-zones.ts: countries-and-timezones, IANA names), so luxon
 * keeps it right across DST changes. A country with several zones cannot be narrowed from the number with these
 * libraries: its messages wait for an instant that is quiet in none of its zones.
 */

/** Quiet periods as [start, end) minutes of the local day; one that wraps midnight has start > end. */
export const QUIET_PERIODS: ReadonlyArray<readonly [number, number]> = [
  [23 * 60, 8 * 60],
  [14 * 60, 17 * 60],
];

function minuteOfDay(t: DateTime): number {
  return t.hour * 60 + t.minute;
}

/** When the quiet period the instant falls in ends, in that zone; undefined when the instant is not quiet. */
export function quietEndsAt(at: number, zone: string): number | undefined {
  const local = DateTime.fromMillis(at, { zone });
  const m = minuteOfDay(local);
  for (const [start, end] of QUIET_PERIODS) {
    const inside = start < end ? m >= start && m < end : m >= start || m < end;
    if (!inside) continue;
    // The end's wall-clock time, today or (past midnight's start) tomorrow. luxon moves a time a DST gap skips
    // forward, so the end is always a real instant.
    let endDay = local.startOf('day');
    if (start > end && m >= start) endDay = endDay.plus({ days: 1 });
    return endDay.set({ hour: Math.floor(end / 60), minute: end % 60 }).toMillis();
  }
  return undefined;
}

/** How long to search for an instant that is quiet in no zone before giving up on the common window. */
const SEARCH_MS = 3 * 86_400_000;

/**
 * The earliest instant at or after `sendAt` that is outside the quiet hours in every zone. When the zones
 * share no such instant (a country spanning many hours, like Russia), the first zone's rule alone decides and
 * `narrowed` says so.
 */
export function quietHoldUntil(sendAt: number, zones: readonly string[]): { at: number; narrowed: boolean } {
  if (zones.length === 0) return { at: sendAt, narrowed: false };
  let t = sendAt;
  while (t - sendAt <= SEARCH_MS) {
    const ends = zones.map((z) => quietEndsAt(t, z)).filter((e): e is number => e !== undefined);
    if (ends.length === 0) return { at: t, narrowed: false };
    // The nearest end first: later ends may fall into another zone's next quiet period, checked next round.
    t = Math.min(...ends);
  }
  let only = sendAt;
  for (let end = quietEndsAt(only, zones[0]!); end !== undefined; end = quietEndsAt(only, zones[0]!)) only = end;
  return { at: only, narrowed: true };
}
