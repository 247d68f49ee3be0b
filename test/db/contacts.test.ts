/**
 * The contact store on both databases: the same rules (unique mobile and group name per account, labels
 * defined first, groups and blacklists scoped to the account) on SQLite and on PostgreSQL.
 */
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import pino from 'pino';
import { CallbackGuard } from '../../core/callback-guard';
import { MmsTemplates } from '../../core/mms-templates';
import { CampaignStore } from '../../db/campaigns';
import { ContactError, ContactStore } from '../../db/contacts';
import { OptOutStore } from '../../db/opt-outs';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startTestPostgres();
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});

let counter = 0;
async function fresh(kind: 'sqlite' | 'postgres'): Promise<Db> {
  if (kind === 'sqlite') {
    const db = openDatabase({ sqliteFile: ':memory:' });
    await migrateToLatest(db);
    return db;
  }
  const name = `c${process.pid}_${++counter}`;
  const admin = openDatabase({ url: pg.url });
  await sql.raw(`create database ${name}`).execute(admin);
  await admin.destroy();
  const db = openDatabase({ url: pg.url.replace(/\/postgres$/, `/${name}`) });
  await migrateToLatest(db);
  return db;
}

const kind = (err: unknown) => (err instanceof ContactError ? err.kind : String(err));

describe.each(['sqlite', 'postgres'] as const)('on %s', (dbKind) => {
  let db: Db;
  let store: ContactStore;
  beforeEach(async () => {
    db = await fresh(dbKind);
    store = new ContactStore(db);
  });
  afterEach(async () => {
    await db.destroy();
  });

  test('contacts, labels, groups and blacklists keep to their account', async () => {
    await store.defineLabels('acme', [{ name: 'city', type: 'Text' }]);
    const ann = await store.createContact('acme', { mobile: '+306948530921', firstName: 'Ann', labels: { city: 'Athens' } });
    await expect(store.createContact('acme', { mobile: '+306948530921' }).catch(kind)).resolves.toBe('MOBILE_EXISTS');
    // globex defined no label 'city', and has its own namespace of numbers and groups.
    await expect(store.createContact('globex', { mobile: '+306948530922', labels: { city: 'x' } }).catch(kind)).resolves.toBe('LABEL_NOT_DEFINED');
    await store.createContact('globex', { mobile: '+306948530921' });
    await expect(store.getContact('globex', ann.id).catch(kind)).resolves.toBe('CONTACT_NOT_FOUND');

    const group = await store.createGroup('acme', 'customers');
    expect(group).toEqual({ id: 1, name: 'customers', size: 0, createdAt: expect.any(Number) });
    expect((await store.createGroup('globex', 'customers')).id).toBe(1);
    expect((await store.createGroup('acme', 'second')).id).toBe(2);
    await expect(store.createGroup('acme', 'customers').catch(kind)).resolves.toBe('GROUP_EXISTS');
    await expect(store.setMembership('globex', 'customers', [ann.id], true).catch(kind)).resolves.toBe('CONTACT_NOT_FOUND');
    expect((await store.setMembership('acme', 'customers', [ann.id, ann.id], true)).size).toBe(1);
    expect((await store.setMembership('acme', 1, [ann.id], true)).size).toBe(1);
    expect((await store.contactsOfGroups('acme', ['customers', 'All'])).map((c) => c.id)).toEqual([ann.id]);
    expect(await store.contactsOfGroups('acme', ['NotListed'])).toEqual([]);
    expect((await store.getContact('acme', ann.id)).groups).toEqual(['All', 'customers']);

    expect(await store.setBlacklisted('acme', 'Sms', [ann.id], true)).toBe(1);
    expect((await store.blacklisted('acme', 'Sms')).map((c) => c.id)).toEqual([ann.id]);
    expect(await store.blacklisted('globex', 'Sms')).toEqual([]);
    await expect(store.setBlacklisted('globex', 'Sms', [ann.id], true).catch(kind)).resolves.toBe('CONTACT_NOT_FOUND');

    expect(await store.deleteContacts('globex', [ann.id])).toEqual([]);
    expect(await store.deleteContacts('acme', [ann.id, 'missing'])).toEqual([ann.id]);
    expect((await store.getGroup('acme', 'customers')).size).toBe(0);
  });

  test('groups created at the same moment get distinct numbers', async () => {
    const made = await Promise.all(Array.from({ length: 8 }, (_, i) => store.createGroup('acme', `g${i}`)));
    expect(new Set(made.map((g) => g.id)).size).toBe(8);
  });

  test('an import of 2,000 rows stores the good ones and names each refused row', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => ({ mobile: `+3069485${String(i).padStart(5, '0')}` }));
    rows[10] = { mobile: rows[9]!.mobile };
    const { created, errors } = await store.importContacts('acme', rows);
    expect(created).toBe(1999);
    expect(errors).toEqual([{ row: 10, kind: 'MOBILE_EXISTS', message: expect.any(String) }]);
    expect((await store.listContacts('acme', 3, 500)).content).toHaveLength(499);
  });

  test('numbers for campaigns and MMS templates: one each under concurrent creation, per account; opt-outs per account', async () => {
    const campaigns = new CampaignStore(db);
    const templates = new MmsTemplates({ db, guard: new CallbackGuard([]), logger: pino({ level: 'silent' }), providerSendsMms: true });
    const row = (account: string, i: number) => ({
      account_id: account,
      tracking_id: `t-${account}-${i}`,
      name: `Campaign ${account} ${i}`,
      bulk_id: `t-${account}-${i}`,
      request: '{}',
      analysis: '{}',
      created_at: i,
      updated_at: i,
    });
    const numbers = await Promise.all(Array.from({ length: 8 }, (_, i) => campaigns.insert(row('acme', i), true)));
    expect([...numbers].sort((a, b) => a! - b!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await campaigns.insert(row('globex', 0), true)).toBe(1);
    // A name taken is still the caller's to hear, numbered or not.
    await expect(campaigns.insert({ ...row('acme', 99), name: 'Campaign acme 1' }, true)).rejects.toMatchObject({ name: 'CampaignNameTakenError' });
    expect(await campaigns.insert(row('acme', 100), false)).toBeNull();

    // The templates' media URL is refused by the guard (no private address allowed): only their numbers matter here.
    const made = await Promise.all(Array.from({ length: 6 }, (_, i) => templates.create('acme', `http://10.0.0.${i}/x.png`, `t${i}`)));
    expect(made.map((t) => t.templateId).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await templates.create('globex', 'http://10.0.0.9/x.png', undefined)).templateId).toBe(1);
    await templates.settled();
    expect((await templates.get('acme', 1))?.statusId).toBe(4);

    const optOuts = new OptOutStore(db);
    await store.createContact('acme', { mobile: '+306948530930' });
    await optOuts.optOut('acme', ['306948530930', '+306948530931'], 'api');
    await optOuts.optOut('acme', ['306948530930'], 'MO:STOP');
    expect([...(await optOuts.optedOut('acme', ['+306948530930', '306948530931', '306948530932']))].sort()).toEqual(['306948530930', '306948530931']);
    expect((await optOuts.optedOut('globex', ['306948530930'])).size).toBe(0);
    expect((await store.findByMobile('acme', '+306948530930'))?.optIn).toBe('OPTED_OUT');
    await optOuts.optBackIn('acme', '306948530930');
    expect((await store.findByMobile('acme', '+306948530930'))?.optIn).toBe('SINGLE');
    expect(await optOuts.optedOutSince('acme', Date.now() - 60_000)).toEqual(['306948530931']);
  });
});
