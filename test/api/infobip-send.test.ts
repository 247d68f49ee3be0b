import request from 'supertest';
import { bulkWorkflowId } from '../../core/bulk-service';
import { AccountIdKey, BulkIdKey, BulkStatusKey, SendAtKey } from '../../temporal/search-attributes';
import { devServerSuite, eventually } from '../helpers/stack';

const suite = devServerSuite();

const oneMessage = {
  bulkId: 'slice-1',
  messages: [{ from: 'InfoSMS', destinations: [{ to: '41793026727', messageId: 'slice-msg-1' }], text: 'Hello from the slice' }],
};

test('an authenticated advanced send starts one workflow that submits to the simulator', async () => {
  const res = await request(suite.app)
    .post('/sms/2/text/advanced')
    .set('Authorization', 'App acme-secret-key-1')
    .send(oneMessage)
    .expect(200);

  expect(res.body).toEqual({
    bulkId: 'slice-1',
    messages: [
      {
        to: '41793026727',
        messageId: 'slice-msg-1',
        smsCount: 1,
        status: { groupId: 1, groupName: 'PENDING', id: 26, name: 'PENDING_ACCEPTED', description: 'Message sent to next instance' },
      },
    ],
  });

  const handle = suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'slice-1'));
  await expect(handle.result()).resolves.toMatchObject({ total: 1, sent: 1, delivered: 1, failed: 0 });
  expect(suite.stack.simulator.hasAccepted('acme:slice-msg-1')).toBe(true);

  const { typedSearchAttributes } = await handle.describe();
  expect(typedSearchAttributes.get(BulkIdKey)).toBe('slice-1');
  expect(typedSearchAttributes.get(AccountIdKey)).toBe('acme');
  expect(typedSearchAttributes.get(BulkStatusKey)).toBe('FINISHED');
  expect(typedSearchAttributes.get(SendAtKey)).toBeInstanceOf(Date);

  const delivered = await eventually(async () => {
    const m = await suite.stack.repo.getMessage('acme', 'slice-msg-1');
    return m?.status_name === 'DELIVERED_TO_HANDSET' ? m : undefined;
  });
  expect(delivered.state).toBe('FINAL');
});

test('a generated bulkId and messageId come back when the client gives none', async () => {
  const res = await request(suite.app)
    .post('/sms/2/text/advanced')
    .set('Authorization', 'Bearer acme-secret-key-1')
    .send({ messages: [{ destinations: [{ to: '41793026731' }], text: 'No ids' }] })
    .expect(200);
  expect(res.body.bulkId).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.body.messages[0].messageId).toMatch(/^[0-9a-f-]{36}$/);
  await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', res.body.bulkId)).result();
});

describe('authentication', () => {
  test.each([
    ['no header', undefined],
    ['a wrong App key', 'App not-a-key'],
    ['an unknown scheme', 'Digest acme-secret-key-1'],
    ['Basic with a key of another account', `Basic ${Buffer.from('globex:acme-secret-key-1').toString('base64')}`],
  ])('%s is refused with 401 and the Infobip error body', async (_name, header) => {
    const req = request(suite.app).post('/sms/2/text/advanced').send(oneMessage);
    if (header) req.set('Authorization', header);
    const res = await req.expect(401);
    expect(res.body.requestError.serviceException.messageId).toBe('UNAUTHORIZED');
  });

  test('Basic account:key is accepted', async () => {
    const res = await request(suite.app)
      .post('/sms/2/text/advanced')
      .set('Authorization', `Basic ${Buffer.from('globex:globex-secret-key-2').toString('base64')}`)
      .send({ ...oneMessage, bulkId: 'basic-auth' })
      .expect(200);
    expect(res.body.bulkId).toBe('basic-auth');
    const handle = suite.temporal.client.workflow.getHandle(bulkWorkflowId('globex', 'basic-auth'));
    expect((await handle.describe()).typedSearchAttributes.get(AccountIdKey)).toBe('globex');
  });
});

test('GET /healthz answers 200 once Temporal and the database answer', async () => {
  await request(suite.app).get('/healthz').expect(200, { status: 'ok' });
});
