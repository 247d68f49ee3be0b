import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bulkWorkflowId } from '../../core/bulk-service';
import type { SmsSimulator } from '../../providers/simulator';
import type { OutboundSms, SmsProvider, SubmitResult } from '../../providers/types';
import { runChain, sendBatchCalls } from '../helpers/history';
import { createTestStack, type TestStack } from '../helpers/stack';
import { createTimeSkippingEnv } from '../helpers/temporal';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

const numbers = (n: number) => Array.from({ length: n }, (_, i) => ({ to: String(41793030000 + i), messageId: `r-${i}` }));

/**
 * The provider takes the messages but the worker dies before it can record the outcome: the activity fails
 * after the provider accepted its second chunk, as a crash between submit and database write would.
 */
class CrashAfterSubmit implements SmsProvider {
  readonly name = 'crash-after-submit';
  private calls = 0;
  constructor(
    private readonly inner: SmsSimulator,
    private readonly crashOnCall: number,
  ) {}
  async submit(messages: OutboundSms[]): Promise<SubmitResult[]> {
    const results = await this.inner.submit(messages);
    if (++this.calls === this.crashOnCall) throw new Error('worker lost before recording the submit outcome');
    return results;
  }
  lookup(references: string[]) {
    return this.inner.lookup(references);
  }
  onDeliveryReports() {}
  async close() {}
}

describe('a batch retried after a crash', () => {
  let stack: TestStack;
  beforeAll(async () => {
    // Reports come late here, so the retry must learn from the provider's lookup what it already holds.
    stack = await createTestStack(env, {
      provider: (sim) => new CrashAfterSubmit(sim, 2),
      simulator: { deliveryDelayMs: 600_000 },
      // Reports never come in time here: after validity the bulk closes with EXPIRED_DLR_UNKNOWN.
      tuning: { reportWaitMs: 1000 },
    });
  });
  afterAll(() => stack.close());

  test('submits no messageId twice and loses none', async () => {
    stack.clock.now = await env.currentTimeMs();
    await stack.bulks.createBulk({
      accountId: 'acme',
      bulkId: 'crash',
      messages: [
        { text: 'Crash test', flash: false, intermediateReport: false, validityPeriodMinutes: 5, destinations: numbers(250) },
      ],
    });
    const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', 'crash'));
    const counts = await handle.result();

    expect(counts).toMatchObject({ total: 250, sent: 250, rejected: 0 });
    expect(stack.simulator.acceptedCount).toBe(250);
    expect(stack.simulator.duplicateSubmits).toBe(0);
    expect([...stack.simulator.submitAttempts.values()].every((n) => n === 1)).toBe(true);
    expect(stack.simulator.submitAttempts.size).toBe(250);

    // The retry found the second chunk at the provider instead of sending it again.
    const calls = await sendBatchCalls(stack.client, handle);
    expect(calls.reduce((n, c) => n + c.result.recovered, 0)).toBe(100);
    const rows = await stack.repo.listBulkMessages('acme', 'crash');
    expect(rows.filter((r) => r.state === 'QUEUED' || r.state === 'SUBMITTING')).toHaveLength(0);
  });
});

describe('a large bulk', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack(env, { tuning: { batchSize: 5, concurrency: 2, continueAsNewAfterEvents: 40 } });
  });
  afterAll(() => stack.close());

  test('continues as new before its history grows, and still sends each message once', async () => {
    stack.clock.now = await env.currentTimeMs();
    await stack.bulks.createBulk({
      accountId: 'acme',
      bulkId: 'can',
      messages: [{ text: 'Long bulk', flash: false, intermediateReport: false, destinations: numbers(200) }],
    });
    const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', 'can'));
    const counts = await handle.result();
    expect(counts).toMatchObject({ total: 200, sent: 200 });

    const runs = await runChain(stack.client, handle);
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (const runId of runs) {
      const history = await stack.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
      // Continue-as-new waits for the batches in flight, so a run may overshoot by a few batches' events.
      expect(history.events!.length).toBeLessThanOrEqual(40 + 30);
    }
    const calls = await sendBatchCalls(stack.client, handle, runs);
    expect(calls.reduce((n, c) => n + c.result.submitted, 0)).toBe(200);
    // A run's first batches are staggered (half a batch, then whole ones), so the two in flight never end together.
    const firstRun = (await sendBatchCalls(stack.client, handle, [runs[0]!]))
      .map((c) => [c.input.fromSeq, c.input.toSeq])
      .sort((a, b) => a[0]! - b[0]!);
    expect(firstRun.slice(0, 3)).toEqual([
      [0, 2],
      [2, 7],
      [7, 12],
    ]);
    expect(stack.simulator.duplicateSubmits).toBe(0);
    expect(stack.simulator.acceptedCount).toBe(200);
  });
});
