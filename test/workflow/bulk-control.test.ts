import fs from 'node:fs';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { bulkWorkflowId, type CreateBulkCommand } from '../../core/bulk-service';
import { BulkStatusKey, SendAtKey } from '../../temporal/search-attributes';
import {
  bulkStatusQuery,
  cancelSignal,
  pauseSignal,
  rescheduleSignal,
  rescheduleUpdate,
  resumeSignal,
  setStatusUpdate,
} from '../../workflows/definitions';
import { sendBatchCalls } from '../helpers/history';
import { timeSkippingSuite } from '../helpers/stack';
import { workflowBundle } from '../helpers/temporal';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const suite = timeSkippingSuite();

let counter = 0;
const numbers = (n: number) => Array.from({ length: n }, () => ({ to: String(41793040000 + ++counter) }));
type Msg = CreateBulkCommand['messages'][number];
const msg = (extra: Partial<Msg> = {}): Msg => ({ text: 'Hi', flash: false, intermediateReport: false, destinations: numbers(2), ...extra });

async function scheduled(bulkId: string, messages: Msg[]) {
  suite.stack.clock.now = await suite.env.currentTimeMs();
  await suite.stack.bulks.createBulk({ accountId: 'acme', bulkId, messages });
  return suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId));
}

const statusOf = async (bulkId: string) => (await suite.stack.control.view('acme', bulkId)).status;

test('pause before the send time holds the bulk past it; resume sends it', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('pause-resume', [msg({ sendAt: now + HOUR })]);
  await expect(handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PAUSED', by: 'acme' }] })).resolves.toEqual({
    bulkId: 'pause-resume',
    status: 'PAUSED',
  });
  expect((await handle.describe()).typedSearchAttributes.get(BulkStatusKey)).toBe('PAUSED');
  await suite.env.sleep(3 * HOUR);
  expect(await statusOf('pause-resume')).toBe('PAUSED');
  expect((await sendBatchCalls(suite.stack.client, handle)).length).toBe(0);

  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PENDING', by: 'acme' }] });
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 2, sent: 2 });
  const snapshot = await handle.query(bulkStatusQuery);
  expect(snapshot.controlLog.map((c) => [c.action, c.to, c.by, c.via])).toEqual([
    ['status', 'PAUSED', 'acme', 'update'],
    ['status', 'PENDING', 'acme', 'update'],
  ]);
});

test('cancel of a pending bulk: nothing is sent, every message ends REJECTED_CANCELED', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('cancel-pending', [msg({ sendAt: now + HOUR })]);
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'CANCELED' }] });
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 2, sent: 0, canceled: 2 });
  const rows = await suite.stack.repo.listBulkMessages('acme', 'cancel-pending');
  expect(rows.every((r) => r.status_name === 'REJECTED_CANCELED' && r.state === 'FINAL')).toBe(true);
  expect((await suite.stack.repo.getBulk('acme', 'cancel-pending'))?.status).toBe('CANCELED');
});

test('asking for the status a bulk already has is a no-op that succeeds (PENDING → PENDING)', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled(`same-${++counter}`, [msg({ sendAt: now + HOUR })]);
  await expect(handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PENDING' }] })).resolves.toEqual({ bulkId: handle.workflowId.split(':')[2], status: 'PENDING' });
  expect((await handle.query(bulkStatusQuery)).status).toBe('PENDING');
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'CANCELED' }] });
  await handle.result();
});

test('a refused transition is rejected by the validator with the current status named, leaving no trace', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled(`refuse-${++counter}`, [msg({ sendAt: now + HOUR })]);
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'CANCELED' }] });
  await handle.result();
  await expect(suite.stack.control.setStatus('acme', handle.workflowId.split(':')[2]!, 'PAUSED')).rejects.toThrow(/CANCELED/);
  const refusedPause = await suite.stack.client.workflow
    .getHandle(handle.workflowId)
    .executeUpdate(setStatusUpdate, { args: [{ status: 'PAUSED' }] })
    .catch((e: unknown) => e);
  // A closed workflow takes no update at all; the service above answers from its stored status.
  expect(refusedPause).toBeInstanceOf(Error);
  const history = await handle.fetchHistory();
  expect(history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(1);
});

test('reschedule moves the send time (and validity) of a pending bulk', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('resched', [msg({ sendAt: now + HOUR, validityPeriodMinutes: 30 })]);
  const target = now + 5 * HOUR;
  await expect(handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: target }] })).resolves.toEqual({
    bulkId: 'resched',
    sendAt: new Date(target).toISOString(),
  });
  expect((await handle.describe()).typedSearchAttributes.get(SendAtKey)?.getTime()).toBe(target);
  const counts = await handle.result();
  expect(counts).toMatchObject({ sent: 2, expired: 0 });
  const [call] = await sendBatchCalls(suite.stack.client, handle);
  expect(call!.at).toBeGreaterThanOrEqual(target);
  expect(call!.at).toBeLessThan(target + MINUTE);
});

test('a paused bulk that had started sending can be rescheduled: what is left goes at the new time, once resumed', async () => {
  const now = await suite.env.currentTimeMs();
  suite.stack.clock.now = now;
  // A speed limit of 3 an hour: the first 3 go at once, the other 3 wait for the next hour.
  await suite.stack.bulks.createBulk({ accountId: 'acme', bulkId: 'resched-started', speedLimit: { amount: 3, timeUnit: 'HOUR' }, messages: [msg({ destinations: numbers(6), validityPeriodMinutes: 2880 })] });
  const handle = suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', 'resched-started'));
  for (let i = 0; i < 200 && (await handle.query(bulkStatusQuery)).counts.sent < 3; i++) await new Promise((r) => setTimeout(r, 50));
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PAUSED' }] });
  const target = now + 5 * HOUR;
  await handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: new Date(target).toISOString() }] });
  expect((await handle.query(bulkStatusQuery)).status).toBe('PAUSED');
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PENDING' }] });
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 6, sent: 6 });
  const calls = (await sendBatchCalls(suite.stack.client, handle)).sort((a, b) => a.at - b.at);
  expect(calls[0]!.at).toBeLessThan(now + MINUTE);
  expect(calls.at(-1)!.at).toBeGreaterThanOrEqual(target);
  expect(calls.at(-1)!.at).toBeLessThan(target + MINUTE);
});

test('reschedule to the past sends now', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('resched-past', [msg({ sendAt: now + 10 * HOUR })]);
  const applied = await handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: now - HOUR }] });
  expect(Date.parse(applied.sendAt)).toBeGreaterThanOrEqual(now);
  await handle.result();
  const [call] = await sendBatchCalls(suite.stack.client, handle);
  expect(call!.at - now).toBeLessThan(MINUTE);
});

test('a bulk whose messages have different send times cannot be rescheduled as one', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('multi', [msg({ sendAt: now + HOUR }), msg({ sendAt: now + 2 * HOUR })]);
  await expect(handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: now + 3 * HOUR }] })).rejects.toThrow(
    WorkflowUpdateFailedError,
  );
  await expect(suite.stack.control.reschedule('acme', 'multi', now + 3 * HOUR)).rejects.toThrow(/different send times/);
  await handle.result();
});

test('operators steer with signals: pause, resume, reschedule (ISO string), cancel', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('signals', [msg({ sendAt: now + HOUR })]);
  await handle.signal(pauseSignal, { by: 'ops-alice' });
  await handle.signal(rescheduleSignal, { sendAt: new Date(now + 4 * HOUR).toISOString(), by: 'ops-alice' });
  // A resume of a bulk that is no longer paused is a no-op, not fatal.
  await handle.signal(resumeSignal, { by: 'ops-bob' });
  await handle.signal(resumeSignal, { by: 'ops-bob' });
  let snapshot = await handle.query(bulkStatusQuery);
  expect(snapshot.status).toBe('PENDING');
  expect(snapshot.sendAt).toBe(new Date(now + 4 * HOUR).toISOString());
  expect(snapshot.controlLog.map((c) => [c.action, c.by, c.via])).toEqual([
    ['status', 'ops-alice', 'signal'],
    ['reschedule', 'ops-alice', 'signal'],
    ['status', 'ops-bob', 'signal'],
    ['status', 'ops-bob', 'signal'],
  ]);
  await handle.signal(cancelSignal);
  const counts = await handle.result();
  expect(counts.canceled).toBe(2);
  snapshot = await handle.query(bulkStatusQuery);
  expect(snapshot.status).toBe('CANCELED');
});

test('validity keeps running while paused: what expires during the pause is reported EXPIRED', async () => {
  const now = await suite.env.currentTimeMs();
  const handle = await scheduled('pause-expire', [msg({ sendAt: now + 10 * MINUTE, validityPeriodMinutes: 60 })]);
  await handle.executeUpdate(setStatusUpdate, { args: [{ status: 'PAUSED' }] });
  const counts = await handle.result();
  expect(counts).toMatchObject({ sent: 0, expired: 2 });
  const rows = await suite.stack.repo.listBulkMessages('acme', 'pause-expire');
  expect(rows.map((r) => r.status_name)).toEqual(['EXPIRED_EXPIRED', 'EXPIRED_EXPIRED']);
  expect((await handle.query(bulkStatusQuery)).status).toBe('EXPIRED');
  const closed = (await handle.describe()).closeTime!.getTime();
  expect(closed).toBeGreaterThanOrEqual(now + 70 * MINUTE);
});

test('the histories of this suite replay deterministically with the current workflow code', async () => {
  const bundle = await workflowBundle();
  for (const bulkId of ['pause-resume', 'signals', 'cancel-pending', 'resched']) {
    const history = await suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId)).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, history, bulkId)).resolves.toBeUndefined();
    // RECORD_HISTORIES=1 rewrites the recorded files; any other value records new ones beside them, tagged with it.
    const tag = process.env.RECORD_HISTORIES;
    if (tag) {
      const name = tag === '1' ? bulkId : `${bulkId}-${tag}`;
      fs.writeFileSync(`test/histories/${name}.pb`, temporal.api.history.v1.History.encode(history).finish());
    }
  }
});
