import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import { bulkWorkflowId } from '../../core/bulk-service';
import type { DeliveryWindow } from '../../domain/delivery-window';
import type { SmsSimulator } from '../../providers/simulator';
import type { OutboundSms, SmsProvider } from '../../providers/types';
import { sendBatchCalls } from '../helpers/history';
import { createTestStack, type TestStack } from '../helpers/stack';
import { createTimeSkippingEnv } from '../helpers/temporal';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** The simulator behind a slow link (SUBMIT_DELAY_MS a call), counting the references it is asked about. */
class CountingProvider implements SmsProvider {
  readonly name = 'counting';
  lookedUp = 0;
  constructor(private readonly inner: SmsSimulator) {}
  submit(messages: OutboundSms[]) {
    return this.inner.submit(messages);
  }
  lookup(references: string[]) {
    this.lookedUp += references.length;
    return this.inner.lookup(references);
  }
  onDeliveryReports() {}
  async close() {}
}

/** 100 messages per call, 4 calls in flight: about 1,300 messages a second. */
const SUBMIT_DELAY_MS = 300;
const numbers = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ to: String(41793040000 + i), messageId: `${prefix}-${i}` }));

let env: TestWorkflowEnvironment;
let stack: TestStack;
let provider: CountingProvider;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  stack = await createTestStack(env, {
    simulator: { submitDelayMs: SUBMIT_DELAY_MS },
    provider: (sim) => (provider = new CountingProvider(sim)),
    tuning: { batchSize: 3000, batchTimeBudgetMs: 700 },
  });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await env?.teardown();
});

function expectEachSentOnce(total: number) {
  expect(stack.simulator.duplicateSubmits).toBe(0);
  expect([...stack.simulator.submitAttempts.values()].every((n) => n === 1)).toBe(true);
  expect(provider.lookedUp).toBe(0);
  return expect(stack.simulator.acceptedCount).toBe(total);
}

/**
 * Two batches in flight send ~2,700 a second, and every batch that starts sends its lanes' first chunks (up to 400)
 * however little time it has left: in the second before the close at most ~3,200 can go, so 6,000 leave a rest.
 */
const WINDOW_TEST_SIZE = 6000;

test('a batch still sending when the window closes stops there; the rest goes at the next opening', async () => {
  const now = (stack.clock.now = await env.currentTimeMs());
  let close = DateTime.fromMillis(now, { zone: 'utc' }).plus({ days: 1 }).set({ hour: 6, minute: 1, second: 0, millisecond: 0 });
  while (close.weekday > 5) close = close.plus({ days: 1 });
  // Open 06:00–06:01 on weekdays; the bulk becomes due one second before the close.
  const window: DeliveryWindow = { days: ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY'], from: { hour: 6, minute: 0 }, to: { hour: 6, minute: 1 } };
  await stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'window-close',
    messages: [
      { text: 'Window test', flash: false, intermediateReport: false, sendAt: close.toMillis() - 1000, window, destinations: numbers('w', WINDOW_TEST_SIZE) },
    ],
  });
  const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', 'window-close'));
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: WINDOW_TEST_SIZE, sent: WINDOW_TEST_SIZE, expired: 0 });

  const calls = await sendBatchCalls(stack.client, handle);
  // Sorted by when the workflow meant each batch to start: the scheduled event's own stamp can fall a little after
  // the close on a loaded machine although the batch was decided (and given its stop) before it.
  const before = calls.filter((c) => c.decidedAt + (c.input.startAfterMs ?? 0) < close.toMillis());
  const nextOpening = close.minus({ minutes: 1 }).plus({ days: close.weekday === 5 ? 3 : 1 }).toMillis();
  const after = calls.filter((c) => c.at >= nextOpening);
  expect(before.length + after.length).toBe(calls.length);
  // The first batch was given the second left until the close (after its armed wait, if it was armed), and
  // stopped with most of its range unsent.
  expect(before[0]!.input.stopAfterMs! - (before[0]!.input.startAfterMs ?? 0)).toBeLessThanOrEqual(1000);
  expect(before.some((c) => c.result.complete === false)).toBe(true);
  const sentBefore = before.reduce((n, c) => n + c.result.submitted, 0);
  expect(sentBefore).toBeGreaterThan(0);
  expect(sentBefore).toBeLessThan(WINDOW_TEST_SIZE - 1500);
  expect(after.reduce((n, c) => n + c.result.submitted, 0)).toBe(WINDOW_TEST_SIZE - sentBefore);
  expect(after[0]!.at).toBeLessThan(nextOpening + MINUTE);
  // What the stopped batch did not reach went back to QUEUED: nothing was in doubt, nothing was looked up.
  expect(calls.every((c) => c.result.recovered === 0)).toBe(true);
  expectEachSentOnce(WINDOW_TEST_SIZE);
});

test('a batch that spends its time budget hands the rest back and the bulk carries on at once', async () => {
  stack.clock.now = await env.currentTimeMs();
  provider.lookedUp = 0;
  const accepted = stack.simulator.acceptedCount;
  await stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'budget',
    messages: [{ text: 'Budget test', flash: false, intermediateReport: false, destinations: numbers('b', 2000) }],
  });
  const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', 'budget'));
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 2000, sent: 2000 });
  const calls = await sendBatchCalls(stack.client, handle);
  // 2,000 messages at ~1,300 a second cannot fit in two 0.7-second batches: some stopped and were resumed.
  expect(calls.filter((c) => c.result.complete === false).length).toBeGreaterThan(0);
  expect(calls.every((c) => c.input.stopAfterMs === 700)).toBe(true);
  expect(calls.reduce((n, c) => n + c.result.submitted, 0)).toBe(2000);
  expect(calls[calls.length - 1]!.at - calls[0]!.at).toBeLessThan(DAY);
  expect(stack.simulator.acceptedCount - accepted).toBe(2000);
  expectEachSentOnce(accepted + 2000);
});

test('a batch still sending when validity ends stops there; what it did not reach expires unsent', async () => {
  const serverNow = await env.currentTimeMs();
  provider.lookedUp = 0;
  const accepted = stack.simulator.acceptedCount;
  // Accepted 58 s ago by the service's clock with a 1-minute validity: it ends 2 s after the workflow starts.
  stack.clock.now = serverNow - 58_000;
  await stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'validity-end',
    messages: [
      { text: 'Validity test', flash: false, intermediateReport: false, validityPeriodMinutes: 1, destinations: numbers('v', 8000) },
    ],
  });
  const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', 'validity-end'));
  const counts = await handle.result();
  const calls = await sendBatchCalls(stack.client, handle);
  // Batches get 0.7 s each here; the last ones were cut shorter by the end of validity.
  expect(calls.some((c) => c.input.stopAfterMs! < 700)).toBe(true);
  // Every batch was decided before validity ended and told to stop by its end. (The scheduled event's own stamp is
  // the end of that workflow task, which a loaded machine can push past the end: it says nothing about the bulk.)
  const validityEnd = serverNow + 2000;
  expect(calls.every((c) => c.decidedAt < validityEnd && c.decidedAt + c.input.stopAfterMs! <= validityEnd)).toBe(true);
  expect(counts.sent).toBeGreaterThan(0);
  expect(counts.expired).toBeGreaterThan(0);
  // Two batches in flight send at most ~2,700 messages a second: 8,000 cannot all go in 2 s.
  expect(counts.sent + counts.expired).toBe(8000);
  expect(stack.simulator.acceptedCount - accepted).toBe(counts.sent);
  const rows = await stack.repo.listBulkMessages('acme', 'validity-end');
  const expired = rows.filter((r) => r.status_name === 'EXPIRED_EXPIRED');
  expect(expired).toHaveLength(counts.expired);
  expect(expired.every((r) => r.provider_message_id === null && !stack.simulator.hasAccepted(`acme:${r.message_id}`))).toBe(true);
  expectEachSentOnce(accepted + counts.sent);
});
