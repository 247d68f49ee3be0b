import { XMLParser } from 'fast-xml-parser';
import request from 'supertest';
import { bulkWorkflowId } from '../../core/bulk-service';
import { devServerSuite } from '../helpers/stack';

const suite = devServerSuite();

const AUTH = 'App acme-secret-key-1';
const post = () => request(suite.app).post('/sms/2/text/advanced').set('Authorization', AUTH);
const valid = () => ({ messages: [{ from: 'InfoSMS', destinations: [{ to: '41793026727' }], text: 'Hi' }] });

async function storedBulkCount(): Promise<number> {
  const row = await suite.stack.db.selectFrom('bulks').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('every validation rule answers 400 with field errors and stores nothing', () => {
  const cases: Array<[string, (body: ReturnType<typeof valid>) => unknown, string]> = [
    ['no messages', () => ({ messages: [] }), 'messages'],
    ['no destinations', (b) => ({ messages: [{ ...b.messages[0], destinations: [] }] }), 'messages[0].destinations'],
    ['a destination that is not a phone number', (b) => ({ messages: [{ ...b.messages[0], destinations: [{ to: '12' }] }] }), 'messages[0].destinations[0].to'],
    ['a destination with letters', (b) => ({ messages: [{ ...b.messages[0], destinations: [{ to: '4179302672x' }] }] }), 'messages[0].destinations[0].to'],
    ['a 2-character alphanumeric sender', (b) => ({ messages: [{ ...b.messages[0], from: 'AB' }] }), 'messages[0].from'],
    ['a 12-character alphanumeric sender', (b) => ({ messages: [{ ...b.messages[0], from: 'CompanyName1' }] }), 'messages[0].from'],
    ['a 15-digit numeric sender', (b) => ({ messages: [{ ...b.messages[0], from: '123456789012345' }] }), 'messages[0].from'],
    ['an empty text', (b) => ({ messages: [{ ...b.messages[0], text: '' }] }), 'messages[0].text'],
    ['an unknown transliteration', (b) => ({ messages: [{ ...b.messages[0], transliteration: 'KLINGON' }] }), 'messages[0].transliteration'],
    ['an unknown language code', (b) => ({ messages: [{ ...b.messages[0], language: { languageCode: 'FR' } }] }), 'messages[0].language.languageCode'],
    ['callbackData over 200 characters', (b) => ({ messages: [{ ...b.messages[0], callbackData: 'x'.repeat(201) }] }), 'messages[0].callbackData'],
    ['a notifyContentType other than JSON/XML', (b) => ({ messages: [{ ...b.messages[0], notifyContentType: 'text/plain' }] }), 'messages[0].notifyContentType'],
    ['a notifyUrl that is not http(s)', (b) => ({ messages: [{ ...b.messages[0], notifyUrl: 'ftp://example.com/x' }] }), 'messages[0].notifyUrl'],
    ['a validityPeriod of 0', (b) => ({ messages: [{ ...b.messages[0], validityPeriod: 0 }] }), 'messages[0].validityPeriod'],
    ['a sendAt without offset', (b) => ({ messages: [{ ...b.messages[0], sendAt: '2030-07-07T17:00:00' }] }), 'messages[0].sendAt'],
    ['a sendAt that is no date', (b) => ({ messages: [{ ...b.messages[0], sendAt: 'tomorrow' }] }), 'messages[0].sendAt'],
    ['a window without days', (b) => ({ messages: [{ ...b.messages[0], deliveryTimeWindow: { days: [] } }] }), 'messages[0].deliveryTimeWindow.days'],
    ['a window with an unknown day', (b) => ({ messages: [{ ...b.messages[0], deliveryTimeWindow: { days: ['FUNDAY'] } }] }), 'messages[0].deliveryTimeWindow.days[0]'],
    ['a window with from but no to', (b) => ({ messages: [{ ...b.messages[0], deliveryTimeWindow: { days: ['MONDAY'], from: { hour: 6, minute: 0 } } }] }), 'messages[0].deliveryTimeWindow.from'],
    ['a window hour of 24', (b) => ({ messages: [{ ...b.messages[0], deliveryTimeWindow: { days: ['MONDAY'], from: { hour: 24, minute: 0 }, to: { hour: 10, minute: 0 } } }] }), 'messages[0].deliveryTimeWindow.from.hour'],
    ['a window minute of 60', (b) => ({ messages: [{ ...b.messages[0], deliveryTimeWindow: { days: ['MONDAY'], from: { hour: 6, minute: 0 }, to: { hour: 10, minute: 60 } } }] }), 'messages[0].deliveryTimeWindow.to.minute'],
    ['an unknown time zone', (b) => ({ messages: [{ ...b.messages[0], deliveryTimeWindow: { days: ['MONDAY'], timeZone: 'Mars/Olympus' } }] }), 'messages[0].deliveryTimeWindow.timeZone'],
    ['a tracking track other than SMS/URL', (b) => ({ ...b, tracking: { track: 'EMAIL' } }), 'tracking.track'],
    ['a speed limit of 0', (b) => ({ ...b, sendingSpeedLimit: { amount: 0, timeUnit: 'MINUTE' } }), 'sendingSpeedLimit.amount'],
    ['a speed limit unit of WEEK', (b) => ({ ...b, sendingSpeedLimit: { amount: 5, timeUnit: 'WEEK' } }), 'sendingSpeedLimit.timeUnit'],
    ['a duplicate messageId within the request', (b) => ({ messages: [{ ...b.messages[0], destinations: [{ to: '41793026727', messageId: 'x' }, { to: '41793026731', messageId: 'x' }] }] }), 'messages[0].destinations[1].messageId'],
    ['a bulkId with spaces', (b) => ({ ...b, bulkId: 'has spaces' }), 'bulkId'],
    ['a text with a NUL', (b) => ({ messages: [{ ...b.messages[0], text: 'Hi\u0000there' }] }), 'messages[0].text'],
    ['a text with an escape character', (b) => ({ messages: [{ ...b.messages[0], text: 'Hi \u001b[31m' }] }), 'messages[0].text'],
    ['a text with a lone surrogate', (b) => ({ messages: [{ ...b.messages[0], text: 'Hi \ud83d there' }] }), 'messages[0].text'],
    ['an emoji sender', (b) => ({ messages: [{ ...b.messages[0], from: 'Shop\u{1F600}' }] }), 'messages[0].from'],
    ['a sendAt more than 180 days ahead', (b) => ({ messages: [{ ...b.messages[0], sendAt: new Date(Date.now() + 181 * 86_400_000).toISOString() }] }), 'messages[0].sendAt'],
  ];

  test.each(cases)('%s', async (_name, mutate, field) => {
    const before = await storedBulkCount();
    const res = await post().send(mutate(valid()) as object).expect(400);
    const exception = res.body.requestError.serviceException;
    expect(exception.messageId).toBe('BAD_REQUEST');
    expect(Object.keys(exception.validationErrors)).toContain(field);
    expect(await storedBulkCount()).toBe(before);
  });

  test('malformed JSON is a 400 in the Infobip shape', async () => {
    const res = await post().set('Content-Type', 'application/json').send('{"messages": [').expect(400);
    expect(res.body.requestError.serviceException.messageId).toBe('BAD_REQUEST');
  });
});

test('a bulkId the account already used is refused and nothing is sent twice', async () => {
  const body = { ...valid(), bulkId: 'dup-1' };
  await post().send(body).expect(200);
  await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'dup-1')).result();
  const accepted = suite.stack.simulator.acceptedCount;

  const res = await post().send(body).expect(409);
  expect(res.body.requestError.serviceException.text).toMatch(/dup-1 is already used/);
  expect(suite.stack.simulator.acceptedCount).toBe(accepted);

  // Another account may use the same bulkId: ids are scoped per account.
  await request(suite.app).post('/sms/2/text/advanced').set('Authorization', 'App globex-secret-key-2').send(body).expect(200);
});

test('a messageId the account already used is refused', async () => {
  const first = { messages: [{ destinations: [{ to: '41793026727', messageId: 'taken-1' }], text: 'a' }] };
  await post().send(first).expect(200);
  const res = await post().send(first).expect(409);
  expect(res.body.requestError.serviceException.messageId).toBe('DUPLICATE_MESSAGE_ID');
});

test('a past sendAt is accepted and sent now; transliteration and smsCount apply', async () => {
  const res = await post()
    .send({
      bulkId: 'translit',
      messages: [
        {
          destinations: [{ to: '+41793026727' }],
          text: 'Artık Ulusal Dil Tanımlayıcısı ile Türkçe karakterli smslerinizi rahatlıkla iletebilirsiniz.',
          transliteration: 'TURKISH',
          language: { languageCode: 'TR' },
          sendAt: '2015-07-07T17:00:00.000+01:00',
          validityPeriod: 5000,
        },
      ],
    })
    .expect(200);
  expect(res.body.messages[0]).toMatchObject({ to: '41793026727', smsCount: 1 });
  await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'translit')).result();
  const [row] = await suite.stack.repo.listBulkMessages('acme', 'translit');
  expect(row!.text).toBe('Artik Ulusal Dil Tanimlayicisi ile Türkce karakterli smslerinizi rahatlikla iletebilirsiniz.');
  expect(row!.validity_ends_at - row!.send_at).toBe(2880 * 60_000);
});

test('tracking returns a trackingProcessKey', async () => {
  const res = await post().send({ ...valid(), tracking: { track: 'SMS', type: 'MY_CAMPAIGN' } }).expect(200);
  expect(res.body.trackingProcessKey).toMatch(/^[0-9A-F]{32}$/);
});

describe('XML', () => {
  const xmlRequest = `<?xml version="1.0" encoding="UTF-8"?>
<request>
<bulkId>XML-BULK-1</bulkId>
<messages>
<message>
<from>InfoSMS</from>
<destinations>
<destination><to>41793026727</to><messageId>XML-MSG-1</messageId></destination>
<destination><to>41793026731</to></destination>
</destinations>
<text>Hello &amp; welcome</text>
<flash>false</flash>
<validityPeriod>720</validityPeriod>
</message>
<message>
<from>41793026700</from>
<destinations><destination><to>41793026785</to></destination></destinations>
<text>Scheduled</text>
<sendAt>2015-07-07T17:00:00.000+01:00</sendAt>
<deliveryTimeWindow>
<from><hour>0</hour><minute>0</minute></from>
<to><hour>23</hour><minute>59</minute></to>
<days>MONDAY</days><days>TUESDAY</days><days>WEDNESDAY</days><days>THURSDAY</days><days>FRIDAY</days><days>SATURDAY</days><days>SUNDAY</days>
</deliveryTimeWindow>
</message>
</messages>
</request>`;

  test('an XML request gets an XML smsResponse, and the bulk is stored as sent', async () => {
    const res = await request(suite.app)
      .post('/sms/2/text/advanced')
      .set('Authorization', AUTH)
      .set('Content-Type', 'application/xml')
      .send(xmlRequest)
      .expect(200)
      .expect('Content-Type', /application\/xml/);
    const doc = new XMLParser({ parseTagValue: false, isArray: (n) => n === 'message' }).parse(res.text);
    expect(doc.smsResponse.bulkId).toBe('XML-BULK-1');
    const messages = doc.smsResponse.messages.message;
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatchObject({
      to: '41793026727',
      messageId: 'XML-MSG-1',
      status: { groupId: '1', groupName: 'PENDING', id: '26', name: 'PENDING_ACCEPTED' },
    });
    const rows = await suite.stack.repo.listBulkMessages('acme', 'XML-BULK-1');
    expect(rows.map((r) => r.text)).toEqual(['Hello & welcome', 'Hello & welcome', 'Scheduled']);
    expect(rows[0]!.validity_ends_at - rows[0]!.send_at).toBe(720 * 60_000);
    await suite.temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'XML-BULK-1')).result();
  });

  test('a JSON request with Accept: application/xml gets XML', async () => {
    const res = await post().set('Accept', 'application/xml').send(valid()).expect(200);
    expect(res.text).toMatch(/^<\?xml[^>]*><smsResponse><bulkId>/);
  });

  test('an invalid XML request gets an XML error body', async () => {
    const res = await request(suite.app)
      .post('/sms/2/text/advanced')
      .set('Authorization', AUTH)
      .set('Content-Type', 'application/xml')
      .send('<request><messages><message><text>x</text></message></messages></request>')
      .expect(400)
      .expect('Content-Type', /application\/xml/);
    expect(res.text).toContain('<requestError><serviceException><messageId>BAD_REQUEST</messageId>');
  });

  test('a text with tabs, line breaks and emoji is accepted', async () => {
    await post().send({ messages: [{ from: 'InfoSMS', destinations: [{ to: '41793026727' }], text: 'Line 1\r\n\tLine 2 \u{1F600}' }] }).expect(200);
  });

  test('an XML request with Accept: */* (curl, fetch) is answered in XML', async () => {
    const res = await request(suite.app)
      .post('/sms/2/text/advanced')
      .set('Authorization', AUTH)
      .set('Content-Type', 'application/xml')
      .set('Accept', '*/*')
      .send('<request><messages><message><from>InfoSMS</from><destinations><destination><to>41793026727</to></destination></destinations><text>Hi</text></message></messages></request>')
      .expect(200)
      .expect('Content-Type', /application\/xml/);
    expect(res.text).toContain('<smsResponse>');
  });

  test.each([
    ['an external entity', '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'],
    ['an internal entity', '<!DOCTYPE r [<!ENTITY x "expanded">]>'],
    ['billion laughs', '<!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'],
  ])('XML with a DOCTYPE (%s) is refused with 400 in the XML error body, nothing stored', async (_name, doctype) => {
    const before = await storedBulkCount();
    const res = await request(suite.app)
      .post('/sms/2/text/advanced')
      .set('Authorization', AUTH)
      .set('Content-Type', 'application/xml')
      .send(`<?xml version="1.0"?>${doctype}<request><messages><message><from>InfoSMS</from><destinations><destination><to>41793026727</to></destination></destinations><text>&x;</text></message></messages></request>`)
      .expect(400)
      .expect('Content-Type', /application\/xml/);
    expect(res.text).toContain('<messageId>BAD_REQUEST</messageId>');
    expect(res.text).toContain('DOCTYPE');
    expect(await storedBulkCount()).toBe(before);
  });

  test('malformed XML is refused', async () => {
    const res = await request(suite.app)
      .post('/sms/2/text/advanced')
      .set('Authorization', AUTH)
      .set('Content-Type', 'application/xml')
      .send('<request><messages>')
      .expect(400);
    expect(res.text).toContain('BAD_REQUEST');
  });
});
