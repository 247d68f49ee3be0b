import request from 'supertest';
import { bulkWorkflowId } from '../../core/bulk-service';
import { devServerSuite, eventually } from '../helpers/stack';

// A slow SMSC (60 ms per 100-message submit) and small batches: a bulk takes seconds to send.
const suite = devServerSuite({
  simulator: { submitDelayMs: 60, deliveryDelayMs: 200 },
  tuning: { batchSize: 300, concurrency: 2 },
});

const AUTH = 'App acme-secret-key-1';
let counter = 0;
const destinations = (n: number) => Array.from({ length: n }, () => ({ to: String(41793050000 + ++counter) }));

async function send(bulkId: string, body: object) {
  await request(suite.app).post('/sms/2/text/advanced').set('Authorization', AUTH).send({ bulkId, ...body }).expect(200);
}

const later = () => new Date(Date.now() + 3_600_000).toISOString();

test('GET and PUT /sms/1/bulks read and move the send time, with or without a trailing slash', async () => {
  await send('api-resched', { messages: [{ destinations: destinations(1), text: 'x', sendAt: later() }] });
  const got = await request(suite.app).get('/sms/1/bulks?bulkId=api-resched').set('Authorization', AUTH).expect(200);
  expect(got.body.bulkId).toBe('api-resched');
  expect(got.body.sendAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);

  // 30 days ahead, written with a +01:00 offset; answered in UTC.
  const target = new Date(Math.floor((Date.now() + 30 * 86_400_000) / 60_000) * 60_000);
  const withOffset = new Date(target.getTime() + 3_600_000).toISOString().replace('Z', '+01:00');
  const put = await request(suite.app)
    .put('/sms/1/bulks/?bulkId=api-resched')
    .set('Authorization', AUTH)
    .send({ sendAt: withOffset })
    .expect(200);
  expect(put.body).toEqual({ bulkId: 'api-resched', sendAt: target.toISOString().replace('Z', '+00:00') });
  // The same 180-day limit as a send.
  const tooFar = await request(suite.app).put('/sms/1/bulks?bulkId=api-resched').set('Authorization', AUTH).send({ sendAt: '2999-01-01T10:00:00.000+01:00' }).expect(400);
  expect(JSON.stringify(tooFar.body)).toContain('180 days');
  await request(suite.app).put('/sms/1/bulks?bulkId=api-resched').set('Authorization', AUTH).send({ sendAt: 'soon' }).expect(400);
  await request(suite.app).put('/sms/1/bulks/status?bulkId=api-resched').set('Authorization', AUTH).send({ status: 'CANCELED' }).expect(200);
});

test('status transitions through the API, CANCELLED accepted, CANCELED final with a clear 400', async () => {
  await send('api-status', { messages: [{ destinations: destinations(2), text: 'x', sendAt: later() }] });
  const status = (s: string) =>
    request(suite.app).put('/sms/1/bulks/status/?bulkId=api-status').set('Authorization', AUTH).send({ status: s });

  expect((await request(suite.app).get('/sms/1/bulks/status?bulkId=api-status').set('Authorization', AUTH)).body).toEqual({
    bulkId: 'api-status',
    status: 'PENDING',
  });
  expect((await status('PAUSED').expect(200)).body).toEqual({ bulkId: 'api-status', status: 'PAUSED' });
  expect((await status('PENDING').expect(200)).body).toEqual({ bulkId: 'api-status', status: 'PENDING' });
  expect((await status('CANCELLED').expect(200)).body).toEqual({ bulkId: 'api-status', status: 'CANCELED' });
  const refused = await status('PENDING').expect(400);
  expect(refused.body.requestError.serviceException.text).toMatch(/CANCELED/);
  const resched = await request(suite.app)
    .put('/sms/1/bulks?bulkId=api-status')
    .set('Authorization', AUTH)
    .send({ sendAt: later() })
    .expect(400);
  expect(resched.body.requestError.serviceException.text).toMatch(/CANCELED/);
  await status('SLEEPING').expect(400);
});

test('another account sees 404, and XML works for status', async () => {
  await send('api-scope', { messages: [{ destinations: destinations(1), text: 'x', sendAt: later() }] });
  await request(suite.app).get('/sms/1/bulks/status?bulkId=api-scope').set('Authorization', 'App globex-secret-key-2').expect(404);
  await request(suite.app)
    .put('/sms/1/bulks/status?bulkId=api-scope')
    .set('Authorization', 'App globex-secret-key-2')
    .send({ status: 'CANCELED' })
    .expect(404);
  await request(suite.app).get('/sms/1/bulks/status?bulkId=nope').set('Authorization', AUTH).expect(404);
  await request(suite.app).get('/sms/1/bulks/status').set('Authorization', AUTH).expect(400);

  const xml = await request(suite.app)
    .put('/sms/1/bulks/status?bulkId=api-scope')
    .set('Authorization', AUTH)
    .set('Content-Type', 'application/xml')
    .send('<request><status>PAUSED</status></request>')
    .expect(200)
    .expect('Content-Type', /xml/);
  expect(xml.text).toContain('<bulkStatusResponse><bulkId>api-scope</bulkId><status>PAUSED</status></bulkStatusResponse>');
  await request(suite.app).put('/sms/1/bulks/status?bulkId=api-scope').set('Authorization', AUTH).send({ status: 'CANCELED' }).expect(200);
});

test('pause mid-send: no submit after the acknowledgment; resume sends the rest exactly once', async () => {
  await send('mid-pause', { messages: [{ destinations: destinations(3000), text: 'Mid-send' }] });
  const refs = (ids: string[]) => ids.map((id) => `acme:${id}`);
  await eventually(async () => suite.stack.simulator.acceptedCount > 0 || undefined, 20_000);

  await request(suite.app).put('/sms/1/bulks/status?bulkId=mid-pause').set('Authorization', AUTH).send({ status: 'PAUSED' }).expect(200);
  const atAck = suite.stack.simulator.submitAttempts.size;
  expect(atAck).toBeGreaterThan(0);
  expect(atAck).toBeLessThan(3000);
  await new Promise((r) => setTimeout(r, 1500));
  expect(suite.stack.simulator.submitAttempts.size).toBe(atAck);

  await request(suite.app).put('/sms/1/bulks/status?bulkId=mid-pause').set('Authorization', AUTH).send({ status: 'PENDING' }).expect(200);
  const counts = await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'mid-pause')).result();
  expect(counts).toMatchObject({ total: 3000, sent: 3000 });
  const rows = await suite.stack.repo.listBulkMessages('acme', 'mid-pause');
  for (const ref of refs(rows.map((r) => r.message_id))) expect(suite.stack.simulator.submitAttempts.get(ref)).toBe(1);
  expect(rows.every((r) => r.state === 'SUBMITTED' || r.state === 'FINAL')).toBe(true);
});

test('cancel mid-send: nothing more is submitted and the rest is REJECTED_CANCELED', async () => {
  await send('mid-cancel', { messages: [{ destinations: destinations(3000), text: 'Mid-send' }] });
  const before = suite.stack.simulator.submitAttempts.size;
  await eventually(async () => suite.stack.simulator.submitAttempts.size > before || undefined, 20_000);
  await request(suite.app).put('/sms/1/bulks/status?bulkId=mid-cancel').set('Authorization', AUTH).send({ status: 'CANCELED' }).expect(200);
  const atAck = suite.stack.simulator.submitAttempts.size;
  const counts = await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'mid-cancel')).result();
  expect(suite.stack.simulator.submitAttempts.size).toBe(atAck);
  expect(counts.sent + counts.canceled).toBe(3000);
  expect(counts.canceled).toBeGreaterThan(0);
  const rows = await suite.stack.repo.listBulkMessages('acme', 'mid-cancel');
  expect(rows.filter((r) => r.status_name === 'REJECTED_CANCELED')).toHaveLength(counts.canceled);
  expect(rows.filter((r) => r.submitted_at !== null && r.status_name !== 'REJECTED_CANCELED')).toHaveLength(counts.sent);
});

test('a pause racing the send time: whichever wins, nothing is submitted after the acknowledgment', async () => {
  const sendAt = new Date(Date.now() + 400).toISOString();
  await send('race', { messages: [{ destinations: destinations(600), text: 'Race', sendAt }] });
  await new Promise((r) => setTimeout(r, 380));
  await request(suite.app).put('/sms/1/bulks/status?bulkId=race').set('Authorization', AUTH).send({ status: 'PAUSED' }).expect(200);
  const atAck = suite.stack.simulator.submitAttempts.size;
  await new Promise((r) => setTimeout(r, 1000));
  expect(suite.stack.simulator.submitAttempts.size).toBe(atAck);
  // Either the pause won and the bulk waits paused, or the send did: its armed batch had fired at the send time
  // and the pause was answered only once that batch had stopped. If everything was handed over by then, the
  // resume is refused (the bulk only awaits reports) and the bulk finishes on its reports.
  const { status } = await suite.stack.control.view('acme', 'race');
  expect(['PAUSED', 'PROCESSING', 'FINISHED']).toContain(status);
  if (status === 'PAUSED') {
    const resumed = await request(suite.app).put('/sms/1/bulks/status?bulkId=race').set('Authorization', AUTH).send({ status: 'PENDING' });
    if (resumed.status !== 200) {
      expect(atAck).toBe(600);
      expect(JSON.stringify(resumed.body)).toContain('only awaits delivery reports');
    }
  }
  const counts = await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'race')).result();
  expect(counts).toMatchObject({ total: 600, sent: 600 });
  expect(suite.stack.simulator.stats('acme:')).toMatchObject({ duplicates: 0 });
});
