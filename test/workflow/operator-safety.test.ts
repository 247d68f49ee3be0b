/**
 * What operators can do to a bulk from the Temporal UI or the `temporal` CLI: send any signal with any input
 * (or none), send updates with garbage, request cancellation. None of it may wedge a bulk or leave its stored
 * state untrue.
 */
import fs from 'node:fs';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bulkWorkflowId, type CreateBulkCommand } from '../../core/bulk-service';
import { BulkStatusKey } from '../../temporal/search-attributes';
import { bulkStatusQuery } from '../../workflows/definitions';
import { Worker } from '@temporalio/worker';
import { timeSkippingSuite } from '../helpers/stack';
import { workflowBundle } from '../helpers/temporal';

const HOUR = 3_600_000;
const suite = timeSkippingSuite();

let counter = 0;
const numbers = (n: number) => Array.from({ length: n }, () => ({ to: String(41793050000 + ++counter) }));
type Msg = CreateBulkCommand['messages'][number];
const msg = (extra: Partial<Msg> = {}): Msg => ({ text: 'Hi', flash: false, intermediateReport: false, destinations: numbers(3), ...extra });

async function scheduled(bulkId: string, messages: Msg[]): Promise<WorkflowHandle> {
  suite.stack.clock.now = await suite.env.currentTimeMs();
  await suite.stack.bulks.createBulk({ accountId: 'acme', bulkId, messages });
  return suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId));
}

async function failedWorkflowTasks(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return history.events!.filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED).length;
}

/** What a person can type into the UI's Data field, or leave out. */
const GARBAGE: unknown[] = [null, 'garbage', 42, true, [], ['PAUSED'], { by: 5 }, { extra: 1 }, { by: 'ok', extra: 1 }];
const BAD_RESCHEDULES: unknown[] = [
  ...GARBAGE,
  {},
  { sendAt: {} },
  { sendAt: 'tomorrow' },
  { sendAt: '2030-07-07' },
  { sendAt: Number.NaN },
  { sendAt: '2999-01-01T00:00:00Z' },
];

test('signals with no input, null, garbage or wrong types are refused and recorded; the bulk keeps working', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('garbage', [msg({ sendAt: now + 24 * HOUR })]);

  for (const name of ['pause', 'resume', 'cancel']) for (const input of GARBAGE) await handle.signal(name, input);
  await handle.signal('reschedule');
  for (const input of BAD_RESCHEDULES) await handle.signal('reschedule', input);
  // The internal nudge takes no input: whatever it gets changes nothing.
  await handle.signal('reportsArrived', { sendAt: 'now' });
  // An unknown signal name is only logged by the SDK.
  await handle.signal('pasue', { by: 'typo' });

  const snapshot = await handle.query(bulkStatusQuery);
  expect(snapshot.status).toBe('PENDING');
  const refused = snapshot.controlLog.filter((c) => c.refused);
  expect(refused).toHaveLength(3 * GARBAGE.length + 1 + BAD_RESCHEDULES.length);
  expect(refused.every((c) => c.via === 'signal' && c.refused!.length > 0)).toBe(true);
  expect(refused.find((c) => c.action === 'reschedule' && c.refused!.includes('180 days'))).toBeDefined();

  // Updates with garbage are refused by their validators, before anything is written.
  const update = (name: string, input: unknown) => (input === undefined ? handle.executeUpdate(name) : handle.executeUpdate(name, { args: [input] }));
  for (const input of [undefined, null, 'PAUSED', { status: 'STOPPED' }, { status: 'PAUSED', extra: 1 }, { status: 'PAUSED', by: [] }]) {
    await expect(update('setStatus', input)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
  }
  for (const input of [undefined, null, { sendAt: 'soon' }, { sendAt: now + 181 * 24 * HOUR }]) {
    await expect(update('setSendAt', input)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
  }
  expect((await handle.query(bulkStatusQuery)).status).toBe('PENDING');

  // Good input still works: pause with no input at all (the UI's empty Data field), resume, reschedule, and it sends.
  await handle.signal('pause');
  expect((await handle.query(bulkStatusQuery)).status).toBe('PAUSED');
  await handle.signal('resume', { by: 'alice' });
  await handle.signal('reschedule', { sendAt: new Date(now + HOUR).toISOString(), by: 'alice' });
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 3, sent: 3 });
  expect(await failedWorkflowTasks(handle)).toBe(0);
});

test('a Temporal cancellation request cancels the bulk as the API does', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('temporal-cancel', [msg({ sendAt: now + 2 * HOUR })]);
  await handle.cancel();
  const counts = await handle.result();

  expect(counts).toMatchObject({ total: 3, sent: 0, canceled: 3 });
  expect((await handle.describe()).typedSearchAttributes.get(BulkStatusKey)).toBe('CANCELED');
  expect((await suite.stack.repo.getBulk('acme', 'temporal-cancel'))?.status).toBe('CANCELED');
  const rows = await suite.stack.repo.listBulkMessages('acme', 'temporal-cancel');
  expect(rows.map((r) => r.status_name)).toEqual(['REJECTED_CANCELED', 'REJECTED_CANCELED', 'REJECTED_CANCELED']);
  const reports = await suite.stack.db.selectFrom('reports').selectAll().where('bulk_id', '=', 'temporal-cancel').where('final', '=', 1).execute();
  expect(reports).toHaveLength(3);
  const log = (await handle.query(bulkStatusQuery)).controlLog;
  expect(log.map((c) => [c.action, c.to, c.by, c.via])).toEqual([['status', 'CANCELED', 'operator', 'cancellation']]);
  expect(await failedWorkflowTasks(handle)).toBe(0);
});

test('the histories of this suite replay deterministically with the current workflow code', async () => {
  const bundle = await workflowBundle();
  for (const bulkId of ['garbage', 'temporal-cancel']) {
    const history = await suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId)).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, history, bulkId)).resolves.toBeUndefined();
    // RECORD_HISTORIES=1 writes them to test/histories, for the replay test (as bulk-control.test.ts does).
    if (process.env.RECORD_HISTORIES === '1') fs.writeFileSync(`test/histories/${bulkId}.pb`, temporal.api.history.v1.History.encode(history).finish());
  }
});
