/**
 * Words and dates for people reading a bulk in the Temporal UI: the summaries of its workflow, activities and
 * timers, and its current details. Pure and deterministic (no locale of the host), so workflows can use them.
 */
import { DateTime } from 'luxon';
import type { DeliveryWindow } from './delivery-window';

/** 100000 → "100,000", the same on every host. */
export function formatCount(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** An instant as "2026-11-26 09:00 UTC" (or in the given IANA zone: "2026-11-26 10:00 Europe/Zagreb"). */
export function formatInstant(ms: number, zone = 'UTC'): string {
  return `${DateTime.fromMillis(ms, { zone }).toFormat('yyyy-LL-dd HH:mm')} ${zone}`;
}

/** An instant as ISO-8601 with its zone designator, as inputs, queries and results carry dates. */
export function isoInstant(ms: number): string {
  return new Date(ms).toISOString();
}

/** Epoch milliseconds from an ISO-8601 string or a number (inputs written before dates were ISO). */
export function toMillis(value: number | string): number {
  return typeof value === 'number' ? value : Date.parse(value);
}

/** "Mon 06:00 Europe/Zagreb": when a delivery window opens, in the window's own zone. */
export function formatWindowOpening(window: DeliveryWindow | undefined, ms: number): string {
  const zone = window?.timeZone ?? 'UTC';
  return `${DateTime.fromMillis(ms, { zone }).toFormat('ccc HH:mm')} ${zone}`;
}

/** "MONDAY–FRIDAY 06:00–20:00 UTC", for a bulk's details. */
export function describeWindow(window: DeliveryWindow | undefined): string {
  if (!window) return 'any time';
  const pad = (n: number) => String(n).padStart(2, '0');
  const hours = window.from && window.to ? ` ${pad(window.from.hour)}:${pad(window.from.minute)}–${pad(window.to.hour)}:${pad(window.to.minute)}` : ' all day';
  return `${window.days.join(', ')}${hours} ${window.timeZone ?? 'UTC'}`;
}
