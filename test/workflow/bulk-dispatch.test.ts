import { DateTime } from 'luxon';
import { bulkWorkflowId, type CreateBulkCommand } from '../../core/bulk-service';
import type { DeliveryWindow } from '../../domain/delivery-window';
import { sendBatchCalls } from '../helpers/history';
import { timeSkippingSuite } from '../helpers/stack';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const suite = timeSkippingSuite();

type Msg = CreateBulkCommand['messages'][number];
const numbers = (n: number, base = 41793026700) => Array.from({ length: n }, (_, i) => ({ to: String(base + i) }));
const msg = (extra: Partial<Msg>): Msg => ({
  text: 'Campaign text',
  flash: false,
  intermediateReport: false,
  destinations: numbers(1),
  ...extra,
});

/** Workflow time now, and BulkService told to use it (time-skipping moves the server clock ahead of ours). */
async function workflowNow(): Promise<number> {
  suite.stack.clock.now = await suite.env.currentTimeMs();
  return suite.stack.clock.now;
}

/** The next instant with the given UTC weekday (1 = Monday … 7 = Sunday) and time of day, after `from`. */
function nextUtc(from: number, weekday: number, hour: number, minute = 0): number {
  let t = DateTime.fromMillis(from, { zone: 'utc' }).set({ hour, minute, second: 0, millisecond: 0 });
  while (t.weekday !== weekday || t.toMillis() <= from) t = t.plus({ days: 1 }).set({ hour, minute });
  return t.toMillis();
}

async function runBulk(bulkId: string, messages: Msg[], extra: Partial<CreateBulkCommand> = {}) {
  await suite.stack.bulks.createBulk({ accountId: 'acme', bulkId, messages, ...extra });
  const handle = suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId));
  const counts = await handle.result();
  return { handle, counts, calls: await sendBatchCalls(suite.stack.client, handle) };
}

const weekdays: DeliveryWindow = {
  days: ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY'],
  from: { hour: 6, minute: 0 },
  to: { hour: 15, minute: 30 },
};

test('a window closed on Sunday holds the bulk until Monday 06:00 UTC', async () => {
  const now = await workflowNow();
  const sunday = nextUtc(now, 7, 10);
  const monday = nextUtc(sunday, 1, 6);
  const { counts, calls } = await runBulk('sunday', [msg({ sendAt: sunday, window: weekdays })]);
  expect(counts.sent).toBe(1);
  expect(calls).toHaveLength(1);
  expect(calls[0]!.at).toBeGreaterThanOrEqual(monday);
  expect(calls[0]!.at).toBeLessThan(monday + MINUTE);
});

test('a window closing mid-bulk stops sending and resumes at the next opening', async () => {
  const now = await workflowNow();
  const mondayOpen = nextUtc(now, 1, 6);
  // 2 messages a minute through a 2-minute window: 4 go on Monday, the last 2 on Tuesday at 06:00.
  const window: DeliveryWindow = { days: weekdays.days, from: { hour: 6, minute: 0 }, to: { hour: 6, minute: 2 } };
  const { counts, calls } = await runBulk('mid-bulk', [msg({ destinations: numbers(6), sendAt: mondayOpen, window })], {
    speedLimit: { amount: 2, timeUnit: 'MINUTE' },
  });
  expect(counts).toMatchObject({ total: 6, sent: 6 });
  const monday = calls.filter((c) => c.at < mondayOpen + 2 * MINUTE);
  const tuesday = calls.filter((c) => c.at >= mondayOpen + DAY);
  expect(monday.reduce((n, c) => n + c.result.submitted, 0)).toBe(4);
  expect(tuesday.reduce((n, c) => n + c.result.submitted, 0)).toBe(2);
  expect(tuesday[0]!.at).toBeLessThan(mondayOpen + DAY + MINUTE);
  expect(calls.every((c) => c.at < mondayOpen + 2 * MINUTE || c.at >= mondayOpen + DAY)).toBe(true);
});

test('validity ending while the window is closed expires the messages and sends nothing', async () => {
  const now = await workflowNow();
  const sunday = nextUtc(now, 7, 10);
  const { counts, calls } = await runBulk('expire-waiting', [
    msg({ destinations: numbers(3), sendAt: sunday, window: weekdays, validityPeriodMinutes: 60 }),
  ]);
  expect(counts).toMatchObject({ total: 3, sent: 0, expired: 3 });
  expect(calls).toHaveLength(0);
  const rows = await suite.stack.repo.listBulkMessages('acme', 'expire-waiting');
  expect(rows.map((r) => r.status_name)).toEqual(['EXPIRED_EXPIRED', 'EXPIRED_EXPIRED', 'EXPIRED_EXPIRED']);
  expect(rows.every((r) => r.state === 'FINAL' && r.submitted_at === null)).toBe(true);
  expect((await suite.stack.repo.getBulk('acme', 'expire-waiting'))?.status).toBe('EXPIRED');
});

test('validityPeriod 5000 is lowered to 2880 minutes (48 h)', async () => {
  const now = await workflowNow();
  await suite.stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'validity-cap',
    messages: [msg({ sendAt: now + HOUR, validityPeriodMinutes: 5000 })],
  });
  const [row] = await suite.stack.repo.listBulkMessages('acme', 'validity-cap');
  expect(row!.validity_ends_at - row!.send_at).toBe(2880 * MINUTE);
  await suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', 'validity-cap')).result();
});

test('two messages of one bulk keep their own sendAt', async () => {
  const now = await workflowNow();
  const { counts, calls } = await runBulk('two-times', [
    msg({ destinations: numbers(2, 41793026800), sendAt: now + 3 * HOUR }),
    msg({ destinations: numbers(1, 41793026900), sendAt: now + HOUR }),
  ]);
  expect(counts).toMatchObject({ total: 3, sent: 3 });
  expect(calls).toHaveLength(2);
  const [first, second] = calls;
  expect(first!.result.submitted).toBe(1);
  expect(first!.at).toBeGreaterThanOrEqual(now + HOUR);
  expect(first!.at).toBeLessThan(now + 2 * HOUR);
  expect(second!.result.submitted).toBe(2);
  expect(second!.at).toBeGreaterThanOrEqual(now + 3 * HOUR);
});

test('sendingSpeedLimit is never exceeded in any sliding window', async () => {
  await workflowNow();
  const { counts, calls } = await runBulk('speed', [msg({ destinations: numbers(25, 41793027000) })], {
    speedLimit: { amount: 10, timeUnit: 'HOUR' },
  });
  expect(counts).toMatchObject({ total: 25, sent: 25 });
  for (const c of calls) {
    const inWindow = calls.filter((o) => o.at > c.at - HOUR && o.at <= c.at);
    expect(inWindow.reduce((n, o) => n + o.result.submitted, 0)).toBeLessThanOrEqual(10);
  }
  // Paced, not starved: 25 messages at 10 an hour take a little over two hours.
  expect(calls[calls.length - 1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(2 * HOUR);
  expect(calls[calls.length - 1]!.at - calls[0]!.at).toBeLessThan(3 * HOUR);
});

test('a sendAt in the past sends now', async () => {
  const now = await workflowNow();
  const { counts, calls } = await runBulk('past', [msg({ sendAt: now - DAY })]);
  expect(counts.sent).toBe(1);
  expect(calls[0]!.at - now).toBeLessThan(MINUTE);
});
