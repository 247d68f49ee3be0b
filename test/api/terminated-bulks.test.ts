/**
 * An operator terminates a bulk's workflow (the UI's Terminate, `temporal workflow terminate`): the stored state
 * must not stay PENDING. The reconciler (BulkService.reconcileClosed, and the API when it meets such a bulk)
 * starts a recovery run that cancels what was never handed over and awaits the reports of what was.
 */
import { Client, Connection } from '@temporalio/client';
import request from 'supertest';
import { createApp } from '../../api/app';
import { createCampaigns } from '../../core/campaign-service';
import { ApiKeyAuthenticator } from '../../api/auth';
import { BulkControlService } from '../../core/bulk-control-service';
import { bulkWorkflowId } from '../../core/bulk-service';
import { BulkStatusKey } from '../../temporal/search-attributes';
import { bulkStatusQuery } from '../../workflows/definitions';
import { devServerSuite, eventually, silentLogger, TEST_KEYS } from '../helpers/stack';

// Reports take 4 s, so a bulk can be terminated between its submit and its reports.
const suite = devServerSuite({ simulator: { deliveryDelayMs: 4000 } });
const AUTH = 'App acme-secret-key-1';
const destinations = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ to: String(41793080000 + i), messageId: `${prefix}-${i}` }));

test('a bulk terminated while it waits for its send time is CANCELED, its messages reported, and the API says so', async () => {
  const sendAt = new Date(Date.now() + 3_600_000).toISOString();
  await request(suite.app)
    .post('/sms/2/text/advanced')
    .set('Authorization', AUTH)
    .send({ bulkId: 'term-pending', messages: [{ from: 'InfoSMS', destinations: destinations('tp', 3), text: 'x', sendAt }] })
    .expect(200);
  const handle = suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'term-pending'));
  await handle.terminate('operator pressed Terminate');

  // The API meets the dead run, takes the bulk over, and answers from the recovery run: never a 500.
  const status = await request(suite.app).get('/sms/1/bulks/status?bulkId=term-pending').set('Authorization', AUTH).expect(200);
  expect(status.body).toEqual({ bulkId: 'term-pending', status: 'CANCELED' });
  await handle.result();
  const put = await request(suite.app).put('/sms/1/bulks/status?bulkId=term-pending').set('Authorization', AUTH).send({ status: 'PAUSED' }).expect(400);
  expect(JSON.stringify(put.body)).toContain('CANCELED');

  expect((await suite.stack.repo.getBulk('acme', 'term-pending'))?.status).toBe('CANCELED');
  const rows = await suite.stack.repo.listBulkMessages('acme', 'term-pending');
  expect(rows.map((r) => r.status_name)).toEqual(['REJECTED_CANCELED', 'REJECTED_CANCELED', 'REJECTED_CANCELED']);
  const reports = await request(suite.app).get('/sms/1/reports?bulkId=term-pending').set('Authorization', AUTH).expect(200);
  expect(reports.body.results).toHaveLength(3);
  expect((await handle.describe()).typedSearchAttributes.get(BulkStatusKey)).toBe('CANCELED');
  const log = (await handle.query(bulkStatusQuery)).controlLog;
  expect(log.at(-1)).toMatchObject({ by: 'reconciler', via: 'reconciler', to: 'CANCELED', reason: 'previous run terminated' });
});

test('a bulk terminated after its submit is found by the periodic pass, keeps its reports and closes', async () => {
  await suite.stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'term-sent',
    messages: [{ text: 'x', flash: false, intermediateReport: false, destinations: destinations('ts', 20) }],
  });
  const handle = suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'term-sent'));
  await eventually(async () => (await handle.query(bulkStatusQuery)).counts.sent === 20);
  await handle.terminate('operator pressed Terminate');

  // Visibility sees the terminated run within a moment; the pass takes it over exactly once.
  await eventually(async () => (await suite.stack.bulks.reconcileClosed()) === 1);
  expect(await suite.stack.bulks.reconcileClosed()).toBe(0);
  const counts = await handle.result();
  expect(counts).toMatchObject({ total: 20, sent: 20, canceled: 0, delivered: 20 });
  expect((await suite.stack.repo.getBulk('acme', 'term-sent'))?.status).toBe('CANCELED');
  const rows = await suite.stack.repo.listBulkMessages('acme', 'term-sent');
  expect(rows.every((r) => r.status_name === 'DELIVERED_TO_HANDSET')).toBe(true);
  expect(suite.stack.simulator.stats('acme:ts-')).toMatchObject({ accepted: 20, duplicates: 0 });
}, 60_000);

test('with Temporal unreachable, reading or steering a bulk answers 503 with the reason, never 500', async () => {
  await suite.stack.bulks.createBulk({
    accountId: 'acme',
    bulkId: 'no-temporal',
    messages: [{ text: 'x', flash: false, intermediateReport: false, sendAt: Date.now() + 3_600_000, destinations: destinations('nt', 1) }],
  });
  // The same database, but a Temporal address nothing listens on (the client retries for some seconds first).
  const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1000 }) });
  const control = new BulkControlService({ repo: suite.stack.repo, client: unreachable });
  const app = createApp({
    logger: silentLogger,
    auth: new ApiKeyAuthenticator(TEST_KEYS),
    bulks: suite.stack.bulks,
    control,
    reports: suite.stack.repo,
    ...createCampaigns(suite.stack.db, suite.stack.bulks, control),
    health: async () => undefined,
  });
  const read = await request(app).get('/sms/1/bulks/status?bulkId=no-temporal').set('Authorization', AUTH).expect(503);
  expect(read.body.requestError.serviceException).toMatchObject({ messageId: 'SERVICE_UNAVAILABLE' });
  expect(read.body.requestError.serviceException.text).toContain('cannot be reached');
  const steer = await request(app).put('/sms/1/bulks/status?bulkId=no-temporal').set('Authorization', AUTH).send({ status: 'PAUSED' }).expect(503);
  expect(steer.body.requestError.serviceException.messageId).toBe('SERVICE_UNAVAILABLE');
}, 90_000);
