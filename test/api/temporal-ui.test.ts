/**
 * What an operator reads in the Temporal UI, checked through the UI server's own HTTP API (the one the browser
 * uses): the bulk's summary and details, its activities' and timers' summaries, its current details, and the
 * descriptions of its signals, updates and queries.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { DateTime } from 'luxon';
import { bulkWorkflowId } from '../../core/bulk-service';
import { WEEKDAYS } from '../../domain/delivery-window';
import { startDevServer, type DevServer } from '../../temporal/dev-server';
import { setStatusUpdate } from '../../workflows/definitions';
import { createTestStack, eventually, type TestStack } from '../helpers/stack';
import { freePort } from '../helpers/temporal';

let server: DevServer;
let connection: Connection;
let nativeConnection: NativeConnection;
let stack: TestStack;
let ui: string;

beforeAll(async () => {
  const uiPort = await freePort();
  server = await startDevServer({ cliPath: process.env.TEMPORAL_CLI_PATH!, port: await freePort(), uiPort });
  ui = `http://127.0.0.1:${uiPort}/api/v1/namespaces/default`;
  connection = await Connection.connect({ address: server.address });
  nativeConnection = await NativeConnection.connect({ address: server.address });
  stack = await createTestStack({ client: new Client({ connection }), nativeConnection } as never);
  // The UI server answers once it has started, a moment after the frontend.
  await eventually(async () => (await fetch(`${ui}/workflows`).catch(() => undefined))?.ok);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await nativeConnection?.close();
  await connection?.close();
  await server?.stop();
});

interface UiPayload {
  data?: string;
}
const text = (p: UiPayload | undefined) => (p?.data ? (JSON.parse(Buffer.from(p.data, 'base64').toString('utf8')) as string) : undefined);
const get = async <T>(path: string): Promise<T> => {
  const res = await fetch(`${ui}${path}`);
  if (!res.ok) throw new Error(`UI API ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};

test('a scheduled bulk reads in domain words in the UI', async () => {
  // A window on tomorrow's weekday, 06:00–07:00 in Zagreb: the bulk waits for it after its sendAt.
  // Due soon enough that its first workflow task is not held back (firstTaskDelayMs).
  const sendAt = Date.now() + 8_000;
  const tomorrow = DateTime.now().setZone('Europe/Zagreb').plus({ days: 1 });
  const day = WEEKDAYS[tomorrow.weekday - 1]!;
  await stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'ui-1',
    campaignName: 'Black Friday',
    messages: [
      {
        from: 'InfoSMS',
        text: 'Hi',
        flash: false,
        intermediateReport: false,
        sendAt,
        validityPeriodMinutes: 2880,
        window: { days: [day], from: { hour: 6, minute: 0 }, to: { hour: 7, minute: 0 }, timeZone: 'Europe/Zagreb' },
        destinations: [{ to: '41793026727' }, { to: '41793026731' }],
      },
    ],
  });
  const id = encodeURIComponent(bulkWorkflowId('acme', 'ui-1'));

  const described = await get<{ executionConfig: { userMetadata: { summary: UiPayload; details: UiPayload } } }>(`/workflows/${id}`);
  const summary = text(described.executionConfig.userMetadata.summary)!;
  const details = text(described.executionConfig.userMetadata.details)!;
  expect(summary).toMatch(/^ui-1: 2 messages from InfoSMS, first send \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  expect(details).toContain('**account** acme');
  expect(details).toContain('**campaign** Black Friday');
  expect(details).toContain(`send at ${new Date(sendAt).toISOString()}`);
  expect(details).toContain(`window ${day} 06:00–07:00 Europe/Zagreb`);
  expect(details).toMatch(/validity ends \d{4}-\d\d-\d\dT/);

  // Its first timer waits for the window's opening, in the window's zone.
  const opening = `window opens ${tomorrow.toFormat('ccc')} 06:00 Europe/Zagreb`;
  const history = await eventually(async () => {
    const h = await get<{ history: { events: Array<{ eventType: string; userMetadata?: { summary?: UiPayload } }> } }>(`/workflows/${id}/history`);
    return h.history.events.some((e) => e.eventType.includes('TIMER_STARTED')) && h;
  });
  const timer = history.history.events.find((e) => e.eventType.includes('TIMER_STARTED'))!;
  expect(text(timer.userMetadata?.summary)).toBe(opening);

  // Current details and the handlers' descriptions, as the UI reads them (the workflow metadata query).
  // A POST, as the browser makes it: with the CSRF cookie the UI server hands out and its token in a header.
  const settings = await fetch(`${ui.replace(/\/namespaces\/default$/, '')}/settings`);
  const csrf = /_csrf=([^;]+)/.exec(settings.headers.get('set-cookie') ?? '')?.[1] ?? '';
  const res = await fetch(`${ui}/workflows/${id}/query/__temporal_workflow_metadata`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: `_csrf=${csrf}`, 'x-csrf-token': csrf },
    body: JSON.stringify({ query: { queryType: '__temporal_workflow_metadata' } }),
  });
  expect(res.status).toBe(200);
  const meta = (await res.json()) as { queryResult: { payloads: UiPayload[] } };
  const metadata = JSON.parse(Buffer.from(meta.queryResult.payloads[0]!.data!, 'base64').toString('utf8')) as {
    currentDetails: string;
    definition: { signalDefinitions: Array<{ name: string; description?: string }>; updateDefinitions: Array<{ name: string; description?: string }>; queryDefinitions: Array<{ name: string; description?: string }> };
  };
  expect(metadata.currentDetails).toBe(`**PENDING** · sent 0 · delivered 0 · failed 0 of 2\n\nWaiting for: ${opening}`);
  const described2 = (list: Array<{ name: string; description?: string }>) => Object.fromEntries(list.map((d) => [d.name, d.description ?? '']));
  const signals = described2(metadata.definition.signalDefinitions);
  for (const name of ['pause', 'resume', 'cancel', 'reschedule']) expect(signals[name]!.length).toBeGreaterThan(20);
  expect(signals.reportsArrived).toMatch(/^Internal/);
  const updates = described2(metadata.definition.updateDefinitions);
  expect(updates.setStatus).toContain('PAUSED');
  expect(updates.setSendAt).toContain('ISO-8601');
  expect(described2(metadata.definition.queryDefinitions).bulkStatus!.length).toBeGreaterThan(20);

  // No patch markers open the history any more: it starts with the bulk's own events.
  expect(history.history.events.some((e) => e.eventType.includes('MARKER_RECORDED'))).toBe(false);

  // A cancel runs a labelled activity.
  await stack.client.workflow.getHandle(bulkWorkflowId('acme', 'ui-1')).executeUpdate(setStatusUpdate, { args: [{ status: 'CANCELED' }] });
  await stack.client.workflow.getHandle(bulkWorkflowId('acme', 'ui-1')).result();
  const after = await get<{ history: { events: Array<{ eventType: string; userMetadata?: { summary?: UiPayload } }> } }>(`/workflows/${id}/history`);
  const activities = after.history.events.filter((e) => e.eventType.includes('ACTIVITY_TASK_SCHEDULED')).map((e) => text(e.userMetadata?.summary));
  expect(activities).toContain('cancel unsent messages (REJECTED_CANCELED)');
  // The last report round records the final status itself: no activity of its own for it.
  expect(activities).toContain('push delivery reports and count outcomes; once all is final, record status CANCELED');
  expect(activities).not.toContain('record status CANCELED');
}, 60_000);

test('a sending bulk labels its batches with the messages they send', async () => {
  await stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'ui-2',
    messages: [{ text: 'Hi', flash: false, intermediateReport: false, destinations: Array.from({ length: 3 }, (_, i) => ({ to: String(41793026740 + i) })) }],
  });
  await stack.client.workflow.getHandle(bulkWorkflowId('acme', 'ui-2')).result();
  const id = encodeURIComponent(bulkWorkflowId('acme', 'ui-2'));
  const h = await get<{ history: { events: Array<{ eventType: string; userMetadata?: { summary?: UiPayload } }> } }>(`/workflows/${id}/history`);
  const activities = h.history.events.filter((e) => e.eventType.includes('ACTIVITY_TASK_SCHEDULED')).map((e) => text(e.userMetadata?.summary));
  expect(activities[0]).toBe('send messages 1–3 of 3');
  expect(activities).toContain('push delivery reports and count outcomes; once all is final, record status FINISHED');
});
