import { XMLParser } from 'fast-xml-parser';
import request from 'supertest';
import { bulkWorkflowId } from '../../core/bulk-service';
import { expectedSignature, startReceiver } from '../helpers/receiver';
import { createTestApp, createTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';
import { startConnectedDevServer, type DevServerConnections } from '../helpers/temporal';

let temporal: DevServerConnections;
let stack: TestStack;
let app: ReturnType<typeof createTestApp>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  temporal = await startConnectedDevServer();
  stack = await createTestStack(temporal, { simulator: { deliveryDelayMs: 200, failureRate: 0 } });
  app = createTestApp(stack);
  receiver = await startReceiver();
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await stack?.close();
  await temporal?.close();
});

const AUTH = 'App acme-secret-key-1';
let counter = 0;
const destinations = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({ to: String(41793060000 + ++counter), messageId: `${prefix}-${i}` }));

async function sendAndFinish(bulkId: string, message: object) {
  await request(app)
    .post('/sms/2/text/advanced')
    .set('Authorization', AUTH)
    .send({ bulkId, messages: [{ text: 'Report me', ...message }] })
    .expect(200);
  return temporal.client.workflow.getHandle(bulkWorkflowId('acme', bulkId)).result();
}

test('final reports are pushed as JSON, at most 100 per request, signed, with callbackData echoed', async () => {
  receiver.requests.length = 0;
  await sendAndFinish('push-json', {
    destinations: destinations(150, 'pj'),
    notifyUrl: receiver.url,
    callbackData: 'order-42',
  });
  const ok = receiver.requests.filter((r) => r.status === 200);
  expect(ok.length).toBeGreaterThanOrEqual(2);
  for (const r of ok) {
    expect(r.signature).toBe(expectedSignature(r.body, TEST_SECRETS.get('acme')!));
    expect((JSON.parse(r.body) as { results: unknown[] }).results.length).toBeLessThanOrEqual(100);
  }
  const reports = receiver.acceptedJsonReports().filter((r) => r.bulkId === 'push-json');
  expect(reports).toHaveLength(150);
  expect(new Set(reports.map((r) => r.reportId)).size).toBe(150);
  expect(reports[0]).toMatchObject({
    bulkId: 'push-json',
    callbackData: 'order-42',
    smsCount: 1,
    price: { pricePerMessage: 0, currency: 'EUR' },
    status: { groupId: 3, groupName: 'DELIVERED', id: 5, name: 'DELIVERED_TO_HANDSET' },
    error: { groupId: 0, id: 0, name: 'NO_ERROR', permanent: false },
  });
  expect(String(reports[0]!.sentAt)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  // Without intermediateReport, only final statuses are pushed.
  expect(reports.every((r) => (r.status as { name: string }).name === 'DELIVERED_TO_HANDSET')).toBe(true);
});

test('intermediateReport: true pushes the intermediate statuses too', async () => {
  receiver.requests.length = 0;
  await sendAndFinish('push-inter', { destinations: destinations(3, 'pi'), notifyUrl: receiver.url, intermediateReport: true });
  const names = receiver
    .acceptedJsonReports()
    .filter((r) => r.bulkId === 'push-inter')
    .map((r) => `${r.messageId}:${(r.status as { name: string }).name}`);
  for (const id of ['pi-0', 'pi-1', 'pi-2']) {
    expect(names).toContain(`${id}:PENDING_ENROUTE`);
    expect(names).toContain(`${id}:DELIVERED_TO_OPERATOR`);
    expect(names).toContain(`${id}:DELIVERED_TO_HANDSET`);
  }
});

test('notifyContentType application/xml pushes XML', async () => {
  receiver.requests.length = 0;
  await sendAndFinish('push-xml', {
    destinations: destinations(2, 'px'),
    notifyUrl: receiver.url,
    notifyContentType: 'application/xml',
    callbackData: 'xml-data',
  });
  const xml = receiver.requests.find((r) => r.status === 200 && r.contentType.includes('xml'));
  expect(xml).toBeDefined();
  expect(xml!.signature).toBe(expectedSignature(xml!.body, TEST_SECRETS.get('acme')!));
  const doc = new XMLParser({ parseTagValue: false, isArray: (n) => n === 'result' }).parse(xml!.body);
  const results = doc.reportResponse.results.result as Array<Record<string, unknown>>;
  expect(results.map((r) => r.messageId).sort()).toEqual(['px-0', 'px-1']);
  expect(results[0]).toMatchObject({ callbackData: 'xml-data', status: { name: 'DELIVERED_TO_HANDSET' } });
});

test('a receiver that is down gets every report once it is back, none twice', async () => {
  receiver.requests.length = 0;
  const downUntil = Date.now() + 3000;
  receiver.setAnswer(() => (Date.now() < downUntil ? 503 : 200));
  try {
    await sendAndFinish('push-down', { destinations: destinations(20, 'pd'), notifyUrl: receiver.url });
  } finally {
    receiver.setAnswer(() => 200);
  }
  expect(receiver.requests.filter((r) => r.status === 503).length).toBeGreaterThan(0);
  const reports = receiver.acceptedJsonReports().filter((r) => r.bulkId === 'push-down');
  expect(reports.map((r) => r.messageId).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `pd-${i}`).sort());
  expect(new Set(reports.map((r) => r.reportId)).size).toBe(reports.length);
});

test('reports of messages without notifyUrl are pulled once', async () => {
  await sendAndFinish('pull', { destinations: destinations(5, 'pl') });
  const first = await request(app).get('/sms/1/reports?bulkId=pull&limit=3').set('Authorization', AUTH).expect(200);
  expect(first.body.results).toHaveLength(3);
  const second = await request(app).get('/sms/1/reports?bulkId=pull').set('Authorization', AUTH).expect(200);
  expect(second.body.results).toHaveLength(2);
  const third = await request(app).get('/sms/1/reports?bulkId=pull').set('Authorization', AUTH).expect(200);
  expect(third.body.results).toHaveLength(0);
  const ids = [...first.body.results, ...second.body.results].map((r: { messageId: string }) => r.messageId);
  expect(new Set(ids).size).toBe(5);
  // Another account sees none of them.
  await sendAndFinish('pull-2', { destinations: destinations(1, 'pl2') });
  const other = await request(app).get('/sms/1/reports').set('Authorization', 'App globex-secret-key-2').expect(200);
  expect(other.body.results).toHaveLength(0);
  await request(app).get('/sms/1/reports?limit=1001').set('Authorization', AUTH).expect(400);
  const xml = await request(app).get('/sms/1/reports?bulkId=pull-2').set('Authorization', AUTH).set('Accept', 'application/xml').expect(200);
  expect(xml.text).toContain('<reportResponse><results><result>');
});

test('message logs, filtered', async () => {
  await sendAndFinish('logs', { destinations: destinations(4, 'lg'), from: 'InfoSMS' });
  const all = await request(app).get('/sms/1/logs?bulkId=logs').set('Authorization', AUTH).expect(200);
  expect(all.body.results).toHaveLength(4);
  expect(all.body.results[0]).toMatchObject({ bulkId: 'logs', from: 'InfoSMS', text: 'Report me', status: { groupName: 'DELIVERED' } });
  const one = await request(app).get('/sms/1/logs?messageId=lg-2').set('Authorization', AUTH).expect(200);
  expect(one.body.results.map((r: { messageId: string }) => r.messageId)).toEqual(['lg-2']);
  const limited = await request(app).get('/sms/1/logs?bulkId=logs&limit=2').set('Authorization', AUTH).expect(200);
  expect(limited.body.results).toHaveLength(2);
  const delivered = await request(app).get('/sms/1/logs?bulkId=logs&generalStatus=DELIVERED').set('Authorization', AUTH).expect(200);
  expect(delivered.body.results).toHaveLength(4);
  const rejected = await request(app).get('/sms/1/logs?bulkId=logs&generalStatus=REJECTED').set('Authorization', AUTH).expect(200);
  expect(rejected.body.results).toHaveLength(0);
  const future = new Date(Date.now() + 3_600_000).toISOString();
  const since = await request(app).get(`/sms/1/logs?bulkId=logs&sentSince=${encodeURIComponent(future)}`).set('Authorization', AUTH).expect(200);
  expect(since.body.results).toHaveLength(0);
  await request(app).get('/sms/1/logs?generalStatus=HAPPY').set('Authorization', AUTH).expect(400);
  const other = await request(app).get('/sms/1/logs?bulkId=logs').set('Authorization', 'App globex-secret-key-2').expect(200);
  expect(other.body.results).toHaveLength(0);
});

test.each([
  'http://10.1.2.3/hook',
  'http://169.254.169.254/latest/meta-data',
  'http://[::1]:8080/hook',
  'http://192.168.0.10/hook',
  'http://0.0.0.0/hook',
])('a notifyUrl into a private network (%s) is refused and nothing is stored', async (url) => {
  const res = await request(app)
    .post('/sms/2/text/advanced')
    .set('Authorization', AUTH)
    .send({ bulkId: `ssrf-${++counter}`, messages: [{ text: 'x', destinations: [{ to: '41793026727' }], notifyUrl: url }] })
    .expect(400);
  expect(Object.keys(res.body.requestError.serviceException.validationErrors)).toEqual(['messages[0].notifyUrl']);
  expect(await stack.repo.getBulk('acme', `ssrf-${counter}`)).toBeUndefined();
});
