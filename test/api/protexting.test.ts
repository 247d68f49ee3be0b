/**
 * The ProTexting dialect end to end on a real dev server: the seed's group schedule in JSON and XML, field by field;
 * TypeRecipients single vs double opt-in; the handset's YES and STOP through the simulator's inbound path (STOP also
 * for a bulk already accepted, in the Infobip dialect); groups, contacts, MMS templates; US Eastern dates; auth and
 * account isolation.
 */
import { XMLParser } from 'fast-xml-parser';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GifWriter } from 'omggif';
import request from 'supertest';
import { ContactStore } from '../../db/contacts';
import { devServerSuite, eventually } from '../helpers/stack';

const suite = devServerSuite({ simulator: { deliveryDelayMs: 100 } });
const ACME = 'acme-secret-key-1';
const GLOBEX = 'globex-secret-key-2';
const ACME_NUMBER = '15550001111';
const api = () => request(suite.app);
const post = (path: string, body: unknown, key = ACME) => api().post(`/v1${path}?access_token=${key}`).set('Accept', 'application/json').send(body as object);
const get = (path: string, key = ACME) => api().get(`/v1${path}${path.includes('?') ? '&' : '?'}access_token=${key}`).set('Accept', 'application/json');

const SEED_KEYS = [
  'Id',
  'CampaignName',
  'Message',
  'DateTime',
  'GroupIds',
  'TypeRecipients',
  'ContactsCount',
  'Status_Id',
  'Status_Description',
  'Type_Id',
  'Type_Description',
  'MmsTemplateId',
  'Subject',
].sort();

let customers: number;
let vips: number;
let store: ContactStore;

async function createContact(number: string, groupIds: number[], key = ACME) {
  return (await post('/contacts/create', { fnumber: number, ffirstname: 'F', GroupIds: groupIds.map(String) }, key).expect(201)).body as { Id: string };
}

/** What the simulator accepted for a campaign's bulk: the bare numbers it went to. */
async function sentNumbers(campaignId: string): Promise<string[]> {
  const row = await suite.stack.db.selectFrom('campaigns').select('bulk_id').where('account_id', '=', 'acme').where('number', '=', Number(campaignId)).executeTakeFirstOrThrow();
  const rows = await suite.stack.repo.listBulkMessages('acme', row.bulk_id);
  return rows.filter((r) => suite.stack.simulator.hasAccepted(`acme:${r.message_id}`)).map((r) => r.to_number).sort();
}

beforeAll(async () => {
  store = new ContactStore(suite.stack.db);
  customers = (await post('/groups/create', { fname: 'Customers', fnote: 'All paying customers' }).expect(201)).body.Id;
  vips = (await post('/groups/create', { fname: 'VIPs' }).expect(201)).body.Id;
  await createContact('16462310001', [customers]);
  await createContact('16462310002', [customers, vips]);
  await createContact('16462310003', [vips]);
});

test("the seed's request gives the seed's reply: one item, every field with the seed's JSON type", async () => {
  const res = await post('/sms/send-group-schedule-message', { Message: 'Hello World!', GroupIds: [String(customers), String(vips)] }).expect(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(Array.isArray(res.body)).toBe(true);
  expect(res.body).toHaveLength(1);
  const item = res.body[0];
  expect(Object.keys(item).sort()).toEqual(SEED_KEYS);
  expect(item).toEqual({
    Id: expect.stringMatching(/^\d+$/),
    CampaignName: '',
    Message: 'Hello World!',
    DateTime: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
    GroupIds: [String(customers), String(vips)],
    TypeRecipients: 0,
    ContactsCount: '3',
    Status_Id: 3,
    Status_Description: 'Approved and Scheduled',
    Type_Id: 1,
    Type_Description: 'SMS',
    MmsTemplateId: '',
    Subject: '',
  });
  // Sent now, to the three contacts once each (16462310002 is in both groups).
  expect(await eventually(async () => ((await sentNumbers(item.Id)).length === 3 ? sentNumbers(item.Id) : undefined))).toEqual(['16462310001', '16462310002', '16462310003']);
  // GroupIds given as numbers are read the same way.
  const numeric = await post('/sms/send-group-schedule-message', { Message: 'Numbers', GroupIds: [vips], DateTime: '2027-01-15 10:00:00' }).expect(200);
  expect(numeric.body[0]).toMatchObject({ GroupIds: [String(vips)], ContactsCount: '2', DateTime: '2027-01-15 10:00:00' });
});

test('XML in and XML out: <response><item>, GroupIds as nested items, empty values as <Tag/>', async () => {
  const xml = `<?xml version="1.0"?><request><Message>Hello XML</Message><CampaignName>Xml test</CampaignName><GroupIds><item>${customers}</item></GroupIds><DateTime>2027-01-15 10:00:00</DateTime></request>`;
  const res = await api()
    .post(`/v1/sms/send-group-schedule-message?access_token=${ACME}`)
    .set('Content-Type', 'application/xml')
    .set('Accept', 'application/xml')
    .send(xml)
    .expect(200);
  expect(res.headers['content-type']).toMatch(/^application\/xml/);
  expect(res.text).toContain('<MmsTemplateId/>');
  expect(res.text).toContain('<Subject/>');
  const doc = new XMLParser({ parseTagValue: false }).parse(res.text);
  const item = doc.response.item;
  expect(Object.keys(item).sort()).toEqual(SEED_KEYS);
  expect(item).toMatchObject({
    Id: expect.stringMatching(/^\d+$/),
    CampaignName: 'Xml test',
    Message: 'Hello XML',
    DateTime: '2027-01-15 10:00:00',
    GroupIds: { item: String(customers) },
    TypeRecipients: '0',
    ContactsCount: '2',
    Status_Id: '3',
    Status_Description: 'Approved and Scheduled',
    Type_Id: '1',
    Type_Description: 'SMS',
  });
  // A validation error in XML too: a list of field/message items.
  const bad = await api().post(`/v1/groups/create?access_token=${ACME}`).set('Content-Type', 'application/xml').set('Accept', 'application/xml').send('<request><fname>x</fname></request>').expect(422);
  expect(new XMLParser().parse(bad.text).response.item).toMatchObject({ field: 'fname', message: expect.any(String) });
});

test('DateTime is US Eastern: standard and daylight time convert right; a time the spring-forward skips is refused', async () => {
  const at = async (dateTime: string) => {
    const res = await post('/sms/send-group-schedule-message', { Message: 'Zone test', GroupIds: [customers], DateTime: dateTime }).expect(200);
    const row = await suite.stack.db.selectFrom('campaigns').select('bulk_id').where('account_id', '=', 'acme').where('number', '=', Number(res.body[0].Id)).executeTakeFirstOrThrow();
    const bulk = await suite.stack.db.selectFrom('bulks').select('send_at').where('account_id', '=', 'acme').where('bulk_id', '=', row.bulk_id).executeTakeFirstOrThrow();
    expect(res.body[0].DateTime).toBe(dateTime);
    return new Date(Number(bulk.send_at)).toISOString();
  };
  // 2027-03-14 is the spring-forward day in New York: EST (-05:00) the day before, EDT (-04:00) the day after.
  expect(await at('2027-03-13 10:00:00')).toBe('2027-03-13T15:00:00.000Z');
  expect(await at('2027-03-15 10:00:00')).toBe('2027-03-15T14:00:00.000Z');
  const gap = await post('/sms/send-group-schedule-message', { Message: 'Zone test', GroupIds: [customers], DateTime: '2027-03-14 02:30:00' }).expect(422);
  expect(gap.body).toEqual([{ field: 'DateTime', message: expect.stringContaining('US Eastern') }]);
  await post('/sms/send-group-schedule-message', { Message: 'Zone test', GroupIds: [customers], DateTime: '15/01/2027 10:00' }).expect(422);
});

test('double opt-in: the call to action goes from the account number; YES confirms and joins the groups; TypeRecipients 1 reaches only the confirmed', async () => {
  const group = (await post('/groups/create', { fname: 'Opt-in list' }).expect(201)).body.Id as number;
  await createContact('16462310011', [group]); // single opt-in only
  await createContact('16462310012', [group]); // will opt out
  await post('/contacts/opt-out', { PhoneNumber: '16462310012' }).expect(200);
  const asked = await post('/contacts-opt-in/create', { PhoneNumber: '16462310013', GroupIds: [String(group)], CTAMessage: 'Reply YES for deals', ConfirmMessage: 'You are in' }).expect(201);
  expect(asked.body).toEqual({ message: 'Confirmation message successfully sent' });
  // The call to action went to the handset from the account's own number.
  const cta = await eventually(async () => {
    const rows = await suite.stack.db.selectFrom('messages').selectAll().where('account_id', '=', 'acme').where('to_number', '=', '16462310013').execute();
    return rows.find((r) => suite.stack.simulator.hasAccepted(`acme:${r.message_id}`));
  });
  expect(cta).toMatchObject({ from_addr: ACME_NUMBER, text: 'Reply YES for deals' });

  suite.stack.simulator.deliverInbound({ from: '16462310013', to: ACME_NUMBER, text: ' yes ' });
  const confirmed = await eventually(async () => {
    const c = await store.findByMobile('acme', '+16462310013');
    return c?.optIn === 'DOUBLE_CONFIRMED' ? c : undefined;
  });
  expect(confirmed.groups).toContain('Opt-in list');
  // The request's ConfirmMessage answers the YES, once, from the account's number.
  const toHandset = async () => suite.stack.db.selectFrom('messages').selectAll().where('account_id', '=', 'acme').where('to_number', '=', '16462310013').execute();
  const confirmation = await eventually(async () => (await toHandset()).find((r) => r.text === 'You are in' && suite.stack.simulator.hasAccepted(`acme:${r.message_id}`)));
  expect(confirmation.from_addr).toBe(ACME_NUMBER);
  const found = await get('/contacts/find?number=16462310013').expect(200);
  expect(found.body).toMatchObject({ Number: '16462310013', OptedOut: 0, GroupIds: [group] });
  // The same YES again (a redelivery or a second reply) changes nothing and keeps one inbound row per delivery.
  suite.stack.simulator.deliverInbound({ from: '16462310013', to: ACME_NUMBER, text: 'YES' });

  await eventually(async () => (await suite.stack.db.selectFrom('inbound_messages').selectAll().where('from_number', '=', '16462310013').execute()).length === 2);
  expect((await toHandset()).filter((r) => r.text === 'You are in')).toHaveLength(1);
  const single = await post('/sms/send-group-schedule-message', { Message: 'To everyone not opted out', GroupIds: [group], TypeRecipients: 0 }).expect(200);
  const double = await post('/sms/send-group-schedule-message', { Message: 'To the confirmed', GroupIds: [group], TypeRecipients: 1 }).expect(200);
  expect(single.body[0]).toMatchObject({ TypeRecipients: 0, ContactsCount: '2' });
  expect(double.body[0]).toMatchObject({ TypeRecipients: 1, ContactsCount: '1' });
  expect(await eventually(async () => ((await sentNumbers(single.body[0].Id)).length === 2 ? sentNumbers(single.body[0].Id) : undefined))).toEqual(['16462310011', '16462310013']);
  expect(await eventually(async () => ((await sentNumbers(double.body[0].Id)).length === 1 ? sentNumbers(double.body[0].Id) : undefined))).toEqual(['16462310013']);

  const inbound = await get('/sms/inbound-messages').expect(200);
  expect(inbound.body.filter((m: { From: string }) => m.From === '16462310013')).toEqual([
    expect.objectContaining({ To: ACME_NUMBER, Message: 'YES', Keyword: 'YES' }),
    expect.objectContaining({ To: ACME_NUMBER, Message: ' yes ', Keyword: 'YES' }),
  ]);
});

test('STOP opts a number out in every dialect: a bulk accepted before it sends nothing more to that number', async () => {
  // An Infobip bulk due in 3 s holds messages to two numbers; one of them answers STOP before it is due.
  const sendAt = new Date(Date.now() + 3000).toISOString().replace('Z', '+0000');
  const bulk = await api()
    .post('/sms/2/text/advanced')
    .set('Authorization', `App ${ACME}`)
    .send({ messages: [{ from: ACME_NUMBER, text: 'Due soon', sendAt, destinations: [{ to: '16462310021', messageId: 'stop-1' }, { to: '16462310022', messageId: 'stop-2' }] }] })
    .expect(200);
  suite.stack.simulator.deliverInbound({ from: '16462310021', to: ACME_NUMBER, text: 'Stop' });
  // And a STOP to a number no account owns is kept, but opts nobody out.
  suite.stack.simulator.deliverInbound({ from: '16462310022', to: '15559999999', text: 'STOP' });
  await eventually(async () => (await suite.stack.db.selectFrom('opt_outs').selectAll().where('account_id', '=', 'acme').where('number', '=', '16462310021').executeTakeFirst()) ?? undefined);
  const rows = await eventually(async () => {
    const r = await suite.stack.repo.listBulkMessages('acme', bulk.body.bulkId);
    return r.every((m) => m.state === 'FINAL' || m.state === 'SUBMITTED') && r.some((m) => m.status_name === 'REJECTED_DND') ? r : undefined;
  }, 30_000);
  expect(rows.find((r) => r.message_id === 'stop-1')).toMatchObject({ status_name: 'REJECTED_DND', provider_message_id: null });
  expect(suite.stack.simulator.hasAccepted('acme:stop-1')).toBe(false);
  await eventually(async () => suite.stack.simulator.hasAccepted('acme:stop-2'));
  const unrouted = await suite.stack.db.selectFrom('inbound_messages').selectAll().where('to_number', '=', '15559999999').execute();
  expect(unrouted).toEqual([expect.objectContaining({ account_id: null, keyword: 'STOP' })]);
  expect(await suite.stack.db.selectFrom('opt_outs').selectAll().where('number', '=', '16462310022').execute()).toEqual([]);
  // No call to action to a number that said STOP (ProTexting's code 1); a START from it takes the STOP back.
  expect((await post('/contacts-opt-in/create', { PhoneNumber: '16462310021', GroupIds: [customers] }).expect(422)).body).toEqual({ name: 'Unprocessable entity', message: 'Phone number is opted out.', code: 1, status: 422 });
  suite.stack.simulator.deliverInbound({ from: '16462310021', to: ACME_NUMBER, text: 'START' });
  await eventually(async () => (await suite.stack.db.selectFrom('opt_outs').selectAll().where('number', '=', '16462310021').execute()).length === 0);
  await post('/contacts-opt-in/create', { PhoneNumber: '16462310021', GroupIds: [customers], SendCTAMessage: 0 }).expect(201);
  await post('/contacts/opt-out', { PhoneNumber: '16462310021' }).expect(200);
  // The opted-out number is left out of later campaigns too, and shows as opted out.
  const group = (await post('/groups/create', { fname: 'After stop' }).expect(201)).body.Id as number;
  const contact = await post('/contacts/create', { fnumber: '16462310021', GroupIds: [group] }).expect(201);
  expect(contact.body.OptedOut).toBe(1);
  await post('/sms/send-group-schedule-message', { Message: 'Nobody left', GroupIds: [group] }).expect(422);
});

test('groups and contacts: 201 with their shapes, 422 naming the field, 404 for what is not there', async () => {
  const group = await post('/groups/create', { fname: 'Shapes', fnote: 'A note' }).expect(201);
  expect(group.body).toEqual({
    Id: expect.any(Number),
    Name: 'Shapes',
    Note: 'A note',
    KeywordId: 0,
    ParentId: 0,
    DateCreated: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
    DateUpdated: expect.any(String),
    PhoneNumberIds: [],
  });
  const contact = await post('/contacts/create', { fnumber: '16462310031', ffirstname: 'Ann', flastname: 'Lee', femail: 'ann@example.com', fbirthdate: '1990-02-03', fzipcode: '10001', fcity: 'New York', GroupIds: [String(group.body.Id)] }).expect(201);
  expect(contact.body).toEqual({
    Id: expect.any(String),
    Number: '16462310031',
    OptedOut: 0,
    FirstName: 'Ann',
    LastName: 'Lee',
    BirthDay: '1990-02-03',
    Email: 'ann@example.com',
    Zip: '10001',
    City: 'New York',
    DateCreated: expect.any(String),
    DateUpdated: expect.any(String),
    GroupIds: [group.body.Id],
    CustomFieldIds: [],
  });
  expect((await get(`/groups/view?id=${group.body.Id}`).expect(200)).body).toEqual(group.body);
  expect((await get(`/contacts/view?id=${contact.body.Id}`).expect(200)).body).toMatchObject({ Number: '16462310031', OptedOutViaApi: 0, CustomFields: [] });
  const list = await get('/groups/index').expect(200);
  expect(list.body.map((g: { Name: string }) => g.Name)).toEqual(expect.arrayContaining(['Customers', 'VIPs', 'Shapes']));
  expect(list.headers).toMatchObject({ 'x-pagination-current-page': '1', 'x-pagination-per-page': '100', 'x-pagination-total-count': String(list.body.length) });

  expect((await post('/groups/create', {}).expect(422)).body).toEqual([{ field: 'fname', message: expect.any(String) }]);
  expect((await post('/contacts/create', { fnumber: '123', GroupIds: [group.body.Id] }).expect(422)).body).toEqual([{ field: 'fnumber', message: expect.any(String) }]);
  expect((await post('/contacts/create', { fnumber: '16462310032' }).expect(422)).body).toEqual([{ field: 'GroupIds', message: expect.any(String) }]);
  expect((await post('/contacts/create', { fnumber: '16462310031', GroupIds: [group.body.Id] }).expect(422)).body).toEqual([{ field: 'fnumber', message: expect.stringContaining('taken') }]);
  expect((await post('/contacts/create', { fnumber: '16462310033', GroupIds: [999999] }).expect(422)).body).toEqual([{ field: 'GroupIds', message: expect.any(String) }]);
  expect((await post('/sms/send-group-schedule-message', { GroupIds: [group.body.Id] }).expect(422)).body).toEqual([{ field: 'Message', message: expect.any(String) }]);
  expect((await get('/groups/view?id=999999').expect(404)).body).toMatchObject({ name: 'Not Found', status: 404 });
  expect((await get('/contacts/find?number=16462319999').expect(404)).body).toMatchObject({ name: 'Not Found', status: 404 });
  await get('/no/such/route').expect(404);
});

test('auth and isolation: a wrong or missing access_token is 401; another account sees none of it', async () => {
  const missing = await api().get('/v1/groups/index').set('Accept', 'application/json').expect(401);
  expect(missing.body).toEqual({ name: 'Unauthorized', message: expect.any(String), code: 0, status: 401 });
  await get('/groups/index', 'not-a-key').expect(401);
  expect((await get('/groups/index', GLOBEX).expect(200)).body).toEqual([]);
  await get(`/groups/view?id=${customers}`, GLOBEX).expect(404);
  await get('/contacts/find?number=16462310001', GLOBEX).expect(404);
  expect((await get('/sms/group-schedule-messages', GLOBEX).expect(200)).body).toEqual([]);
  expect((await post('/sms/send-group-schedule-message', { Message: 'Not yours', GroupIds: [customers] }, GLOBEX).expect(422)).body).toEqual([{ field: 'GroupIds', message: expect.any(String) }]);
  const mine = await get('/sms/group-schedule-messages').expect(200);
  expect(mine.body.length).toBeGreaterThan(0);
  await api().delete(`/v1/sms/delete-group-schedule-message?id=${mine.body[0].Id}&access_token=${GLOBEX}`).set('Accept', 'application/json').expect(404);
});

test('a scheduled group campaign can be deleted (mirroring the single-message delete); then it is gone from the list', async () => {
  const res = await post('/sms/send-group-schedule-message', { Message: 'To delete', GroupIds: [customers], DateTime: '2027-01-20 09:00:00', CampaignName: 'Delete me' }).expect(200);
  const id = res.body[0].Id as string;
  const deleted = await api().delete(`/v1/sms/delete-group-schedule-message?id=${id}&access_token=${ACME}`).set('Accept', 'application/json').expect(200);
  expect(deleted.body).toEqual([{ message: 'Group Scheduled Message successfully deleted!' }]);
  await eventually(async () => !(await get('/sms/group-schedule-messages').expect(200)).body.some((c: { Id: string }) => c.Id === id));
  expect((await api().delete(`/v1/sms/delete-group-schedule-message?id=${id}&access_token=${ACME}`).set('Accept', 'application/json').expect(422)).body).toMatchObject({ code: 4, status: 422 });
  expect(await sentNumbers(id)).toEqual([]);
});

describe('MMS templates', () => {
  let server: http.Server;
  let base: string;
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  const gif = (frames: number) => {
    const buf = Buffer.alloc(1024);
    const writer = new GifWriter(buf, 2, 2, { palette: [0x000000, 0xffffff], loop: frames > 1 ? 0 : undefined });
    for (let i = 0; i < frames; i++) writer.addFrame(0, 0, 2, 2, [i % 2, 1, 0, 1], { delay: 10 });
    return buf.subarray(0, writer.end());
  };
  beforeAll(async () => {
    const media: Record<string, Buffer> = { '/still.gif': gif(1), '/animated.gif': gif(3), '/pixel.png': png, '/notes.txt': Buffer.from('not an image') };
    server = http.createServer((req, res) => {
      if (req.url === '/huge.png') {
        res.writeHead(200, { 'content-length': String(80 * 1024 * 1024) });
        res.write(png);
        return; // never finishes: the cap must refuse it from its declared size
      }
      const body = media[req.url ?? ''];
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('approved, rejected and failed by the media rules; only an approved one sends, and the simulator gets subject and media', async () => {
    const create = async (path: string) => (await post('/mms-template/create', { ResourceLink: `${base}${path}`, Name: path }).expect(201)).body;
    const still = await create('/pixel.png');
    expect(still).toEqual({ Id: expect.any(Number), Name: '/pixel.png', Url: `${base}/pixel.png`, DateCreated: expect.any(String), Status_Id: 0, Status_Description: 'Pending for processing' });
    const ids = {
      png: still.Id as number,
      gif: (await create('/still.gif')).Id as number,
      animated: (await create('/animated.gif')).Id as number,
      text: (await create('/notes.txt')).Id as number,
      huge: (await create('/huge.png')).Id as number,
      missing: (await create('/missing.png')).Id as number,
    };
    const privateLink = (await post('/mms-template/create', { ResourceLink: 'http://10.1.2.3/x.png' }).expect(201)).body.Id as number;
    await suite.stack.templates.settled();
    const statuses = Object.fromEntries(((await get('/mms-template/index').expect(200)).body as Array<{ Id: number; Status_Id: number }>).map((t) => [t.Id, t.Status_Id]));
    expect(statuses).toMatchObject({ [ids.png]: 3, [ids.gif]: 3, [ids.animated]: 4, [ids.text]: 4, [ids.huge]: 4, [ids.missing]: 5, [privateLink]: 4 });
    expect((await suite.stack.templates.get('acme', ids.animated))?.reason).toMatch(/animated/);
    await post('/mms-template/create', { ResourceLink: 'not a url' }).expect(422);

    // A campaign with a template that is not approved is refused; with an approved one it goes as MMS.
    expect((await post('/sms/send-group-schedule-message', { Message: 'Look', GroupIds: [vips], MmsTemplateId: ids.animated, Subject: 'Hi' }).expect(422)).body).toMatchObject({ code: 4, message: expect.stringContaining('not approved') });
    expect((await post('/sms/send-group-schedule-message', { Message: 'Look', GroupIds: [vips], MmsTemplateId: 424242 }).expect(422)).body).toEqual([{ field: 'MmsTemplateId', message: expect.any(String) }]);
    await post('/sms/send-group-schedule-message', { Message: 'Look', GroupIds: [vips], MmsTemplateId: ids.png, Subject: 'Hi' }, GLOBEX).expect(422);
    const mms = await post('/sms/send-group-schedule-message', { Message: 'Look', GroupIds: [vips], MmsTemplateId: String(ids.png), Subject: 'Hi', MmsHighResolution: 1 }).expect(200);
    expect(mms.body[0]).toMatchObject({ Type_Id: 2, Type_Description: 'MMS', MmsTemplateId: String(ids.png), Subject: 'Hi' });
    const row = await suite.stack.db.selectFrom('campaigns').select('bulk_id').where('account_id', '=', 'acme').where('number', '=', Number(mms.body[0].Id)).executeTakeFirstOrThrow();
    const messages = await suite.stack.repo.listBulkMessages('acme', row.bulk_id);
    expect(messages.map((m) => m.to_number).sort()).toEqual(['16462310002', '16462310003']);
    await eventually(async () => messages.every((m) => suite.stack.simulator.mmsAccepted.has(`acme:${m.message_id}`)));
    for (const m of messages) expect(suite.stack.simulator.mmsAccepted.get(`acme:${m.message_id}`)).toEqual({ subject: 'Hi', mediaUrl: `${base}/pixel.png` });
  });
});
