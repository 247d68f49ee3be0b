/**
 * The SMPP journal on PostgreSQL (DATABASE_URL): the same statements as on SQLite (multi-row inserts, UPDATE …
 * FROM VALUES with casts, partial indexes, no WITHOUT ROWID), exercised against the test SMSC: parts and receipts,
 * a refusal, a submit answered never (held, then settled by its echoed reference), two workers on one journal.
 */
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { SmppProvider } from '../../providers/smpp/provider';
import type { OutboundSms, ProviderDeliveryReport } from '../../providers/types';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { TestSmsc } from '../helpers/smsc';
import { eventually } from '../helpers/stack';

let pg: TestPostgres;
let counter = 0;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  pg = await startTestPostgres();
}, 120_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await pg?.stop();
});

async function freshDb(): Promise<Db> {
  const name = `smpp_${process.pid}_${++counter}`;
  const admin = openDatabase({ url: pg.url });
  await sql.raw(`create database ${name}`).execute(admin);
  await admin.destroy();
  const db = openDatabase({ url: pg.url.replace(/\/postgres$/, `/${name}`) });
  await migrateToLatest(db);
  cleanups.push(() => db.destroy());
  return db;
}

async function provider(db: Db, smsc: TestSmsc, window = 10): Promise<{ p: SmppProvider; reports: ProviderDeliveryReport[] }> {
  const p = new SmppProvider({ db, ...smsc.bindOptions(), window, responseTimeoutMs: 2000, reconnectMinMs: 100, reconnectMaxMs: 500, sweepIntervalMs: 200 });
  const reports: ProviderDeliveryReport[] = [];
  p.onDeliveryReports((r) => void reports.push(...r));
  await p.start();
  cleanups.push(() => p.close());
  return { p, reports };
}

async function smscWith(options: Parameters<typeof TestSmsc.start>[0] = {}): Promise<TestSmsc> {
  const smsc = await TestSmsc.start(options);
  cleanups.push(() => smsc.kill());
  return smsc;
}

const sms = (reference: string, to: string, text: string): OutboundSms => ({ reference, to, from: 'InfoSMS', text, flash: false, validityEndsAt: Date.now() + 3_600_000 });

test('parts, receipts and a refusal on PostgreSQL', async () => {
  const smsc = await smscWith({ rejectPrefix: '99', undeliverablePrefix: '4479' });
  const db = await freshDb();
  const { p, reports } = await provider(db, smsc);
  const results = await p.submit([
    sms('acme:pg-long', '41793027100', 'A long one. '.repeat(20)),
    sms('acme:pg-und', '447900000002', 'undeliverable'),
    sms('acme:pg-bad', '99000', 'refused'),
  ]);
  expect(results.map((r) => r.accepted)).toEqual([true, true, false]);
  expect(results[2]).toMatchObject({ status: 'REJECTED_INVALID_DESTINATION', error: expect.stringContaining('ESME_RINVDSTADR') });
  await eventually(async () => reports.length >= 2, 30_000);
  expect(new Map(reports.map((r) => [r.reference, r.status]))).toEqual(
    new Map([
      ['acme:pg-long', 'DELIVERED_TO_HANDSET'],
      ['acme:pg-und', 'UNDELIVERABLE_NOT_DELIVERED'],
    ]),
  );
  // Both parts of the long message were accepted and have their receipts.
  const parts = await db.selectFrom('smpp_parts').select(['part_no', 'state', 'receipt_status']).where('reference', '=', 'acme:pg-long').orderBy('part_no').execute();
  expect(parts).toEqual([
    { part_no: 1, state: 'accepted', receipt_status: 'DELIVERED_TO_HANDSET' },
    { part_no: 2, state: 'accepted', receipt_status: 'DELIVERED_TO_HANDSET' },
  ]);
  expect(await p.lookup(['acme:pg-long', 'acme:pg-bad'])).toEqual(new Map([['acme:pg-long', expect.any(String)]]));
  // The sweep's statements (in doubt, expiry, reports, retention) run on PostgreSQL too (its errors are otherwise
  // only logged).
  await expect(p.sweep()).resolves.toBeUndefined();
}, 60_000);

test('in doubt with no receipt that finds it, on PostgreSQL: EXPIRED_DLR_UNKNOWN from the sweep', async () => {
  const smsc = await smscWith({ haltAfter: 1, echoReference: false });
  const db = await freshDb();
  const p = new SmppProvider({ db, ...smsc.bindOptions(), window: 1, responseTimeoutMs: 1000, reconnectMinMs: 100, reconnectMaxMs: 500, sweepIntervalMs: 200, inDoubtWaitMs: 2500 });
  const reports: ProviderDeliveryReport[] = [];
  p.onDeliveryReports((r) => void reports.push(...r));
  await p.start();
  cleanups.push(() => p.close());
  await expect(p.submit([sms('acme:pg-x', '41793027400', 'x')], { signal: AbortSignal.timeout(3000), deadline: Date.now() + 3000 })).rejects.toThrow();
  await smsc.exited();
  await smsc.run({ echoReference: false });
  await eventually(async () => reports.length >= 1, 20_000);
  expect(reports[0]).toMatchObject({ reference: 'acme:pg-x', status: 'EXPIRED_DLR_UNKNOWN', error: 'no submit_sm_resp and no receipt: outcome unknown' });
}, 40_000);

test('a submit answered never on PostgreSQL: held, never sent again, settled by its echoed reference', async () => {
  const smsc = await smscWith({ haltAfter: 2 });
  const db = await freshDb();
  const { p, reports } = await provider(db, smsc, 1);
  const batch = [sms('acme:pg-d0', '41793027200', 'd0'), sms('acme:pg-d1', '41793027201', 'd1'), sms('acme:pg-d2', '41793027202', 'd2')];
  await expect(p.submit(batch, { signal: AbortSignal.timeout(4000), deadline: Date.now() + 4000 })).rejects.toThrow();
  await smsc.exited();
  await smsc.run({});
  await eventually(async () => p.bound, 10_000);
  const held = await p.lookup(batch.map((m) => m.reference));
  expect([...held.keys()].sort()).toEqual(['acme:pg-d0', 'acme:pg-d1']);
  await p.submit(batch.filter((m) => !held.has(m.reference)));
  expect(smsc.accepted().map((a) => a.to).sort()).toEqual(['41793027200', '41793027201', '41793027202']);
  await eventually(async () => new Set(reports.map((r) => r.reference)).size >= 3, 30_000);
  expect(reports.every((r) => r.status === 'DELIVERED_TO_HANDSET')).toBe(true);
}, 60_000);

test('two workers on one PostgreSQL journal: immediate receipts at the other bind find their parts', async () => {
  const smsc = await smscWith({ receiptDelayMs: 0 });
  const db = await freshDb();
  const other = await provider(db, smsc);
  const sender = await provider(db, smsc);
  const results = await sender.p.submit(Array.from({ length: 40 }, (_, i) => sms(`acme:pg-w${i}`, String(41793027300 + i), `w${i}`)));
  expect(results.every((r) => r.accepted)).toBe(true);
  // Either worker may hand a settled outcome to its listeners (the sweep of each reports what is unreported;
  // applying a report twice is harmless): every message is reported, delivered.
  const all = () => [...other.reports, ...sender.reports];
  await eventually(async () => new Set(all().map((r) => r.reference)).size >= 40, 45_000);
  expect(all().every((r) => r.status === 'DELIVERED_TO_HANDSET')).toBe(true);
}, 90_000);
