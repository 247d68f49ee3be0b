import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import { bulkWorkflowId, type CreateBulkCommand } from '../../core/bulk-service';
import { WEEKDAYS } from '../../domain/delivery-window';
import { bulkStatusQuery, setStatusUpdate } from '../../workflows/definitions';
import { startReceiver } from '../helpers/receiver';
import { createTestStack, eventually, type TestStack } from '../helpers/stack';
import { createTimeSkippingEnv } from '../helpers/temporal';

const HOUR = 3_600_000;

let env: TestWorkflowEnvironment;
let stack: TestStack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  stack = await createTestStack(env);
  receiver = await startReceiver();
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await stack?.close();
  await env?.teardown();
});

let counter = 0;
type Msg = CreateBulkCommand['messages'][number];
const msg = (extra: Partial<Msg>): Msg => ({
  text: 'Hi',
  flash: false,
  intermediateReport: false,
  destinations: [{ to: String(41793070000 + ++counter), messageId: `rep-${counter}` }],
  notifyUrl: receiver.url,
  ...extra,
});

async function run(bulkId: string, messages: Msg[], afterStart?: (h: ReturnType<typeof handleOf>) => Promise<void>) {
  stack.clock.now = await env.currentTimeMs();
  await stack.bulks.createBulk({ accountId: 'acme', bulkId, messages });
  const handle = handleOf(bulkId);
  await afterStart?.(handle);
  return { handle, counts: await handle.result() };
}
const handleOf = (bulkId: string) => stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId));

// First in this file: it runs in real time, before any test lets the server skip ahead (a clock years ahead of the
// simulator's report times would make every push look past its retry period).
test('a bulk whose every message is final is FINISHED while its pushes are still retried', async () => {
  receiver.setAnswer(() => 500);
  try {
    stack.clock.now = await env.currentTimeMs();
    await stack.bulks.createBulk({ accountId: 'acme', bulkId: 'finished-owing', messages: [msg({})] });
    const handle = handleOf('finished-owing');
    // Real time: nothing awaits the result, so the test server does not skip ahead to the end of the retries.
    const snapshot = await eventually(async () => {
      const s = await handle.query(bulkStatusQuery);
      return s.status === 'FINISHED' && s;
    });
    expect(snapshot.pushesOwed).toBe(1);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect((await stack.repo.getBulk('acme', 'finished-owing'))?.status).toBe('FINISHED');
    expect((await stack.control.view('acme', 'finished-owing')).status).toBe('FINISHED');
  } finally {
    receiver.setAnswer(() => 200);
  }
  // With the receiver back, the push goes out at its next retry and the workflow closes (watched on the real
  // clock: awaiting the result would let the test server skip time, far ahead of the simulator's clock).
  await eventually(async () => (await handleOf('finished-owing').describe()).status.name === 'COMPLETED');
  expect(receiver.requests.some((r) => r.status === 200 && r.body.includes(`rep-${counter}`))).toBe(true);
});

test('a receiver that never answers 2xx is retried with backoff for the retry period, then abandoned', async () => {
  receiver.setAnswer(() => 500);
  // The retry period is configurable (REPORT_RETRY_HOURS, default 48); 6 hours keeps this test short.
  const sixHours = await createTestStack(env, { reportRetryMs: 6 * HOUR });
  try {
    const start = await env.currentTimeMs();
    sixHours.clock.now = start;
    await sixHours.bulks.createBulk({ accountId: 'acme', bulkId: 'push-forever-down', messages: [msg({})] });
    const handle = sixHours.client.workflow.getHandle(bulkWorkflowId('acme', 'push-forever-down'));
    await handle.result();
    const closed = (await handle.describe()).closeTime!.getTime();
    expect(closed - start).toBeGreaterThanOrEqual(6 * HOUR);
    expect(closed - start).toBeLessThan(7 * HOUR);
    const rows = await sixHours.db.selectFrom('reports').selectAll().where('bulk_id', '=', 'push-forever-down').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.gave_up_at).not.toBeNull();
    expect(rows[0]!.delivered_at).toBeNull();
    // 1 s, 2 s, 4 s … capped at 10 minutes: some 45 attempts in 6 h, each a real HTTP request.
    expect(rows[0]!.attempts).toBeGreaterThan(30);
    expect(receiver.requests.filter((r) => r.body.includes('push-forever-down')).length).toBe(rows[0]!.attempts + 1);
  } finally {
    receiver.setAnswer(() => 200);
    await sixHours.close();
  }
});

test('a delivery report is pushed within seconds of arriving, not at the next backed-off poll', async () => {
  // Real time here: nothing awaits a workflow result until the end, so the test server does not skip time.
  // Without a nudge, the report rounds after dispatch come at 0, 2, 6 and 14 s, so a report delivered at 7 s
  // would wait until 14 s for its push.
  const slow = await createTestStack(env, { simulator: { deliveryDelayMs: 7000 } });
  try {
    slow.clock.now = await env.currentTimeMs();
    await slow.bulks.createBulk({ accountId: 'acme', bulkId: 'nudged', messages: [msg({})] });
    const handle = slow.client.workflow.getHandle(bulkWorkflowId('acme', 'nudged'));
    await eventually(async () => (await handle.query(bulkStatusQuery)).counts.sent === 1);
    const messageId = `rep-${counter}`;
    const pushedAt = await eventually(async () => receiver.requests.some((r) => r.body.includes(messageId)) && Date.now(), 30_000);
    const message = await slow.repo.getMessage('acme', messageId);
    expect(message?.status_name).toBe('DELIVERED_TO_HANDSET');
    // done_at is the simulator's (real) time of the report.
    expect(pushedAt - message!.done_at!).toBeLessThan(3000);
    await handle.result();
  } finally {
    await slow.close();
  }
});

test('messages that expire unsent are reported EXPIRED_EXPIRED to the notifyUrl', async () => {
  receiver.requests.length = 0;
  const now = await env.currentTimeMs();
  // A window only on the weekday three days after the send time: validity (30 min) ends long before it opens.
  const closedDay = WEEKDAYS[(DateTime.fromMillis(now + HOUR, { zone: 'utc' }).weekday + 2) % 7]!;
  const { counts } = await run('push-expired', [msg({ sendAt: now + HOUR, validityPeriodMinutes: 30, window: { days: [closedDay] } })]);
  expect(counts).toMatchObject({ sent: 0, expired: 1 });
  const report = receiver.acceptedJsonReports().find((r) => r.bulkId === 'push-expired');
  expect(report).toMatchObject({
    status: { groupId: 4, groupName: 'EXPIRED', id: 15, name: 'EXPIRED_EXPIRED' },
    error: { id: 0, name: 'NO_ERROR' },
    sentAt: null,
  });
});

test('a canceled bulk reports REJECTED_CANCELED to the notifyUrl', async () => {
  receiver.requests.length = 0;
  const now = await env.currentTimeMs();
  await run('push-canceled', [msg({ sendAt: now + HOUR, callbackData: 'cb' })], async (h) => {
    await h.executeUpdate(setStatusUpdate, { args: [{ status: 'CANCELED' }] });
  });
  const report = receiver.acceptedJsonReports().find((r) => r.bulkId === 'push-canceled');
  expect(report).toMatchObject({
    callbackData: 'cb',
    status: { groupName: 'REJECTED', name: 'REJECTED_CANCELED' },
    sentAt: null,
  });
});
