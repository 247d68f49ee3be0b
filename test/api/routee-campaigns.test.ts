/**
 * Routee campaigns end to end on a real dev server: recipients from numbers, contacts and groups, de-duplicated,
 * blacklist honoured, bodies personalized; scheduled campaigns updated and deleted; every documented error code.
 */
import { OptOutStore } from '../../db/opt-outs';
import request from 'supertest';
import { CampaignService } from '../../core/campaign-service';
import { CampaignStore } from '../../db/campaigns';
import { ContactStore } from '../../db/contacts';
import { expectedSignature, startReceiver } from '../helpers/receiver';
import { devServerSuite, eventually, TEST_SECRETS } from '../helpers/stack';

const suite = devServerSuite({ simulator: { deliveryDelayMs: 100 } });
const ACME = 'Bearer acme-secret-key-1';
const GLOBEX = 'Bearer globex-secret-key-2';
const api = () => request(suite.app);
const post = (path: string, body: unknown, auth = ACME) => api().post(path).set('Authorization', auth).send(body as object);
const get = (path: string, auth = ACME) => api().get(path).set('Authorization', auth);

function expectRoutee(res: request.Response, status: number, code: string) {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.body.developerMessage).toEqual(expect.any(String));
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Tracked {
  to: string;
  body: string;
  status: { status: string };
}
async function tracked(trackingId: string): Promise<Tracked[]> {
  const res = await get(`/sms/tracking/campaign/${trackingId}?page=0&size=100`).expect(200);
  return res.body.content as Tracked[];
}

let ann: string;
let bob: string;
let eve: string;

beforeAll(async () => {
  await post('/contacts/labels/my', [{ name: 'city', type: 'Text' }]).expect(200);
  ann = (await post('/contacts/my', { mobile: '+306948530921', firstName: 'Ann', labels: [{ name: 'city', value: 'Athens' }] }).expect(200)).body.id;
  bob = (await post('/contacts/my', { mobile: '+306948530922' }).expect(200)).body.id;
  eve = (await post('/contacts/my', { mobile: '+306948530923', firstName: 'Eve' }).expect(200)).body.id;
  await post('/groups/my', { name: 'customers' }).expect(200);
  await post('/groups/my/customers/contacts', [ann, bob, eve]).expect(200);
  await post('/contacts/my/blacklist/Sms', [eve]).expect(200);
  await post('/groups/my', { name: 'blocked' }).expect(200);
  await post('/groups/my/blocked/contacts', [eve]).expect(200);
});

test('a campaign now: numbers, contacts and a group, de-duplicated, blacklist skipped, each body personalized', async () => {
  const res = await post('/sms/campaign', {
    from: 'Shop',
    body: 'Hi [~firstName] from [~city]',
    to: ['+306948530921', '+41793026727'],
    contacts: [ann],
    groups: ['customers'],
    campaignName: 'Spring sale 1',
    fallbackValues: { firstName: 'friend', city: 'home' },
  }).expect(200);
  expect(res.body).toMatchObject({
    trackingId: expect.any(String),
    type: 'Sms',
    from: 'Shop',
    groups: ['customers'],
    campaignName: 'Spring sale 1',
    flash: false,
    respectQuietHours: false,
    fallbackValues: { firstName: 'friend', city: 'home' },
    totalMessages: 3,
    smsAnalysis: {
      numberOfRecipients: 3,
      recipientsPerCountry: { GR: 2, CH: 1 },
      recipientCountries: { '+306948530921': 'GR', '+306948530922': 'GR', '+41793026727': 'CH' },
      recipientsPerGroup: { customers: 2 },
      totalInGroups: 3,
      bodyAnalysis: { unicode: false, parts: 1 },
    },
  });
  expect(res.body.smsAnalysis.contacts[eve]).toEqual({ recipient: '+306948530923', recipientCountry: 'GR', blacklisted: true });
  expect(res.body.smsAnalysis.contacts[ann]).toMatchObject({ blacklisted: false });
  expect(['Queued', 'Running', 'Sent']).toContain(res.body.state);

  const id = res.body.trackingId as string;
  const done = await eventually(async () => {
    const c = await get(`/campaigns/${id}`).expect(200);
    return c.body.state === 'Sent' && c.body.statuses.Delivered === 3 && c.body;
  }, 30_000);
  expect(done.statuses).toEqual({ Queued: 0, Sent: 0, Failed: 0, Delivered: 3, Undelivered: 0, Unsent: 0 });
  const bodies = Object.fromEntries((await tracked(id)).map((m) => [m.to, m.body]));
  expect(bodies).toEqual({
    '+306948530921': 'Hi Ann from Athens', // a number given in `to` that is a contact's gets the contact's values
    '+306948530922': 'Hi friend from home',
    '+41793026727': 'Hi friend from home',
  });
  expect((await tracked(id)).every((m) => m.status.status === 'Delivered')).toBe(true);
});

test('the seed’s array form of fallbackValues fills the body’s labels in order', async () => {
  const res = await post('/sms/campaign', { from: '306900000000', body: 'Dear [~lastName] [~firstName]', contacts: [bob], fallbackValues: ['Customer', 'dear'] }).expect(200);
  const [m] = await eventually(async () => {
    const rows = await tracked(res.body.trackingId);
    return rows.length === 1 && rows;
  });
  expect(m!.body).toBe('Dear Customer dear');
});

test('analyze answers the analysis and sends nothing', async () => {
  const res = await post('/sms/analyze/campaign', { from: 'Shop', body: 'Γειά σου', groups: ['customers'] }).expect(200);
  expect(res.body).toMatchObject({ numberOfRecipients: 2, recipientsPerGroup: { customers: 2 }, bodyAnalysis: { unicode: true, parts: 1 } });
  expect(res.body.trackingId).toBeUndefined();
});

test('a scheduled campaign: Scheduled, updated (recipients, body, date) under the same trackingId, then deleted', async () => {
  const when = inAnHour();
  const created = await post('/sms/campaign', { from: 'Shop', body: 'First', to: ['+41793026728'], scheduledDate: when, campaignName: 'Later one' }).expect(200);
  const id = created.body.trackingId as string;
  expect(created.body).toMatchObject({ state: 'Scheduled', scheduledDate: new Date(when).toISOString(), totalMessages: 1 });

  const later = new Date(Date.now() + 7_200_000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  const updated = await api()
    .put(`/sms/${id}`)
    .set('Authorization', ACME)
    .send({ from: 'Shop', body: 'Second [~firstName]', contacts: [ann, bob], scheduledDate: later, campaignName: 'Later one' })
    .expect(200);
  expect(updated.body).toMatchObject({ trackingId: id, state: 'Scheduled', body: 'Second [~firstName]', totalMessages: 2, scheduledDate: new Date(later).toISOString() });
  expect((await tracked(id)).map((m) => m.body).sort()).toEqual(['Second ', 'Second Ann']);
  // The content it replaced was never sent: its bulk (the trackingId's first) ended canceled.
  await eventually(async () => {
    const old = await suite.stack.repo.listBulkMessages('acme', id);
    return old.length === 1 && old[0]!.status_name === 'REJECTED_CANCELED' && old[0]!.provider_message_id === null;
  });

  expect((await api().delete(`/sms/${id}`).set('Authorization', ACME).expect(200)).body).toEqual({});
  const gone = await get(`/campaigns/${id}`).expect(200);
  expect(gone.body.state).toBe('Cancelled');
  expect(gone.body.statuses.Unsent).toBe(2);
  expectRoutee(await api().delete(`/sms/${id}`).set('Authorization', ACME), 400, '400009002');
  expectRoutee(await api().put(`/sms/${id}`).set('Authorization', ACME).send({ from: 'Shop', body: 'x', to: ['+41793026728'] }), 400, '400009002');
});

test('an update without scheduledDate sends the campaign now', async () => {
  const created = await post('/sms/campaign', { from: 'Shop', body: 'Old', to: ['+41793026729'], scheduledDate: inAnHour() }).expect(200);
  const id = created.body.trackingId as string;
  await api().put(`/sms/${id}`).set('Authorization', ACME).send({ from: 'Shop', body: 'New now', to: ['+41793026729'] }).expect(200);
  const sent = await eventually(async () => {
    const c = await get(`/campaigns/${id}`).expect(200);
    return c.body.state === 'Sent' && c.body;
  }, 30_000);
  expect(sent.statuses.Delivered).toBe(1);
  expect((await tracked(id)).map((m) => m.body)).toEqual(['New now']);
});

test('respectQuietHours holds each message by its recipient’s clock and reports it per country', async () => {
  // 12:30Z tomorrow: 14:30 (or 15:30) in Athens, quiet until 17:00 local.
  const day = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const res = await post('/sms/campaign', { from: 'Shop', body: 'Shh', to: ['+306948530924'], scheduledDate: `${day}T12:30:00Z`, respectQuietHours: true }).expect(200);
  expect(res.body).toMatchObject({ respectQuietHours: true, quietHoursReport: { GR: 1 }, state: 'Scheduled' });
  const [row] = await suite.stack.repo.listBulkMessages('acme', res.body.trackingId);
  expect(new Date(row!.send_at).toISOString()).toMatch(new RegExp(`^${day}T1[45]:00:00.000Z$`));
  await api().delete(`/sms/${res.body.trackingId}`).set('Authorization', ACME).expect(200);
});

test('reminders go to their numbers before and after the campaign; deleting the campaign cancels those not sent', async () => {
  const sendAt = Date.now() + 3_600_000;
  const res = await post('/sms/campaign', {
    from: 'Shop',
    body: 'Sale [~firstName]',
    to: ['+41793026770'],
    scheduledDate: new Date(sendAt).toISOString(),
    fallbackValues: { firstName: 'soon' },
    reminder: { minutesBefore: 30, minutesAfter: 15, to: ['+41793026771', '+41793026771'] },
  }).expect(200);
  const id = res.body.trackingId as string;
  expect(res.body.reminder).toEqual({ minutesBefore: 30, minutesAfter: 15, to: ['+41793026771', '+41793026771'] });
  const before = await suite.stack.repo.listBulkMessages('acme', `${id}~before`);
  const after = await suite.stack.repo.listBulkMessages('acme', `${id}~after`);
  expect(before.map((m) => [m.to_number, m.text, m.send_at])).toEqual([['41793026771', 'Sale soon', sendAt - 30 * 60_000]]);
  expect(after.map((m) => [m.to_number, m.send_at])).toEqual([['41793026771', sendAt + 15 * 60_000]]);
  // Not part of the campaign's own messages.
  expect((await get(`/campaigns/${id}`).expect(200)).body.totalMessages).toBe(1);

  await api().delete(`/sms/${id}`).set('Authorization', ACME).expect(200);
  for (const which of ['before', 'after']) {
    await eventually(async () => (await suite.stack.repo.listBulkMessages('acme', `${id}~${which}`))[0]!.status_name === 'REJECTED_CANCELED');
  }
});

test('a reminder before a campaign that goes now goes now, as does the campaign', async () => {
  const res = await post('/sms/campaign', { from: 'Shop', body: 'Now', to: ['+41793026772'], reminder: { minutesBefore: 10, to: ['+41793026773'] } }).expect(200);
  await eventually(async () => {
    const [m] = await suite.stack.repo.listBulkMessages('acme', `${res.body.trackingId}~before`);
    return m?.provider_message_id !== null && m?.provider_message_id !== undefined;
  });
  await eventually(async () => (await get(`/campaigns/${res.body.trackingId}`)).body.state === 'Sent', 30_000);
});

describe('callbacks', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });
  const received = () =>
    receiver.requests.filter((r) => r.status < 300).map((r) => {
      expect(r.signature).toBe(expectedSignature(r.body, TEST_SECRETS.get('acme')!));
      return JSON.parse(r.body) as Record<string, unknown> & { status?: { name: string }; messageStatuses?: Record<string, number> };
    });

  test('per message on every change, the campaign once at its end, in Routee shapes, signed', async () => {
    const res = await post('/sms/campaign', {
      from: 'Shop',
      body: 'Tracked',
      to: ['+41793026740', '+41793026741'],
      campaignName: 'With callbacks',
      callback: { url: receiver.url, strategy: 'OnChange' },
      campaignCallback: { url: receiver.url, strategy: 'OnCompletion' },
    }).expect(200);
    const id = res.body.trackingId as string;
    expect(res.body.callback).toEqual({ url: receiver.url, strategy: 'OnChange' });
    const campaignDone = await eventually(async () => {
      const told = received().filter((b) => b.trackingId === id);
      return told.length > 0 && told;
    }, 30_000);
    expect(campaignDone).toEqual([
      {
        trackingId: id,
        name: 'With callbacks',
        totalRecipients: 2,
        campaignStatus: 'Sent',
        messageStatuses: { Queued: 0, Sent: 0, Failed: 0, Delivered: 2, Undelivered: 0, Unsent: 0 },
        callbackInfo: { url: receiver.url, strategy: 'OnCompletion' },
      },
    ]);
    const perMessage = received().filter((b) => b.campaignTrackingId === id);
    for (const to of ['+41793026740', '+41793026741']) {
      const mine = perMessage.filter((b) => b.to === to);
      // Every change: submitted (Sent), possibly the operator's acceptance (Sent, DELIVERED_TO_OPERATOR), then Delivered.
      const names = mine.map((b) => b.status!.name);
      expect(names.filter((n, i) => n !== names[i - 1])).toEqual(['Sent', 'Delivered']);
      expect(names.filter((n) => n === 'Delivered')).toHaveLength(1);
      expect(mine[mine.length - 1]!.status).toMatchObject({ name: 'Delivered', reason: { detailedStatus: 'DELIVERED_TO_HANDSET' } });
      expect(mine[mine.length - 1]).toMatchObject({ campaignName: 'With callbacks', from: 'Shop', country: 'CH', part: 1, parts: 1, groups: [], smsId: mine[0]!.messageId });
    }
    // Everything told was final before the campaign closed: nothing more comes.
    expect((await get(`/campaigns/${id}`).expect(200)).body.state).toBe('Sent');
  }, 60_000);

  test('per message the final status only; the campaign on progress, ending with its completion', async () => {
    const to = Array.from({ length: 5 }, (_, i) => `+4179302675${i}`);
    const res = await post('/sms/campaign', {
      from: 'Shop',
      body: 'Final only',
      to,
      callback: { url: receiver.url, strategy: 'OnCompletion' },
      campaignCallback: { url: receiver.url, strategy: 'OnChange' },
    }).expect(200);
    const id = res.body.trackingId as string;
    const told = await eventually(async () => {
      const all = received().filter((b) => b.trackingId === id);
      return all.some((b) => b.campaignStatus === 'Sent') && all;
    }, 30_000);
    expect(told.length).toBeGreaterThanOrEqual(1);
    expect(told.length).toBeLessThanOrEqual(5);
    expect(told.filter((b) => b.campaignStatus === 'Sent')).toHaveLength(1);
    expect(told[told.length - 1]!.messageStatuses!.Delivered).toBe(5);
    const perMessage = received().filter((b) => b.campaignTrackingId === id);
    expect(perMessage.map((b) => b.status!.name)).toEqual(['Delivered', 'Delivered', 'Delivered', 'Delivered', 'Delivered']);
    expect(new Set(perMessage.map((b) => b.to))).toEqual(new Set(to));
  }, 60_000);

  test('a receiver down at first: the campaign callback is retried until it answers, and told once', async () => {
    let refusals = 2;
    receiver.setAnswer(() => (refusals-- > 0 ? 503 : 200));
    try {
      const res = await post('/sms/campaign', { from: 'Shop', body: 'Retry', to: ['+41793026790'], campaignCallback: { url: receiver.url, strategy: 'OnCompletion' } }).expect(200);
      const id = res.body.trackingId as string;
      const ofThis = () => receiver.requests.filter((r) => (JSON.parse(r.body) as { trackingId?: string }).trackingId === id);
      await eventually(async () => ofThis().some((r) => r.status === 200), 30_000);
      expect(ofThis().map((r) => r.status)).toEqual([503, 503, 200]);
      // And the campaign itself went out and finished.
      expect((await get(`/campaigns/${id}`).expect(200)).body.state).toBe('Sent');
    } finally {
      receiver.setAnswer(() => 200);
    }
  }, 60_000);

  test('a callback into a private network is refused before anything is sent', async () => {
    for (const field of ['callback', 'campaignCallback']) {
      const res = await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026760'], [field]: { url: 'http://10.1.2.3/cb', strategy: 'OnChange' } });
      expectRoutee(res, 400, '400005000');
    }
    expect(suite.stack.simulator.stats('acme:')).toMatchObject({ duplicates: 0 });
  });
});

test('errors: unknown id, name taken, no recipients left, unknown contact or group, bad sender, unsupported options', async () => {
  expectRoutee(await get('/campaigns/00000000-0000-0000-0000-000000000000'), 404, '404009001');
  expectRoutee(await api().delete('/sms/00000000-0000-0000-0000-000000000000').set('Authorization', ACME), 404, '404009001');
  await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026730'], campaignName: 'Taken name', scheduledDate: inAnHour() }).expect(200);
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026730'], campaignName: 'Taken name' }), 409, '409009003');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', groups: ['blocked'] }), 400, '400009004');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', contacts: ['ffffffffffffffffffffffff'] }), 404, '404002001');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', groups: ['nope'] }), 404, '404002002');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x' }), 400, '400005000');
  expectRoutee(await post('/sms/campaign', { from: 'ThisSenderIsTooLong', body: 'x', to: ['+41793026730'] }), 400, '400005000');
  expectRoutee(await post('/sms/campaign', { from: '+4179', body: 'x', to: ['+41793026730'] }), 400, '400005000');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['41793026730'] }), 400, '400005000');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026730'], scheduledDate: '2027-01-15T09:00:00' }), 400, '400005000');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026730'], campaignName: 'x' }), 400, '400005000');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026730'], reminder: { to: ['+41793026731'] } }), 400, '400005000');
});

test("another account sees none of acme's campaigns, contacts or groups", async () => {
  const created = await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026731'], scheduledDate: inAnHour() }).expect(200);
  const id = created.body.trackingId as string;
  expectRoutee(await get(`/campaigns/${id}`, GLOBEX), 404, '404009001');
  expectRoutee(await get(`/sms/tracking/campaign/${id}`, GLOBEX), 404, '404009001');
  expectRoutee(await api().delete(`/sms/${id}`).set('Authorization', GLOBEX), 404, '404009001');
  expectRoutee(await api().put(`/sms/${id}`).set('Authorization', GLOBEX).send({ from: 'Shop', body: 'y', to: ['+41793026731'] }), 404, '404009001');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', contacts: [ann] }, GLOBEX), 404, '404002001');
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', groups: ['customers'] }, GLOBEX), 404, '404002002');
  // acme's campaign is untouched.
  expect((await get(`/campaigns/${id}`).expect(200)).body.state).toBe('Scheduled');
  await api().delete(`/sms/${id}`).set('Authorization', ACME).expect(200);
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026731'] }, 'Bearer nope'), 401, '401000000');
});

test('a campaign whose create died before its bulk was stored is removed by the reconciler: name free, reminders canceled', async () => {
  const store = new CampaignStore(suite.stack.db);
  let now = Date.now();
  // A process that dies in the middle of a create: its reminder is stored, the campaign's own bulk never is.
  const bulks = suite.stack.bulks;
  const dying = new CampaignService({
    contacts: new ContactStore(suite.stack.db),
    optOuts: new OptOutStore(suite.stack.db),
    campaigns: store,
    bulks: Object.assign(Object.create(bulks) as typeof bulks, {
      createBulk: (cmd: Parameters<typeof bulks.createBulk>[0]) => (cmd.bulkId?.includes('~') ? bulks.createBulk(cmd) : new Promise<never>(() => undefined)),
    }),
    control: suite.stack.control,
    now: () => now,
  });
  const sendAt = Date.now() + 3_600_000;
  void dying.create({
    accountId: 'acme',
    to: ['+41793026790'],
    contacts: [],
    groups: [],
    from: 'Shop',
    body: 'Half made',
    sendAt,
    flash: false,
    campaignName: 'Died midway',
    reminder: { minutesBefore: 10, to: ['+41793026791'] },
  });
  let orphan: { tracking_id: string; bulk_id: string } | undefined;
  await eventually(async () => {
    orphan = (await store.withoutBulk(0, Number.MAX_SAFE_INTEGER)).find((o) => o.name === 'Died midway');
    return orphan !== undefined && (await suite.stack.repo.listBulkMessages('acme', `${orphan.bulk_id}~before`)).length === 1;
  });
  expectRoutee(await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026792'], campaignName: 'Died midway', scheduledDate: inAnHour() }), 409, '409009003');

  // A young orphan may be a create still in progress: left alone.
  expect(await dying.reconcileOrphans()).toBe(0);
  now += 11 * 60_000;
  expect(await dying.reconcileOrphans()).toBe(1);
  expectRoutee(await get(`/campaigns/${orphan!.tracking_id}`), 404, '404009001');
  await eventually(async () => (await suite.stack.repo.listBulkMessages('acme', `${orphan!.bulk_id}~before`))[0]!.status_name === 'REJECTED_CANCELED');
  await post('/sms/campaign', { from: 'Shop', body: 'x', to: ['+41793026792'], campaignName: 'Died midway', scheduledDate: inAnHour() }).expect(200);
  // Campaigns with their bulk are never touched.
  expect(await dying.reconcileOrphans()).toBe(0);
});

test('an update that died after switching the campaign to its new bulk: the reconciler cancels the old one it left paused', async () => {
  const store = new CampaignStore(suite.stack.db);
  const control = suite.stack.control;
  const created = await post('/sms/campaign', { from: 'Shop', body: 'Old text', to: ['+41793026795'], scheduledDate: inAnHour() }).expect(200);
  const id = created.body.trackingId as string;
  let now = Date.now();
  // A process that dies right after pointing the campaign at the new bulk: the old one is never canceled.
  const dying = new CampaignService({
    contacts: new ContactStore(suite.stack.db),
    optOuts: new OptOutStore(suite.stack.db),
    campaigns: store,
    bulks: suite.stack.bulks,
    control: Object.assign(Object.create(control) as typeof control, {
      setStatus: (accountId: string, bulkId: string, status: string) =>
        bulkId === id && status === 'CANCELED' ? new Promise<never>(() => undefined) : control.setStatus(accountId, bulkId, status),
    }),
    now: () => now,
  });
  // The process that runs the reconciler later (its control works).
  const later = new CampaignService({ contacts: new ContactStore(suite.stack.db),
    optOuts: new OptOutStore(suite.stack.db), campaigns: store, bulks: suite.stack.bulks, control, now: () => now });
  let failed: unknown;
  dying.update({ accountId: 'acme', to: ['+41793026796'], contacts: [], groups: [], from: 'Shop', body: 'New text', sendAt: Date.now() + 3_600_000, flash: false }, id).catch((err: unknown) => (failed = err));
  await eventually(async () => failed ?? (await store.get('acme', id))?.bulk_id !== id);
  expect(failed).toBeUndefined();
  expect((await control.view('acme', id)).status).toBe('PAUSED');

  expect(await later.reconcileOrphans()).toBe(0); // young: may be an update still in progress
  now += 11 * 60_000;
  expect(await later.reconcileOrphans()).toBe(1);
  await eventually(async () => (await suite.stack.repo.listBulkMessages('acme', id))[0]!.status_name === 'REJECTED_CANCELED');
  const view = await get(`/campaigns/${id}`).expect(200);
  expect(view.body).toMatchObject({ state: 'Scheduled', body: 'New text', to: ['+41793026796'] });
  expect(await later.reconcileOrphans()).toBe(0);
  await api().delete(`/sms/${id}`).set('Authorization', ACME).expect(200);
});
