import { DateTime } from 'luxon';
import { zonesOfCountry } from '../../core/time-zones';
import { quietEndsAt, quietHoldUntil } from '../../domain/quiet-hours';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

test('outside the quiet hours a message goes at its time; inside, at the end of the quiet period', () => {
  // Athens in winter is UTC+2.
  expect(quietHoldUntil(at('2026-12-03T09:00:00Z'), ['Europe/Athens'])).toEqual({ at: at('2026-12-03T09:00:00Z'), narrowed: false });
  // 14:30 local → 17:00 local.
  expect(iso(quietHoldUntil(at('2026-12-03T12:30:00Z'), ['Europe/Athens']).at)).toBe('2026-12-03T15:00:00.000Z');
  // 23:30 local → 08:00 local the next day; 02:00 local → 08:00 the same day.
  expect(iso(quietHoldUntil(at('2026-12-03T21:30:00Z'), ['Europe/Athens']).at)).toBe('2026-12-04T06:00:00.000Z');
  expect(iso(quietHoldUntil(at('2026-12-04T00:00:00Z'), ['Europe/Athens']).at)).toBe('2026-12-04T06:00:00.000Z');
  // The boundaries: 08:00 and 17:00 are open, 14:00 and 23:00 quiet.
  expect(quietEndsAt(at('2026-12-03T06:00:00Z'), 'Europe/Athens')).toBeUndefined();
  expect(quietEndsAt(at('2026-12-03T15:00:00Z'), 'Europe/Athens')).toBeUndefined();
  expect(quietEndsAt(at('2026-12-03T12:00:00Z'), 'Europe/Athens')).toBe(at('2026-12-03T15:00:00Z'));
  expect(quietEndsAt(at('2026-12-03T21:00:00Z'), 'Europe/Athens')).toBe(at('2026-12-04T06:00:00Z'));
});

test('across a DST change the quiet night ends at 08:00 local time, not at a fixed offset', () => {
  // Autumn: Athens leaves UTC+3 for UTC+2 at 04:00 local on 25 Oct 2026. 01:00 local (22:00Z) → 08:00 EET = 06:00Z.
  expect(iso(quietHoldUntil(at('2026-10-24T22:00:00Z'), ['Europe/Athens']).at)).toBe('2026-10-25T06:00:00.000Z');
  // Spring: UTC+2 → UTC+3 at 03:00 local on 29 Mar 2026. 00:00 local (22:00Z) → 08:00 EEST = 05:00Z.
  expect(iso(quietHoldUntil(at('2026-03-28T22:00:00Z'), ['Europe/Athens']).at)).toBe('2026-03-29T05:00:00.000Z');
  // New York's autumn change (1 Nov 2026): 07:30 EST is 12:30Z; 23:30 EDT on 31 Oct (03:30Z) → 08:00 EST = 13:00Z.
  expect(iso(quietHoldUntil(at('2026-11-01T03:30:00Z'), ['America/New_York']).at)).toBe('2026-11-01T13:00:00.000Z');
});

test('two recipients of one campaign in different zones are held by their own clocks', () => {
  const sendAt = at('2026-12-03T12:30:00Z'); // 14:30 in Athens (quiet), 13:30 in Zurich (open)
  expect(quietHoldUntil(sendAt, zonesOfCountry('GR')).at).toBe(at('2026-12-03T15:00:00Z'));
  expect(quietHoldUntil(sendAt, zonesOfCountry('CH')).at).toBe(sendAt);
});

test('a country of several zones waits for an instant that is quiet in none of them', () => {
  const zones = zonesOfCountry('US');
  expect(zones.length).toBeGreaterThan(5);
  expect(zones).toContain('America/New_York');
  const sendAt = at('2026-12-03T15:00:00Z'); // 10:00 in New York, 05:00 in Honolulu
  const { at: held, narrowed } = quietHoldUntil(sendAt, zones);
  expect(narrowed).toBe(false);
  expect(held).toBeGreaterThan(sendAt);
  for (const z of zones) expect(quietEndsAt(held, z)).toBeUndefined();
  // And it is the earliest such instant: a minute before, some zone is still quiet.
  expect(zones.some((z) => quietEndsAt(held - 60_000, z) !== undefined)).toBe(true);
  const local = DateTime.fromMillis(held, { zone: 'America/New_York' });
  expect(local.hour * 60 + local.minute).toBeGreaterThanOrEqual(8 * 60);
});

test('zones that share no open instant fall back to the first zone alone, and say so', () => {
  // Zones every three hours around the globe: whenever one is open, another is quiet.
  const zones = ['Etc/UTC', 'Etc/GMT-3', 'Etc/GMT-6', 'Etc/GMT-9', 'Etc/GMT-12', 'Etc/GMT+3', 'Etc/GMT+6', 'Etc/GMT+9'];
  const sendAt = at('2026-12-03T13:00:00Z'); // 13:00 in UTC, the first zone: open there
  expect(quietHoldUntil(sendAt, zones)).toEqual({ at: sendAt, narrowed: true });
  // 14:30 UTC is quiet in the first zone: held to its 17:00.
  expect(quietHoldUntil(at('2026-12-03T14:30:00Z'), zones)).toEqual({ at: at('2026-12-03T17:00:00Z'), narrowed: true });
  expect(zonesOfCountry(undefined)).toEqual([]);
  expect(quietHoldUntil(123, [])).toEqual({ at: 123, narrowed: false });
});
