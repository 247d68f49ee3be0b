/**
 * Armed dispatch on a real dev server (real time): a bulk's first batch starts ahead of its due time and waits in
 * the worker. It must go at the due time and not before, and whatever stops the bulk first — a pause, a cancel,
 * a reschedule, a lost worker — must leave nothing sent early and nothing sent twice.
 */
import { type WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import { createActivities } from '../../activities';
import { bulkWorkflowId } from '../../core/bulk-service';
import type { SmsSimulator } from '../../providers/simulator';
import type { OutboundSms, SmsProvider, SubmitOptions } from '../../providers/types';
import { bulkStatusQuery, FIRST_TASK_MARGIN_MS, pauseSignal, rescheduleUpdate, setStatusUpdate } from '../../workflows/definitions';
import { createBulkWorker } from '../../worker/worker';
import { sendBatchCalls } from '../helpers/history';
import { createTestStack, eventually, silentLogger, type TestStack } from '../helpers/stack';
import { type DevServerConnections, startConnectedDevServer, workflowBundle } from '../helpers/temporal';

/** Armed 3 s ahead; bulks are due 5 s after they are posted. */
const LEAD_MS = 3000;
const DUE_IN_MS = 5000;

/** The simulator, with the wall-clock time at which each reference was first accepted. */
function recording(sim: SmsSimulator, acceptedAt: Map<string, number>, submitDelayMs = 0): SmsProvider {
  return {
    name: sim.name,
    async submit(messages: OutboundSms[], options?: SubmitOptions) {
      const at = Date.now();
      if (submitDelayMs > 0) await new Promise((r) => setTimeout(r, submitDelayMs));
      const results = await sim.submit(messages, options);
      for (const r of results) if (r.accepted && !acceptedAt.has(r.reference)) acceptedAt.set(r.reference, at);
      return results;
    },
    lookup: (refs) => sim.lookup(refs),
    onDeliveryReports: (listener) => sim.onDeliveryReports(listener),
    close: async () => undefined,
  };
}

let temporal: DevServerConnections;
let stack: TestStack;
const acceptedAt = new Map<string, number>();
let submitDelayMs = 0;

beforeAll(async () => {
  temporal = await startConnectedDevServer();
  stack = await createTestStack(temporal, {
    tuning: { armLeadMs: [LEAD_MS, LEAD_MS] },
    simulator: { deliveryDelayMs: 200 },
    provider: (sim) => {
      const inner = recording(sim, acceptedAt);
      // Tests may slow the link down, to catch a batch while it sends.
      return { ...inner, submit: async (m, o) => (submitDelayMs > 0 && (await new Promise((r) => setTimeout(r, submitDelayMs))), inner.submit(m, o)) };
    },
  });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await temporal?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(bulkId: string, n = 1, dueInMs = DUE_IN_MS): Promise<{ sendAt: number; handle: WorkflowHandle }> {
  stack.clock.now = Date.now();
  const sendAt = Date.now() + dueInMs;
  await stack.bulks.createBulk({
    accountId: 'acme',
    bulkId,
    messages: [
      {
        text: 'Armed',
        flash: false,
        intermediateReport: false,
        sendAt,
        destinations: Array.from({ length: n }, (_, i) => ({ to: String(41793050000 + i), messageId: `${bulkId}-${i}` })),
      },
    ],
  });
  return { sendAt, handle: stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId)) };
}

/** Resolves once the bulk's first batch is armed: started, and waiting in the worker. */
async function armed(handle: WorkflowHandle): Promise<void> {
  await eventually(async () => ((await handle.query(bulkStatusQuery)).waitingFor ?? '').includes('armed'), 10_000);
}

const acceptedOf = (bulkId: string) => [...acceptedAt].filter(([ref]) => ref.startsWith(`acme:${bulkId}-`));

test('an armed batch is scheduled ahead and sends at the due time, not before', async () => {
  const { sendAt, handle } = await post('on-time', 3);
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 3, sent: 3 });
  const calls = await sendBatchCalls(stack.client, handle);
  expect(calls).toHaveLength(1);
  expect(calls[0]!.input.startAfterMs).toBeGreaterThan(LEAD_MS - 1000);
  const times = acceptedOf('on-time').map(([, at]) => at);
  expect(times).toHaveLength(3);
  for (const at of times) {
    expect(at).toBeGreaterThanOrEqual(sendAt);
    expect(at - sendAt).toBeLessThan(1000);
  }
  expect(stack.simulator.stats('acme:on-time-')).toMatchObject({ accepted: 3, duplicates: 0 });
}, 30_000);

test('paused while armed: nothing goes at the due time; resumed, each message goes once', async () => {
  const { sendAt, handle } = await post('paused');
  await armed(handle);
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PAUSED', by: 'test' }] });
  await sleep(sendAt + 1500 - Date.now());
  expect(acceptedOf('paused')).toHaveLength(0);
  expect((await handle.query(bulkStatusQuery)).status).toBe('PAUSED');

  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PENDING', by: 'test' }] });
  expect(await handle.result()).toMatchObject({ total: 1, sent: 1 });
  expect(acceptedOf('paused')[0]![1]).toBeGreaterThan(sendAt + 1000);
  expect(stack.simulator.stats('acme:paused-')).toMatchObject({ accepted: 1, duplicates: 0 });
}, 30_000);

test('canceled while armed: nothing is sent, every message ends REJECTED_CANCELED', async () => {
  const { sendAt, handle } = await post('canceled', 2);
  await armed(handle);
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'CANCELED', by: 'test' }] });
  expect(await handle.result()).toMatchObject({ total: 2, sent: 0, canceled: 2 });
  await sleep(sendAt + 1500 - Date.now());
  expect(acceptedOf('canceled')).toHaveLength(0);
  expect(stack.simulator.stats('acme:canceled-')).toMatchObject({ accepted: 0 });
  const rows = await stack.repo.listBulkMessages('acme', 'canceled');
  expect(rows.map((r) => r.status_name)).toEqual(['REJECTED_CANCELED', 'REJECTED_CANCELED']);
}, 30_000);

test('rescheduled while armed: nothing at the old time, once at the new one', async () => {
  const { sendAt, handle } = await post('moved');
  await armed(handle);
  const newAt = sendAt + 4000;
  await handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: new Date(newAt).toISOString(), by: 'test' }] });
  await sleep(sendAt + 1500 - Date.now());
  expect(acceptedOf('moved')).toHaveLength(0);
  expect(await handle.result()).toMatchObject({ total: 1, sent: 1 });
  const [[, at]] = acceptedOf('moved') as [[string, number]];
  expect(at).toBeGreaterThanOrEqual(newAt);
  expect(at - newAt).toBeLessThan(1000);
  expect(stack.simulator.stats('acme:moved-')).toMatchObject({ accepted: 1, duplicates: 0 });
}, 30_000);

test('a reschedule that comes after the armed batch fired is refused, and the bulk sends once', async () => {
  submitDelayMs = 3000;
  try {
    const { sendAt, handle } = await post('fired');
    await armed(handle);
    await sleep(sendAt + 500 - Date.now());
    // The batch is inside its (slow) submit now: too late to move the send time.
    const err = await handle
      .executeUpdate(rescheduleUpdate, { args: [{ sendAt: new Date(sendAt + 60_000).toISOString(), by: 'test' }] })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((err as WorkflowUpdateFailedError).cause?.message)).toContain('started sending');
    expect(await handle.result()).toMatchObject({ total: 1, sent: 1 });
    expect(stack.simulator.stats('acme:fired-')).toMatchObject({ accepted: 1, duplicates: 0 });
  } finally {
    submitDelayMs = 0;
  }
}, 30_000);

test('the worker stops while a batch is armed: another worker sends it once, at its time', async () => {
  const lost = await createTestStack(temporal, { tuning: { armLeadMs: [LEAD_MS, LEAD_MS] }, simulator: { deliveryDelayMs: 200 } });
  let replacement: Awaited<ReturnType<typeof createBulkWorker>> | undefined;
  let replacementRun: Promise<void> | undefined;
  try {
    lost.clock.now = Date.now();
    const sendAt = Date.now() + DUE_IN_MS;
    await lost.bulks.createBulk({
      accountId: 'acme',
      bulkId: 'orphan',
      messages: [{ text: 'Armed', flash: false, intermediateReport: false, sendAt, destinations: [{ to: '41793059999', messageId: 'orphan-0' }] }],
    });
    const handle = lost.client.workflow.getHandle(bulkWorkflowId('acme', 'orphan'));
    await armed(handle);
    // The armed batch's worker goes away (its activity is cancelled with it) before the due time.
    lost.worker.shutdown();
    await eventually(async () => lost.worker.getState() === 'STOPPED', 30_000);
    expect(lost.simulator.stats('acme:orphan-')).toMatchObject({ accepted: 0 });

    replacement = await createBulkWorker({
      connection: temporal.nativeConnection,
      namespace: 'default',
      taskQueue: lost.taskQueue,
      activities: createActivities({ repo: lost.repo, provider: lost.simulator, logger: silentLogger }),
      workflowBundle: await workflowBundle(),
    });
    replacementRun = replacement.run();
    expect(await handle.result()).toMatchObject({ total: 1, sent: 1 });
    expect(lost.simulator.stats('acme:orphan-')).toMatchObject({ accepted: 1, duplicates: 0 });
    const [row] = await lost.repo.listBulkMessages('acme', 'orphan');
    expect(row!.submitted_at).toBeGreaterThanOrEqual(sendAt);
  } finally {
    if (replacement?.getState() === 'RUNNING') replacement.shutdown();
    await replacementRun;
    await lost.close();
  }
}, 60_000);

/** Due this far ahead, a bulk's first workflow task is delayed by DELAYED_DUE_IN_MS − LEAD_MS − margin (4 s). */
const DELAYED_DUE_IN_MS = LEAD_MS + FIRST_TASK_MARGIN_MS + 4000;

/** The start delay the server recorded for the bulk's first workflow task, in ms (0: none). */
async function firstTaskBackoffMs(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  const backoff = history.events?.[0]?.workflowExecutionStartedEventAttributes?.firstWorkflowTaskBackoff;
  return Number(backoff?.seconds ?? 0) * 1000 + Math.round((backoff?.nanos ?? 0) / 1e6);
}

describe('a bulk accepted well ahead of its time runs its first workflow task later', () => {
  test('before that task the API answers from the database; the bulk sends at its time, once', async () => {
    const { sendAt, handle } = await post('delayed', 2, DELAYED_DUE_IN_MS);
    const backoff = await firstTaskBackoffMs(handle);
    expect(backoff).toBeGreaterThan(3000);
    expect(backoff).toBeLessThanOrEqual(4000);
    // No code of the workflow has run (a query would wait for the delay): the API answers from the database, at once.
    const asked = Date.now();
    await expect(stack.control.view('acme', 'delayed')).resolves.toMatchObject({ status: 'PENDING', sendAt });
    expect(Date.now() - asked).toBeLessThan(1000);
    expect((await handle.describe()).raw.pendingWorkflowTask).toBeFalsy();
    expect(await handle.result()).toMatchObject({ total: 2, sent: 2 });
    const times = acceptedOf('delayed').map(([, at]) => at);
    expect(times).toHaveLength(2);
    for (const at of times) expect(at - sendAt).toBeGreaterThanOrEqual(0);
    for (const at of times) expect(at - sendAt).toBeLessThan(1000);
    expect(stack.simulator.stats('acme:delayed-')).toMatchObject({ accepted: 2, duplicates: 0 });
  }, 60_000);

  test('a pause through the API during the delay applies at once; nothing goes at the due time', async () => {
    const { sendAt, handle } = await post('delayed-paused', 1, DELAYED_DUE_IN_MS);
    expect(await firstTaskBackoffMs(handle)).toBeGreaterThan(3000);
    const started = Date.now();
    await expect(stack.control.setStatus('acme', 'delayed-paused', 'PAUSED')).resolves.toMatchObject({ status: 'PAUSED' });
    // The Update ended the delay: it did not wait for it.
    expect(Date.now() - started).toBeLessThan(2000);
    await sleep(sendAt + 1500 - Date.now());
    expect(acceptedOf('delayed-paused')).toHaveLength(0);
    await stack.control.setStatus('acme', 'delayed-paused', 'CANCELED');
    expect(await handle.result()).toMatchObject({ total: 1, sent: 0, canceled: 1 });
    expect(stack.simulator.stats('acme:delayed-paused-')).toMatchObject({ accepted: 0 });
  }, 60_000);

  test("an operator's pause signal during the delay is applied when the delay ends, before anything is sent", async () => {
    const { sendAt, handle } = await post('delayed-signal', 1, DELAYED_DUE_IN_MS);
    expect(await firstTaskBackoffMs(handle)).toBeGreaterThan(3000);
    await handle.signal(pauseSignal, { by: 'operator' });
    await sleep(sendAt + 1500 - Date.now());
    expect(acceptedOf('delayed-signal')).toHaveLength(0);
    const snapshot = await handle.query(bulkStatusQuery);
    expect(snapshot.status).toBe('PAUSED');
    expect(snapshot.controlLog).toEqual([expect.objectContaining({ by: 'operator', via: 'signal', to: 'PAUSED' })]);
    await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'CANCELED', by: 'test' }] });
    expect(await handle.result()).toMatchObject({ total: 1, sent: 0, canceled: 1 });
  }, 60_000);

  test('a cancellation request during the delay ends it: the bulk is canceled at once, nothing sent', async () => {
    const { sendAt, handle } = await post('delayed-cancel', 1, DELAYED_DUE_IN_MS);
    expect(await firstTaskBackoffMs(handle)).toBeGreaterThan(3000);
    const started = Date.now();
    await handle.cancel();
    expect(await handle.result()).toMatchObject({ total: 1, sent: 0, canceled: 1 });
    expect(Date.now() - started).toBeLessThan(3000);
    await sleep(sendAt + 1000 - Date.now());
    expect(stack.simulator.stats('acme:delayed-cancel-')).toMatchObject({ accepted: 0 });
  }, 60_000);
});
