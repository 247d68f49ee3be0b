import { DateTime } from 'luxon';

/**
 * Delivery time windows as Infobip defines them: listed weekdays, optionally narrowed to a from–to time of day,
 * in UTC. `timeZone` (an IANA name) is this product's extension. A window whose `to` is earlier than its `from`
 * runs over midnight into the next day.
 *
 * Pure functions of (window, instant) so that workflows can call them deterministically with workflow time.
 */
export const WEEKDAYS = ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface TimeOfDay {
  hour: number;
  minute: number;
}

export interface DeliveryWindow {
  days: Weekday[];
  from?: TimeOfDay;
  to?: TimeOfDay;
  timeZone?: string;
}

interface Interval {
  start: number;
  end: number;
}

const DAY_MS = 86_400_000;

/** Opening intervals of the window around `at`: from the day before to eight days after, merged where they touch. */
function intervalsAround(window: DeliveryWindow, at: number): Interval[] {
  const zone = window.timeZone ?? 'UTC';
  const day0 = DateTime.fromMillis(at, { zone }).startOf('day');
  const raw: Interval[] = [];
  for (let offset = -1; offset <= 8; offset++) {
    const day = day0.plus({ days: offset });
    // Luxon numbers weekdays 1 (Monday) … 7 (Sunday).
    if (!window.days.includes(WEEKDAYS[day.weekday - 1] as Weekday)) continue;
    if (!window.from || !window.to) {
      raw.push({ start: day.toMillis(), end: day.plus({ days: 1 }).toMillis() });
      continue;
    }
    const start = day.set({ hour: window.from.hour, minute: window.from.minute });
    let end = day.set({ hour: window.to.hour, minute: window.to.minute });
    if (end <= start) end = end.plus({ days: 1 });
    raw.push({ start: start.toMillis(), end: end.toMillis() });
  }
  const merged: Interval[] = [];
  for (const iv of raw) {
    const last = merged[merged.length - 1];
    if (last && iv.start <= last.end) last.end = Math.max(last.end, iv.end);
    else merged.push({ ...iv });
  }
  return merged;
}

export function isWindowOpen(window: DeliveryWindow | undefined, at: number): boolean {
  if (!window) return true;
  return intervalsAround(window, at).some((iv) => iv.start <= at && at < iv.end);
}

/** The first instant at or after `at` when sending is allowed (`at` itself when the window is open). */
export function nextWindowOpening(window: DeliveryWindow | undefined, at: number): number {
  if (!window) return at;
  for (const iv of intervalsAround(window, at)) {
    if (at < iv.end) return Math.max(at, iv.start);
  }
  // Unreachable for a window with at least one day, since eight days ahead always hold a listed weekday.
  throw new Error('delivery window has no opening within a week');
}

/** When the window that is open at `at` closes; Infinity when there is no window. */
export function windowClosesAt(window: DeliveryWindow | undefined, at: number): number {
  if (!window) return Infinity;
  const open = intervalsAround(window, at).find((iv) => iv.start <= at && at < iv.end);
  if (!open) return at;
  // A window open every day, all day, never closes; the search horizon stands in for "not within a week".
  return open.end >= at + 7 * DAY_MS ? Infinity : open.end;
}
