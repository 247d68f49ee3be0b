import { bulkWorkflowId } from '../../core/bulk-service';
import { timeSkippingSuite } from '../helpers/stack';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const suite = timeSkippingSuite();

async function useWorkflowClock(): Promise<number> {
  suite.stack.clock.now = await suite.env.currentTimeMs();
  return suite.stack.clock.now;
}

function handleOf(bulkId: string) {
  return suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId));
}

test('a bulk scheduled two days ahead sleeps durably and sends on time, in seconds of wall time', async () => {
  const start = await useWorkflowClock();
  const sendAt = start + 2 * DAY;
  const wallStart = Date.now();
  await suite.stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'two-days',
    messages: [
      { text: 'See you in two days', flash: false, intermediateReport: false, sendAt, destinations: [{ to: '41793026727', messageId: 'm-2d' }] },
    ],
  });

  const handle = handleOf('two-days');
  // Its first workflow task is held back for now (firstTaskDelayMs): the API answers from the database.
  expect((await suite.stack.control.view('acme', 'two-days')).status).toBe('PENDING');
  expect(suite.stack.simulator.acceptedCount).toBe(0);

  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 1, sent: 1, expired: 0 });
  const finishedAt = (await handle.describe()).closeTime!.getTime();
  expect(finishedAt).toBeGreaterThanOrEqual(sendAt);
  expect(finishedAt - start).toBeLessThan(2 * DAY + HOUR);
  expect(Date.now() - wallStart).toBeLessThan(30_000);

  const message = await suite.stack.repo.getMessage('acme', 'm-2d');
  expect(message?.state).not.toBe('QUEUED');
  expect(message?.submitted_at).not.toBeNull();
  expect(suite.stack.simulator.hasAccepted('acme:m-2d')).toBe(true);
  expect((await suite.stack.repo.getBulk('acme', 'two-days'))?.status).toBe('FINISHED');
});
