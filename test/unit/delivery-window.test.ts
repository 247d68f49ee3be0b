import { DateTime } from 'luxon';
import { isWindowOpen, nextWindowOpening, windowClosesAt, type DeliveryWindow } from '../../domain/delivery-window';

const utc = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' }).toMillis();
const iso = (ms: number) => DateTime.fromMillis(ms, { zone: 'utc' }).toISO();

const weekdaysMorning: DeliveryWindow = {
  days: ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY'],
  from: { hour: 6, minute: 0 },
  to: { hour: 15, minute: 30 },
};

test('no window means always open', () => {
  const t = utc('2026-11-22T03:00:00');
  expect(isWindowOpen(undefined, t)).toBe(true);
  expect(nextWindowOpening(undefined, t)).toBe(t);
  expect(windowClosesAt(undefined, t)).toBe(Infinity);
});

test('closed on Sunday, the next opening is Monday 06:00 UTC', () => {
  const sunday = utc('2026-11-22T10:00:00'); // 2026-11-22 is a Sunday
  expect(isWindowOpen(weekdaysMorning, sunday)).toBe(false);
  expect(iso(nextWindowOpening(weekdaysMorning, sunday))).toBe('2026-11-23T06:00:00.000Z');
});

test('inside the window it is open and closes at 15:30 the same day', () => {
  const monday = utc('2026-11-23T09:12:00');
  expect(isWindowOpen(weekdaysMorning, monday)).toBe(true);
  expect(nextWindowOpening(weekdaysMorning, monday)).toBe(monday);
  expect(iso(windowClosesAt(weekdaysMorning, monday))).toBe('2026-11-23T15:30:00.000Z');
});

test('from is inclusive, to is exclusive', () => {
  expect(isWindowOpen(weekdaysMorning, utc('2026-11-23T06:00:00'))).toBe(true);
  expect(isWindowOpen(weekdaysMorning, utc('2026-11-23T15:30:00'))).toBe(false);
  expect(iso(nextWindowOpening(weekdaysMorning, utc('2026-11-23T15:30:00')))).toBe('2026-11-24T06:00:00.000Z');
});

test('after Friday closes the next opening is Monday', () => {
  expect(iso(nextWindowOpening(weekdaysMorning, utc('2026-11-27T16:00:00')))).toBe('2026-11-30T06:00:00.000Z');
});

test('whole days without from/to; consecutive days merge into one opening', () => {
  const weekend: DeliveryWindow = { days: ['SATURDAY', 'SUNDAY'] };
  expect(isWindowOpen(weekend, utc('2026-11-21T00:00:00'))).toBe(true);
  expect(iso(windowClosesAt(weekend, utc('2026-11-21T12:00:00')))).toBe('2026-11-23T00:00:00.000Z');
  expect(iso(nextWindowOpening(weekend, utc('2026-11-23T00:00:00')))).toBe('2026-11-28T00:00:00.000Z');
});

test('a window whose to is before its from runs over midnight', () => {
  const night: DeliveryWindow = { days: ['FRIDAY'], from: { hour: 22, minute: 0 }, to: { hour: 2, minute: 0 } };
  expect(isWindowOpen(night, utc('2026-11-28T01:00:00'))).toBe(true); // Saturday 01:00 belongs to Friday's window
  expect(isWindowOpen(night, utc('2026-11-28T03:00:00'))).toBe(false);
});

test('an IANA time zone shifts the window (extension)', () => {
  const zagreb: DeliveryWindow = { ...weekdaysMorning, timeZone: 'Europe/Zagreb' }; // UTC+1 in November
  expect(isWindowOpen(zagreb, utc('2026-11-23T05:30:00'))).toBe(true);
  expect(isWindowOpen(weekdaysMorning, utc('2026-11-23T05:30:00'))).toBe(false);
});

test('every day all day never closes', () => {
  const always: DeliveryWindow = {
    days: ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'],
  };
  expect(windowClosesAt(always, utc('2026-11-23T09:00:00'))).toBe(Infinity);
});
