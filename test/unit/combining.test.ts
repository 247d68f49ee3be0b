/**
 * The two ways the due moment shares work between batches: provider calls (SubmitCombiner) and commits
 * (GroupCommit). Sharing must never make one caller's trouble another's, nor loosen a submit's deadline.
 */
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { GroupCommit } from '../../db/group-commit';
import { SubmitCombiner } from '../../providers/submit-combiner';
import { type OutboundSms, type SmsProvider, SubmitDeadlineError, type SubmitOptions, type SubmitResult } from '../../providers/types';

const sms = (reference: string): OutboundSms => ({ reference, to: '41793026727', from: 'T', text: 'x', flash: false });

/** A provider that records its calls and answers when told. */
function provider() {
  const calls: Array<{ messages: OutboundSms[]; options?: SubmitOptions; answer: (r: SubmitResult[] | Error) => void }> = [];
  const p: SmsProvider = {
    name: 'recording',
    submit: (messages, options) =>
      new Promise<SubmitResult[]>((resolve, reject) => {
        calls.push({ messages, options, answer: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      }),
    lookup: async () => new Map(),
    onDeliveryReports: () => undefined,
    close: async () => undefined,
  };
  const acceptAll = (i: number) => calls[i]!.answer(calls[i]!.messages.map((m) => ({ reference: m.reference, accepted: true, providerMessageId: `p-${m.reference}` })));
  return { p, calls, acceptAll };
}

describe('SubmitCombiner', () => {
  test('submits made while a call is open go together, with the earliest deadline of their parts', async () => {
    const { p, calls, acceptAll } = provider();
    const combiner = new SubmitCombiner(p, 1, 100);
    const now = Date.now();
    const first = combiner.submit([sms('a')], { deadline: now + 30_000 });
    const second = combiner.submit([sms('b')], { deadline: now + 20_000 });
    const third = combiner.submit([sms('c'), sms('d')], { deadline: now + 25_000 });
    expect(calls).toHaveLength(1);
    acceptAll(0);
    expect((await first).map((r) => r.reference)).toEqual(['a']);
    await new Promise((r) => setImmediate(r));
    expect(calls).toHaveLength(2);
    expect(calls[1]!.messages.map((m) => m.reference)).toEqual(['b', 'c', 'd']);
    expect(calls[1]!.options?.deadline).toBe(now + 20_000);
    acceptAll(1);
    expect((await second).map((r) => r.reference)).toEqual(['b']);
    expect((await third).map((r) => r.reference)).toEqual(['c', 'd']);
  });

  test('a part whose deadline is nearly gone fails alone instead of shortening the others', async () => {
    const { p, calls, acceptAll } = provider();
    const combiner = new SubmitCombiner(p, 1, 100);
    const blocker = combiner.submit([sms('x')], { deadline: Date.now() + 30_000 });
    const late = combiner.submit([sms('late')], { deadline: Date.now() + 150 });
    const fine = combiner.submit([sms('fine')], { deadline: Date.now() + 30_000 });
    await new Promise((r) => setTimeout(r, 100));
    acceptAll(0);
    await blocker;
    await expect(late).rejects.toBeInstanceOf(SubmitDeadlineError);
    await new Promise((r) => setImmediate(r));
    expect(calls[1]!.messages.map((m) => m.reference)).toEqual(['fine']);
    acceptAll(1);
    expect((await fine).map((r) => r.reference)).toEqual(['fine']);
  });

  test('a failed call fails every part of it, and an answer missing a part fails that part', async () => {
    const { p, calls } = provider();
    const combiner = new SubmitCombiner(p, 1, 100);
    const blocker = combiner.submit([sms('x')]);
    const a = combiner.submit([sms('a')]);
    const b = combiner.submit([sms('b')]);
    calls[0]!.answer(new Error('link down'));
    await expect(blocker).rejects.toThrow('link down');
    await new Promise((r) => setImmediate(r));
    calls[1]!.answer([{ reference: 'a', accepted: true, providerMessageId: 'p-a' }]);
    expect((await a).map((r) => r.reference)).toEqual(['a']);
    await expect(b).rejects.toThrow('without some of the messages');
  });

  test('a full chunk goes straight through', async () => {
    const { p, calls } = provider();
    const combiner = new SubmitCombiner(p, 1, 2);
    void combiner.submit([sms('a')]);
    void combiner.submit([sms('b'), sms('c')]);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.messages.map((m) => m.reference)).toEqual(['b', 'c']);
  });
});

describe('GroupCommit', () => {
  let db: Db;
  beforeEach(async () => {
    db = openDatabase({ sqliteFile: ':memory:' });
    await migrateToLatest(db);
  });
  afterEach(() => db.destroy());

  const insert = (batch: string) => (trx: Db) =>
    trx.insertInto('armed_batches').values({ batch, account_id: 'acme', bulk_id: 'b', state: 'FIRED', at: 1 }).execute();

  test('works that come together share a transaction; one that fails fails alone, the others land', async () => {
    const group = new GroupCommit(db);
    await insert('taken')(db);
    const results = await Promise.allSettled([group.run(insert('one')), group.run(insert('two')), group.run(insert('taken')), group.run(insert('three'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const rows = await db.selectFrom('armed_batches').select('batch').orderBy('batch').execute();
    expect(rows.map((r) => r.batch)).toEqual(['one', 'taken', 'three', 'two']);
  });

  test('a work of several statements stays atomic inside a shared transaction', async () => {
    const group = new GroupCommit(db);
    const both = async (trx: Db) => {
      await insert('half')(trx);
      await insert('half')(trx); // fails: the first insert of this work must not remain
    };
    const results = await Promise.allSettled([group.run(insert('first')), group.run(both), group.run(insert('last'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const rows = await db.selectFrom('armed_batches').select('batch').orderBy('batch').execute();
    expect(rows.map((r) => r.batch)).toEqual(['first', 'last']);
  });
});
