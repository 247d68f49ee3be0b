import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CompiledQuery, sql } from 'kysely';
import { bulkWorkflowId } from '../../core/bulk-service';
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { BulkAlreadyExistsError, InsufficientBalanceError, MessageIdTakenError, type NewMessage, Repository } from '../../db/repository';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { createTestStack } from '../helpers/stack';
import { resultOrDiagnosis } from '../helpers/diagnose';
import { createTimeSkippingEnv } from '../helpers/temporal';

let pg: TestPostgres;
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  [pg, env] = await Promise.all([startTestPostgres(), createTimeSkippingEnv()]);
}, 120_000);

afterAll(async () => {
  await env?.teardown();
  await pg?.stop();
});

let schemaCounter = 0;

/** A fresh database per test: a new in-memory SQLite, or a new PostgreSQL database on the shared cluster. */
async function freshDatabase(kind: 'sqlite' | 'postgres'): Promise<{ url?: string; db: Db }> {
  if (kind === 'sqlite') {
    const db = openDatabase({ sqliteFile: ':memory:' });
    return { db };
  }
  const name = `t${process.pid}_${++schemaCounter}`;
  const admin = openDatabase({ url: pg.url });
  await sql.raw(`create database ${name}`).execute(admin);
  await admin.destroy();
  const url = pg.url.replace(/\/postgres$/, `/${name}`);
  return { url, db: openDatabase({ url }) };
}

function message(bulkId: string, seq: number, extra: Partial<NewMessage> = {}): NewMessage {
  return {
    account_id: 'acme',
    message_id: `${bulkId}-m${seq}`,
    bulk_id: bulkId,
    group_index: 0,
    seq,
    group_seq: seq,
    to_number: `4179302${String(6700 + seq)}`,
    from_addr: 'InfoSMS',
    text: 'hi',
    sms_count: 1,
    flash: 0,
    notify_url: null,
    notify_content_type: null,
    callback_data: null,
    intermediate_report: 0,
    send_at: 1_000,
    validity_ends_at: 2_000,
    state: 'QUEUED',
    status_name: 'PENDING_ACCEPTED',
    error_name: null,
    provider_message_id: null,
    submitted_at: null,
    dispatch_batch: null,
    done_at: null,
    updated_at: 1_000,
    ...extra,
  };
}

const bulk = (bulkId: string, started = 1) => ({
  account_id: 'acme',
  bulk_id: bulkId,
  workflow_id: bulkWorkflowId('acme', bulkId),
  status: 'PENDING',
  tracking_process_key: null,
  message_count: 0,
  send_at: 1_000,
  workflow_input: '{}',
  workflow_started: started,
  created_at: 1_000,
});

describe.each(['sqlite', 'postgres'] as const)('%s', (kind) => {
  let db: Db;
  let repo: Repository;

  beforeEach(async () => {
    ({ db } = await freshDatabase(kind));
    await migrateToLatest(db);
    await migrateToLatest(db); // a second run is a no-op
    repo = new Repository(db);
  });

  afterEach(async () => {
    await db.destroy();
  });

  test('a bulk and its messages are stored atomically; a second use of the bulkId is refused', async () => {
    await repo.insertBulk(bulk('b1'), [message('b1', 0), message('b1', 1)]);
    await expect(repo.insertBulk(bulk('b1'), [message('b1', 5)])).rejects.toBeInstanceOf(BulkAlreadyExistsError);
    expect(await repo.listBulkMessages('acme', 'b1')).toHaveLength(2);
  });

  test('a messageId already used leaves no trace of the new bulk', async () => {
    await repo.insertBulk(bulk('b1'), [message('b1', 0)]);
    const clash = message('b2', 0, { message_id: 'b1-m0' });
    await expect(repo.insertBulk(bulk('b2'), [message('b2', 1), clash])).rejects.toBeInstanceOf(MessageIdTakenError);
    expect(await repo.getBulk('acme', 'b2')).toBeUndefined();
    expect(await repo.listBulkMessages('acme', 'b2')).toHaveLength(0);
  });

  test('balances: taken with the insert, never overdrawn by inserts racing, what goes unsent given back once', async () => {
    await repo.seedBalances(new Map([['acme', 100_000]]));
    await repo.seedBalances(new Map([['acme', 999_999]])); // a restart keeps what the account has
    expect(await repo.balance('acme')).toBe(100_000);
    expect(await repo.balance('globex')).toBeUndefined();
    const priced = (bulkId: string, seq: number) => message(bulkId, seq, { message_id: `${bulkId}-m${seq}`, price_micros: 30_000 });
    // Six bulks of 0.03 at once against 0.10: three fit.
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => repo.insertBulk(bulk(`r${i}`), [priced(`r${i}`, 0)])));
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(refused).toHaveLength(3);
    for (const o of refused) expect((o as PromiseRejectedResult).reason).toBeInstanceOf(InsufficientBalanceError);
    expect(await repo.balance('acme')).toBe(10_000);
    const stored = outcomes.map((o, i) => (o.status === 'fulfilled' ? `r${i}` : undefined)).filter((b): b is string => b !== undefined);
    for (let i = 0; i < 6; i++) expect((await repo.getBulk('acme', `r${i}`)) !== undefined).toBe(stored.includes(`r${i}`));
    // Canceled unsent: given back, once.
    expect(await repo.finalizeUnsent('acme', stored[0]!, undefined, 'REJECTED_CANCELED', 2_000)).toBe(1);
    expect(await repo.finalizeUnsent('acme', stored[0]!, undefined, 'REJECTED_CANCELED', 2_001)).toBe(0);
    expect(await repo.balance('acme')).toBe(40_000);
    // An account without a balance is unlimited.
    await repo.insertBulk({ ...bulk('g1'), account_id: 'globex' }, [{ ...priced('g1', 0), account_id: 'globex' }]);
    expect(await repo.balance('globex')).toBeUndefined();
  });

  test('large bulks insert in chunks', async () => {
    const many = Array.from({ length: 1_234 }, (_, i) => message('big', i));
    await repo.insertBulk(bulk('big'), many);
    expect(await repo.countUnsent('acme', 'big')).toBe(1_234);
  });

  test('dispatch: paging in order, claiming, recording, and the outcome of one batch', async () => {
    await repo.insertBulk(bulk('d'), Array.from({ length: 5 }, (_, i) => message('d', i)));
    const page = await repo.unsentInRange('acme', 'd', 0, 0, 3);
    expect(page.map((r) => r.message_id)).toEqual(['d-m0', 'd-m1', 'd-m2']);
    expect((await repo.unsentInRange('acme', 'd', 0, 3, 5)).map((r) => r.message_id)).toEqual(['d-m3', 'd-m4']);
    await repo.claimRange('acme', 'd', 0, 0, 3, 'batch-A', 2_000);
    await repo.recordSubmitResults(
      'acme',
      [
        { messageId: 'd-m0', accepted: true, providerMessageId: 'p0', statusName: 'PENDING_ENROUTE' },
        { messageId: 'd-m1', accepted: false, statusName: 'REJECTED_DESTINATION' },
      ],
      2_001,
    );
    // d-m2 stays SUBMITTING: in doubt, so it is offered again first.
    expect((await repo.unsentInRange('acme', 'd', 0, 0, 10)).map((r) => [r.message_id, r.state])).toEqual([
      ['d-m2', 'SUBMITTING'],
      ['d-m3', 'QUEUED'],
      ['d-m4', 'QUEUED'],
    ]);
    expect(await repo.batchOutcome('acme', 'd', { groupIndex: 0, fromSeq: 0, toSeq: 3 }, 'batch-A')).toEqual({ accepted: 1, refused: 1 });
    expect(await repo.countUnsent('acme', 'd')).toBe(3);

    expect(await repo.inDoubt('acme', 'd')).toEqual(['d-m2']);
    // Callers resolve in-doubt messages with the provider first; what is left unsent then is finalized.
    expect(await repo.finalizeUnsent('acme', 'd', 0, 'EXPIRED_EXPIRED', 3_000)).toBe(3);
    const rows = await repo.listBulkMessages('acme', 'd');
    expect(rows.map((r) => r.status_name)).toEqual([
      'PENDING_ENROUTE',
      'REJECTED_DESTINATION',
      'EXPIRED_EXPIRED',
      'EXPIRED_EXPIRED',
      'EXPIRED_EXPIRED',
    ]);
  });

  test('outcomes recorded by the row keys the dispatch read the messages with', async () => {
    await repo.insertBulk(bulk('k'), Array.from({ length: 4 }, (_, i) => message('k', i)));
    await repo.insertBulk(bulk('other'), [message('other', 0)]);
    const rows = await repo.unsentInRange('acme', 'k', 0, 0, 4);
    // SQLite hands out its rowids; PostgreSQL has no stable row address, so its outcomes go by message id.
    expect(rows.every((r) => (kind === 'sqlite' ? typeof r.row_key === 'number' : r.row_key === null))).toBe(true);
    await repo.claimRange('acme', 'k', 0, 0, 4, 'batch-K', 2_000);
    const executed: string[] = [];
    const execute = db.executeQuery.bind(db);
    jest.spyOn(db, 'executeQuery').mockImplementation((query, ...rest) => {
      executed.push((query as CompiledQuery).sql);
      return execute(query, ...rest);
    });
    const stale = rows[2]!;
    await repo.recordSubmitResults(
      'acme',
      [
        ...rows.slice(0, 2).map((r, i) => ({ messageId: r.message_id, rowKey: r.row_key, accepted: true, providerMessageId: `p${i}`, statusName: 'PENDING_ENROUTE' })),
        // A row key that no longer belongs to the message (as after a VACUUM): the message stays in doubt.
        { messageId: stale.message_id, rowKey: kind === 'sqlite' ? rows[3]!.row_key : null, accepted: true, providerMessageId: 'p2', statusName: 'PENDING_ENROUTE' },
      ],
      2_001,
      undefined,
      false,
    );
    jest.restoreAllMocks();
    const after = await repo.listBulkMessages('acme', 'k');
    expect(after.map((r) => [r.state, r.provider_message_id])).toEqual(
      kind === 'sqlite'
        ? [['SUBMITTED', 'p0'], ['SUBMITTED', 'p1'], ['SUBMITTING', null], ['SUBMITTING', null]]
        : [['SUBMITTED', 'p0'], ['SUBMITTED', 'p1'], ['SUBMITTED', 'p2'], ['SUBMITTING', null]],
    );
    expect((await repo.getMessage('acme', 'other-m0'))?.state).toBe('QUEUED');
    expect(executed).toHaveLength(1);
    if (kind === 'sqlite') {
      // The planner must reach each row through its rowid, not by scanning or by the primary-key index.
      const full = Array.from({ length: 1000 }, (_, i) => ({ messageId: `x${i}`, rowKey: i + 1, accepted: true, providerMessageId: `p${i}`, statusName: 'PENDING_ENROUTE' }));
      executed.length = 0;
      jest.spyOn(db, 'executeQuery').mockImplementation((query, ...rest) => {
        executed.push((query as CompiledQuery).sql);
        return execute(query, ...rest);
      });
      await repo.recordSubmitResults('acme', full, 2_002, undefined, false);
      jest.restoreAllMocks();
      const parameters = [...full.flatMap((r) => [r.rowKey, r.messageId, r.providerMessageId]), 2_002, 2_002, 'acme'];
      const plan = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${executed[0]!}`, parameters));
      const details = plan.rows.map((r) => r.detail).join(' | ');
      expect(details).toMatch(/SEARCH messages USING INTEGER PRIMARY KEY \(rowid=\?\)/);
      expect(details).not.toMatch(/SCAN messages|INDEX sqlite_autoindex/);
    }
  });

  test('a bulk never looks finished while the report its last message owes is being queued', async () => {
    await repo.insertBulk(bulk('race'), [message('race', 0, { notify_url: 'https://hooks.example.com/dlr', state: 'SUBMITTED' })]);
    // The workflow's progress check runs right after the delivery report has made the message final, while the
    // report it owes may not be queued yet: it must not see "all final, nothing owed".
    let armed = true;
    let dlrUpdate: unknown;
    let seen: Promise<{ notFinal: number; pending: number }> | undefined;
    const observing = new Repository(
      db.withPlugin({
        transformQuery: ({ node, queryId }) => {
          // The first statement the report runs is the one that makes the message final.
          if (armed) [armed, dlrUpdate] = [false, queryId];
          return node;
        },
        transformResult: async ({ result, queryId }) => {
          if (queryId === dlrUpdate) {
            seen = repo.reportProgress('acme', 'race');
            await new Promise((r) => setTimeout(r, 50));
          }
          return result;
        },
      }),
    );
    expect(await observing.applyDeliveryReport('acme', 'race-m0', { statusName: 'DELIVERED_TO_HANDSET', final: true, doneAt: 5 })).toBe(true);
    expect(seen).toBeDefined();
    const progress = await seen!;
    expect(progress.notFinal > 0 || progress.pending > 0).toBe(true);
    expect(await repo.reportProgress('acme', 'race')).toMatchObject({ notFinal: 0, pending: 1, delivered: 1 });
  });

  test('delivery reports applied in one batch: in order per message, per account, never past final', async () => {
    const hook = { notify_url: 'https://hooks.example.com/dlr', intermediate_report: 1, state: 'SUBMITTED' as const };
    await repo.insertBulk(bulk('dlr'), [message('dlr', 0, hook), message('dlr', 1), message('dlr', 2, { ...hook, state: 'FINAL', status_name: 'EXPIRED_DLR_UNKNOWN', done_at: 50 })]);
    await repo.insertBulk({ ...bulk('dlr'), account_id: 'globex', workflow_id: 'wf-globex' }, [message('dlr', 0, { account_id: 'globex' })]);
    const { applied, bulks } = await repo.applyDeliveryReports([
      { accountId: 'acme', messageId: 'dlr-m0', statusName: 'DELIVERED_TO_OPERATOR', final: false, doneAt: 100, providerMessageId: 'late-id' },
      { accountId: 'acme', messageId: 'dlr-m1', statusName: 'UNDELIVERABLE_NOT_DELIVERED', final: true, errorName: 'EC_ABSENT_SUBSCRIBER', doneAt: 110 },
      { accountId: 'acme', messageId: 'dlr-m0', statusName: 'DELIVERED_TO_HANDSET', final: true, doneAt: 120 },
      { accountId: 'acme', messageId: 'dlr-m2', statusName: 'DELIVERED_TO_HANDSET', final: true, doneAt: 130 },
      { accountId: 'globex', messageId: 'dlr-m0', statusName: 'DELIVERED_TO_HANDSET', final: true, doneAt: 140 },
      { accountId: 'acme', messageId: 'no-such-message', statusName: 'DELIVERED_TO_HANDSET', final: true, doneAt: 150 },
    ]);
    // m0 twice (intermediate, then final), m1, globex's m0; m2 was already final and the unknown id matches nothing.
    expect(applied).toBe(4);
    expect(bulks).toEqual([
      { accountId: 'acme', bulkId: 'dlr' },
      { accountId: 'globex', bulkId: 'dlr' },
    ]);
    const m = await repo.listBulkMessages('acme', 'dlr');
    expect(m.map((r) => [r.state, r.status_name, r.done_at])).toEqual([
      ['FINAL', 'DELIVERED_TO_HANDSET', 120],
      ['FINAL', 'UNDELIVERABLE_NOT_DELIVERED', 110],
      ['FINAL', 'EXPIRED_DLR_UNKNOWN', 50],
    ]);
    expect(m[0]!.provider_message_id).toBe('late-id');
    expect(m[1]!.error_name).toBe('EC_ABSENT_SUBSCRIBER');
    expect((await repo.getMessage('globex', 'dlr-m0'))?.status_name).toBe('DELIVERED_TO_HANDSET');
    const reports = await db.selectFrom('reports').select(['id', 'final', 'push', 'done_at']).orderBy('id').execute();
    expect(reports.map((r) => [r.id, Number(r.final), Number(r.push), Number(r.done_at)])).toEqual([
      ['acme:dlr-m0:DELIVERED_TO_HANDSET', 1, 1, 120],
      ['acme:dlr-m0:DELIVERED_TO_OPERATOR', 0, 1, 100],
      ['acme:dlr-m1:UNDELIVERABLE_NOT_DELIVERED', 1, 0, 110],
      ['globex:dlr-m0:DELIVERED_TO_HANDSET', 1, 0, 140],
    ]);
  });

  test('delivery reports update a message until it is final, never after', async () => {
    await repo.insertBulk(bulk('r'), [message('r', 0, { state: 'SUBMITTED' })]);
    expect(await repo.applyDeliveryReport('acme', 'r-m0', { statusName: 'DELIVERED_TO_HANDSET', final: true, doneAt: 5 })).toBe(true);
    expect(await repo.applyDeliveryReport('acme', 'r-m0', { statusName: 'UNDELIVERABLE_NOT_DELIVERED', final: true, doneAt: 6 })).toBe(false);
    expect((await repo.getMessage('acme', 'r-m0'))?.status_name).toBe('DELIVERED_TO_HANDSET');
    expect(await repo.applyDeliveryReport('globex', 'r-m0', { statusName: 'DELIVERED_TO_HANDSET', final: true, doneAt: 5 })).toBe(false);
  });

  test('a bulk stored but never started (crash between store and start) is started by the reconciler', async () => {
    const { url, db: stackDb } = await freshDatabase(kind);
    await stackDb.destroy();
    // Short leases: on a loaded machine the time-skipping server may time a batch attempt out, and its retry then
    // waits out the earlier lease in real time (the default lease would outlast the test).
    const stack = await createTestStack(env, { databaseUrl: url, leaseTiming: { submitTimeoutMs: 2000, leaseMs: 3000, clockMarginMs: 100 } });
    // One workflow id per database kind: both kinds run on the same Temporal server.
    const orphan = `orphan-${kind}`;
    try {
      stack.clock.now = await env.currentTimeMs();
      const input = {
        accountId: 'acme',
        bulkId: orphan,
        groups: [{ index: 0, sendAt: stack.clock.now, validityEndsAt: stack.clock.now + 3_600_000, messageCount: 2 }],
      };
      await stack.repo.insertBulk({ ...bulk(orphan, 0), created_at: stack.clock.now - 60_000, workflow_input: JSON.stringify({ input }) }, [
        message(orphan, 0, { send_at: stack.clock.now, validity_ends_at: stack.clock.now + 3_600_000 }),
        message(orphan, 1, { send_at: stack.clock.now, validity_ends_at: stack.clock.now + 3_600_000 }),
      ]);
      expect(await stack.bulks.reconcileUnstarted()).toBe(1);
      const counts = await resultOrDiagnosis(stack.client.workflow.getHandle(bulkWorkflowId('acme', orphan)), 60_000);
      expect(counts).toMatchObject({ total: 2, sent: 2 });
      expect((await stack.repo.getBulk('acme', orphan))?.workflow_started).toBe(1);
      expect(await stack.bulks.reconcileUnstarted()).toBe(0);

      // The start went through, the bulk ran and closed, but the process died before marking it started: the
      // reconciler must not start a second run of a finished bulk.
      const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', orphan));
      const runBefore = (await handle.describe()).runId;
      await stack.db.updateTable('bulks').set({ workflow_started: 0 }).where('bulk_id', '=', orphan).execute();
      expect(await stack.bulks.reconcileUnstarted()).toBe(1);
      expect((await handle.describe()).runId).toBe(runBefore);
      expect(stack.simulator.stats(`acme:${orphan}-`)).toMatchObject({ accepted: 2, duplicates: 0 });
    } finally {
      await stack.close();
    }
  }, 150_000);
});
