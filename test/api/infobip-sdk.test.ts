import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthType, Infobip } from '@infobip-api/sdk';
import { bulkWorkflowId } from '../../core/bulk-service';
import { devServerSuite } from '../helpers/stack';

/** Infobip's own Node SDK, unmodified, pointed at this API: the compatibility a client migrating relies on. */
const suite = devServerSuite();
let server: Server;
let infobip: Infobip;

beforeAll(async () => {
  server = suite.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  infobip = new Infobip({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'acme-secret-key-1', authType: AuthType.ApiKey });
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

test('send, read schedule, reschedule, pause, resume, cancel and read reports through the official SDK', async () => {
  const sendAt = new Date(Date.now() + 3_600_000).toISOString();
  const sent = await infobip.channels.sms.send({
    type: 'text',
    bulkId: 'sdk-1',
    messages: [{ destinations: [{ to: '41793026727', messageId: 'sdk-m1' }], from: 'InfoSMS', text: 'Via the SDK', sendAt }],
  });
  expect(sent.status).toBe(200);
  expect(sent.data).toMatchObject({ bulkId: 'sdk-1', messages: [{ messageId: 'sdk-m1', status: { name: 'PENDING_ACCEPTED' } }] });

  const schedule = await infobip.channels.sms.scheduled.get('sdk-1');
  expect(schedule.data.bulkId).toBe('sdk-1');
  expect(Date.parse(schedule.data.sendAt)).toBe(Date.parse(sendAt));

  const target = new Date(Math.floor((Date.now() + 7 * 86_400_000) / 60_000) * 60_000);
  const moved = await infobip.channels.sms.scheduled.reschedule('sdk-1', new Date(target.getTime() + 3_600_000).toISOString().replace('Z', '+01:00'));
  expect(moved.data).toEqual({ bulkId: 'sdk-1', sendAt: target.toISOString().replace('Z', '+00:00') });

  expect((await infobip.channels.sms.status.update('sdk-1', 'PAUSED')).data).toEqual({ bulkId: 'sdk-1', status: 'PAUSED' });
  expect((await infobip.channels.sms.status.get('sdk-1')).data).toEqual({ bulkId: 'sdk-1', status: 'PAUSED' });
  expect((await infobip.channels.sms.status.update('sdk-1', 'PENDING')).data.status).toBe('PENDING');
  expect((await infobip.channels.sms.status.update('sdk-1', 'CANCELED')).data.status).toBe('CANCELED');
  await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'sdk-1')).result();

  const reports = await infobip.channels.sms.reports.get({ bulkId: 'sdk-1' });
  expect(reports.data.results).toEqual([
    expect.objectContaining({ messageId: 'sdk-m1', status: expect.objectContaining({ name: 'REJECTED_CANCELED' }) }),
  ]);
  const logs = await infobip.channels.sms.logs.get({ bulkId: 'sdk-1' });
  expect(logs.data.results[0]).toMatchObject({ messageId: 'sdk-m1', text: 'Via the SDK' });
});

test("the SDK's preview: the text as it is, with the language's national tables, transliterated, and both", async () => {
  const text = 'Artık Ulusal Dil Tanımlayıcısı ile Türkçe karakterli smslerinizi rahatlıkla iletebilirsiniz.';
  const res = await infobip.channels.sms.preview({ text, languageCode: 'TR', transliteration: 'TURKISH' });
  expect(res.status).toBe(200);
  const transliterated = 'Artik Ulusal Dil Tanimlayicisi ile Türkce karakterli smslerinizi rahatlikla iletebilirsiniz.';
  expect(res.data).toEqual({
    originalText: text,
    previews: [
      // As UCS-2: 92 units, two parts of 67.
      { textPreview: text, messageCount: 2, charactersRemaining: 67 - (92 - 67), configuration: {} },
      // GSM-7 with the Turkish single shift (six ı and a ç, two septets each): 99 of 155.
      { textPreview: text, messageCount: 1, charactersRemaining: 155 - 99, configuration: { language: { languageCode: 'TR' } } },
      { textPreview: transliterated, messageCount: 1, charactersRemaining: 160 - 92, configuration: { transliteration: 'TURKISH' } },
      { textPreview: transliterated, messageCount: 1, charactersRemaining: 160 - 92, configuration: { language: { languageCode: 'TR' }, transliteration: 'TURKISH' } },
    ],
  });
  // The SDK hands an error back rather than throwing it.
  const bad = await infobip.channels.sms.preview({ text: 'x', languageCode: 'XX' });
  expect(bad.response).toMatchObject({ status: 400, data: { requestError: { serviceException: { messageId: 'BAD_REQUEST' } } } });
});
