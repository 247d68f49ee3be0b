import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bulkWorkflowId } from '../../core/bulk-service';
import { bulkStatusQuery } from '../../workflows/definitions';
import { startReceiver } from '../helpers/receiver';
import { createTestStack, eventually, type TestStack } from '../helpers/stack';
import { createTimeSkippingEnv } from '../helpers/temporal';

/**
 * Real time here: nothing awaits a workflow result, so the test server does not skip time. Without a nudge,
 * the bulk's report polls after dispatch come at 0, 2, 6 and 14 s, so a report delivered at 7 s would wait
 * until 14 s for its push.
 */
const DELIVERY_DELAY_MS = 7000;

let env: TestWorkflowEnvironment;
let stack: TestStack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  stack = await createTestStack(env, { simulator: { deliveryDelayMs: DELIVERY_DELAY_MS } });
  receiver = await startReceiver();
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await stack?.close();
  await env?.teardown();
});

test('a delivery report is pushed within seconds of arriving, not at the next backed-off poll', async () => {
  stack.clock.now = await env.currentTimeMs();
  await stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'nudged',
    messages: [
      { text: 'Hi', flash: false, intermediateReport: false, notifyUrl: receiver.url, destinations: [{ to: '41793090000', messageId: 'nudged-1' }] },
    ],
  });
  const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', 'nudged'));
  await eventually(async () => (await handle.query(bulkStatusQuery)).counts.sent === 1);
  const pushedAt = await eventually(async () => receiver.requests.some((r) => r.body.includes('nudged-1')) && Date.now(), 30_000);
  const message = await stack.repo.getMessage('acme', 'nudged-1');
  expect(message?.status_name).toBe('DELIVERED_TO_HANDSET');
  // done_at is the simulator's (real) time of the report.
  expect(pushedAt - message!.done_at!).toBeLessThan(3000);
  await handle.result();
});
