/**
 * The inbound handler under failures: a YES whose confirmation cannot be sent at first is offered again (as the
 * provider does) and then finishes its work — confirmed once, one confirmation; a redelivery after success does
 * nothing. And an MMS template left half-processed by a crash is taken up again.
 */
import pino from 'pino';
import { CallbackGuard } from '../../core/callback-guard';
import { inboundHandler } from '../../core/inbound';
import { MmsTemplates } from '../../core/mms-templates';
import { ContactStore } from '../../db/contacts';
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { OptOutStore } from '../../db/opt-outs';

const logger = pino({ level: 'silent' });
let db: Db;
beforeEach(async () => {
  db = openDatabase({ sqliteFile: ':memory:' });
  await migrateToLatest(db);
});
afterEach(async () => {
  await db.destroy();
});

test('a YES whose confirmation failed is redelivered and finishes once; a later redelivery changes nothing', async () => {
  const contacts = new ContactStore(db);
  const optOuts = new OptOutStore(db);
  const group = await contacts.createGroup('acme', 'Opt-in list');
  await optOuts.requestOptIn('acme', '16462310013', [group.id], 'You are in');
  const sent: string[] = [];
  let failNext = true;
  const handle = inboundHandler({
    optOuts,
    contacts,
    owners: new Map([['15550001111', 'acme']]),
    logger,
    reply: async (_account, bulkId, from, to, text) => {
      if (failNext) {
        failNext = false;
        throw new Error('Temporal unreachable');
      }
      if (sent.includes(bulkId)) throw Object.assign(new Error('exists'), { name: 'BulkAlreadyExistsError' });
      sent.push(bulkId);
      expect({ from, to, text }).toEqual({ from: '15550001111', to: '16462310013', text: 'You are in' });
    },
  });
  const yes = { providerId: 'mo-1', from: '16462310013', to: '15550001111', text: 'Yes', receivedAt: Date.now() };

  await expect(handle([yes])).rejects.toThrow('Temporal unreachable');
  // Nothing recorded yet: the provider will offer it again.
  expect(await optOuts.inboundSeen('mo-1')).toBe(false);
  expect(await optOuts.optInRequest('acme', '16462310013')).toBeDefined();

  await handle([yes]);
  await handle([yes]);
  expect(sent).toEqual(['optin-mo-1']);
  const contact = await contacts.findByMobile('acme', '+16462310013');
  expect(contact).toMatchObject({ optIn: 'DOUBLE_CONFIRMED', groups: expect.arrayContaining(['Opt-in list']) });
  expect(await optOuts.optInRequest('acme', '16462310013')).toBeUndefined();
  expect((await optOuts.inboundPage('acme', 0, 10)).total).toBe(1);
});

test('hostile or odd inbound: long text kept bounded, unknown number kept without acting, STOP twice is one opt-out', async () => {
  const optOuts = new OptOutStore(db);
  const handle = inboundHandler({ optOuts, contacts: new ContactStore(db), owners: new Map([['15550001111', 'acme']]), logger });
  const at = Date.now();
  await handle([
    { providerId: 'a', from: '+41793026727', to: '15550001111', text: 'x'.repeat(10_000), receivedAt: at },
    { providerId: 'b', from: '41793026727', to: '19999999999', text: 'STOP', receivedAt: at },
    { providerId: 'c', from: '41793026727', to: '+15550001111', text: 'stop', receivedAt: at },
    { providerId: 'd', from: '41793026727', to: '15550001111', text: 'STOP', receivedAt: at },
  ]);
  const rows = await db.selectFrom('inbound_messages').selectAll().orderBy('id').execute();
  expect(rows.map((r) => [r.id, r.account_id, r.keyword, r.text.length])).toEqual([
    ['a', 'acme', null, 2000],
    ['b', null, 'STOP', 4],
    ['c', 'acme', 'STOP', 4],
    ['d', 'acme', 'STOP', 4],
  ]);
  expect(await db.selectFrom('opt_outs').select(['account_id', 'number']).execute()).toEqual([{ account_id: 'acme', number: '41793026727' }]);
});

test('an MMS template left Processing by a crash is taken up again by the reconciler', async () => {
  let now = Date.now();
  const templates = new MmsTemplates({ db, guard: new CallbackGuard([]), logger, providerSendsMms: true, now: () => now });
  // As a process that died midway leaves it: Processing, untouched since.
  await db
    .insertInto('mms_templates')
    .values({ account_id: 'acme', template_id: 1, name: null, url: 'http://10.0.0.1/x.png', status_id: 1, reason: null, media_type: null, size_bytes: null, created_at: now, updated_at: now })
    .execute();
  expect(await templates.resumeUnprocessed()).toBe(0); // too recent: maybe still in progress elsewhere
  now += 10 * 60_000;
  expect(await templates.resumeUnprocessed()).toBe(1);
  await templates.settled();
  // The private address is refused by the guard: a final status, with the reason.
  expect(await templates.get('acme', 1)).toMatchObject({ statusId: 4, reason: expect.stringMatching(/private|not allowed|address/i) });
});
