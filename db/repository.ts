import { CompiledQuery, type Insertable, type RawBuilder, type Selectable, type SelectQueryBuilder, sql, SqliteAdapter } from 'kysely';
import type { Db } from './database';
import { isUniqueViolation } from './unique';
import { GroupCommit } from './group-commit';
import type { BulkTable, Database, MessageTable } from './schema';

export type NewBulk = Insertable<BulkTable>;
export type NewMessage = Insertable<MessageTable>;
export type MessageRow = Selectable<MessageTable>;
export type BulkRow = Selectable<BulkTable>;
/** A report with what its message says about itself: the material of pushes, pulls and logs. */
export interface ReportRow {
  id: string;
  bulk_id: string;
  message_id: string;
  status_name: string;
  done_at: number;
  attempts: number;
  to_number: string;
  from_addr: string | null;
  submitted_at: number | null;
  sms_count: number;
  callback_data: string | null;
  /** The provider's own words for a failure (an SMPP command status, a receipt's stat/err), when it gave any. */
  error_name: string | null;
  notify_url: string | null;
  notify_content_type: string | null;
}

export interface LogFilter {
  bulkId?: string;
  messageId?: string;
  from?: string;
  to?: string;
  generalStatus?: string;
  sentSince?: number;
  sentUntil?: number;
  limit: number;
}

export type DispatchRow = Pick<
  MessageRow,
  'message_id' | 'group_seq' | 'to_number' | 'from_addr' | 'text' | 'flash' | 'state' | 'intermediate_report' | 'mms' | 'language_code' | 'validity_ends_at'
> & {
  /** SQLite's rowid of the message, which lets its outcome skip the primary-key index; null on PostgreSQL. */
  row_key: number | null;
};

/** What the provider answered for one message, as recordSubmitResults writes it. */
export interface SubmitRecord {
  messageId: string;
  /** The row_key the message was read with, when there is one. */
  rowKey?: number | null;
  accepted: boolean;
  providerMessageId?: string;
  statusName: string;
  /** A refusal's cause in the provider's words (an SMPP command status). */
  errorName?: string;
}

/** A delivery report as the provider gave it, for the message it belongs to. */
export interface DeliveryReportUpdate {
  accountId: string;
  messageId: string;
  statusName: string;
  final: boolean;
  errorName?: string;
  doneAt: number;
  providerMessageId?: string;
}

/** Delivery reports per transaction: 7 parameters each, far under SQLite's limit of 32766. */
const DELIVERY_REPORT_CHUNK = 500;

/** Statement texts kept by executeCompiled. */
const COMPILED_SQL_CACHE = 32;

/** Rows per INSERT statement: under SQLite's default limit of 32766 bound parameters (24 columns a row). */
const INSERT_CHUNK = 500;

export class BulkAlreadyExistsError extends Error {
  override name = 'BulkAlreadyExistsError';
  constructor(readonly bulkId: string) {
    super(`bulkId ${bulkId} is already used by this account`);
  }
}

export class MessageIdTakenError extends Error {
  override name = 'MessageIdTakenError';
  constructor(readonly messageIds: string[]) {
    super(`messageId already used by this account: ${messageIds.slice(0, 5).join(', ')}`);
  }
}


/**
 * Queues a report for every message `filter` selects, with the message's current status. Final statuses are
 * reported to everyone (pushed when there is a notifyUrl, pulled otherwise); intermediate ones only to clients
 * that asked for them and gave a notifyUrl. Report ids are stable, so queueing twice is harmless.
 */
async function queueReports(
  db: Db,
  final: boolean,
  filter: (qb: SelectQueryBuilder<Database, 'messages', object>) => SelectQueryBuilder<Database, 'messages', object>,
): Promise<void> {
  let select = db.selectFrom('messages').select([
    sql<string>`account_id || ':' || message_id || ':' || status_name`.as('id'),
    'account_id',
    'bulk_id',
    'message_id',
    'status_name',
    sql<number>`${sql.lit(final ? 1 : 0)}`.as('final'),
    sql<number>`case when notify_url is null then 0 else 1 end`.as('push'),
    // An intermediate status has no done_at; it was set when the row was last updated.
    sql<number>`coalesce(done_at, updated_at)`.as('done_at'),
  ]);
  if (!final) select = select.where('intermediate_report', '=', 1).where('notify_url', 'is not', null);
  await db
    .insertInto('reports')
    .columns(['id', 'account_id', 'bulk_id', 'message_id', 'status_name', 'final', 'push', 'done_at'])
    .expression(filter(select as never) as never)
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** The one query layer over SQLite and PostgreSQL. Every query is scoped by account. */
/** Bulks of up to this many messages are inserted through the group commit. */
const GROUPED_INSERT_MAX = 1000;

/** The account's balance does not cover the bulk: nothing of it was stored. */
export class InsufficientBalanceError extends Error {
  override name = 'InsufficientBalanceError';
  constructor(
    readonly costMicros: number,
    readonly balanceMicros: number,
  ) {
    super(`the balance (${balanceMicros / 1e6}) does not cover the bulk's cost (${costMicros / 1e6})`);
  }
}

/**
 * Gives back what the selected messages were charged and marks them uncharged, in the caller's transaction (so a
 * message is refunded once, with the state change that ends it unsent).
 */
async function refund(trx: Db, accountId: string, select: (q: SelectQueryBuilder<Database, 'messages', object>) => SelectQueryBuilder<Database, 'messages', object>): Promise<void> {
  const picked = select(trx.selectFrom('messages').where('account_id', '=', accountId).where('price_micros', '>', 0));
  const { total } = await picked.select(sql<number>`coalesce(sum(price_micros), 0)`.as('total')).executeTakeFirstOrThrow();
  if (Number(total) === 0) return;
  await trx
    .updateTable('account_balances')
    .set((eb) => ({ balance_micros: eb('balance_micros', '+', Number(total)) }))
    .where('account_id', '=', accountId)
    .execute();
  await trx
    .updateTable('messages')
    .set({ price_micros: 0 })
    .where('account_id', '=', accountId)
    .where('message_id', 'in', select(trx.selectFrom('messages').where('account_id', '=', accountId).where('price_micros', '>', 0)).select('message_id'))
    .execute();
}

export class Repository {
  /** SQLite: rows are addressed by rowid on the dispatch path (see recordSubmitResults). */
  private readonly rowKeys: boolean;

  /** Shared by the small writes of the dispatch path (GroupCommit): many batches, one commit. */
  readonly group: GroupCommit;

  constructor(readonly db: Db) {
    this.rowKeys = db.getExecutor().adapter instanceof SqliteAdapter;
    this.group = new GroupCommit(db);
  }

  /** SQL text of hot statements by shape: building a 1000-row VALUES list costs more than running it. */
  private readonly compiledSql = new Map<string, string>();

  /**
   * Runs `build()` — or, once its text for `shape` is known, that text with `parameters`, which must list the
   * values in the order the builder binds them (checked against the builder the first time).
   */
  private async executeCompiled(db: Db, shape: string, build: () => RawBuilder<unknown>, parameters: unknown[]): Promise<void> {
    let text = this.compiledSql.get(shape);
    if (!text) {
      const compiled = build().compile(db);
      if (compiled.parameters.length !== parameters.length || compiled.parameters.some((p, i) => p !== parameters[i])) {
        throw new Error(`parameters of ${shape} do not match its statement`);
      }
      text = compiled.sql;
      // Few shapes recur (full chunks); the odd sizes of last chunks are dropped first.
      if (this.compiledSql.size >= COMPILED_SQL_CACHE) this.compiledSql.delete(this.compiledSql.keys().next().value!);
      this.compiledSql.set(shape, text);
    }
    await db.executeQuery(CompiledQuery.raw(text, parameters));
  }

  /** Stores a bulk and all its messages atomically: either all of it exists afterwards or none. */
  async insertBulk(bulk: NewBulk, messages: NewMessage[]): Promise<void> {
    const cost = messages.reduce((sum, m) => sum + (m.price_micros ?? 0), 0);
    const insert = async (trx: Db) => {
      if (cost > 0) await this.charge(trx, bulk.account_id, cost, Number(bulk.created_at));
      await trx.insertInto('bulks').values(bulk).execute();
      for (let i = 0; i < messages.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('messages')
          .values(messages.slice(i, i + INSERT_CHUNK))
          .execute();
      }
    };
    try {
      // Small bulks posted at the same moment share one commit; a big one has its own transaction.
      await (messages.length <= GROUPED_INSERT_MAX ? this.group.run(insert) : this.db.transaction().execute(insert));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (await this.getBulk(bulk.account_id, bulk.bulk_id)) throw new BulkAlreadyExistsError(bulk.bulk_id);
      const taken = await this.existingMessageIds(
        bulk.account_id,
        messages.map((m) => m.message_id),
      );
      throw new MessageIdTakenError(taken);
    }
  }

  /** Takes the cost from the account's balance, if it has one; InsufficientBalanceError when it does not cover it. */
  private async charge(trx: Db, accountId: string, cost: number, now: number): Promise<void> {
    const taken = await trx
      .updateTable('account_balances')
      .set((eb) => ({ balance_micros: eb('balance_micros', '-', cost), updated_at: now }))
      .where('account_id', '=', accountId)
      .where('balance_micros', '>=', cost)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) > 0) return;
    const row = await trx.selectFrom('account_balances').select('balance_micros').where('account_id', '=', accountId).executeTakeFirst();
    // No balance row: an unlimited account.
    if (row) throw new InsufficientBalanceError(cost, Number(row.balance_micros));
  }

  /** The account's balance in micro-units; undefined for an unlimited account. */
  async balance(accountId: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('account_balances').select('balance_micros').where('account_id', '=', accountId).executeTakeFirst();
    return row ? Number(row.balance_micros) : undefined;
  }

  /** Gives accounts their starting balance; an account that has one already keeps it (restarts change nothing). */
  async seedBalances(balances: ReadonlyMap<string, number>, now = Date.now()): Promise<void> {
    for (const [account, micros] of balances) {
      await this.db
        .insertInto('account_balances')
        .values({ account_id: account, balance_micros: micros, updated_at: now })
        .onConflict((oc) => oc.column('account_id').doNothing())
        .execute();
    }
  }

  async existingMessageIds(accountId: string, messageIds: string[]): Promise<string[]> {
    const found: string[] = [];
    for (let i = 0; i < messageIds.length; i += INSERT_CHUNK) {
      const rows = await this.db
        .selectFrom('messages')
        .select('message_id')
        .where('account_id', '=', accountId)
        .where('message_id', 'in', messageIds.slice(i, i + INSERT_CHUNK))
        .execute();
      found.push(...rows.map((r) => r.message_id));
    }
    return found;
  }

  async deleteBulk(accountId: string, bulkId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('messages').where('account_id', '=', accountId).where('bulk_id', '=', bulkId).execute();
      await trx.deleteFrom('bulks').where('account_id', '=', accountId).where('bulk_id', '=', bulkId).execute();
    });
  }

  async getBulk(accountId: string, bulkId: string): Promise<BulkRow | undefined> {
    return this.db
      .selectFrom('bulks')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .executeTakeFirst();
  }

  /** Through the group commit: the API marks the bulks it started in the same moment together. */
  async markWorkflowStarted(accountId: string, bulkId: string): Promise<void> {
    await this.group.run(
      (db) => db.updateTable('bulks').set({ workflow_started: 1 }).where('account_id', '=', accountId).where('bulk_id', '=', bulkId).execute(),
      true,
    );
  }

  /** Bulks stored but whose workflow start was never confirmed, older than `before` (crash between the two). */
  async unstartedBulks(before: number, limit = 100): Promise<BulkRow[]> {
    return this.db
      .selectFrom('bulks')
      .selectAll()
      .where('workflow_started', '=', 0)
      .where('created_at', '<', before)
      .orderBy('created_at')
      .limit(limit)
      .execute();
  }

  async setBulkState(accountId: string, bulkId: string, status: string, sendAt?: number): Promise<void> {
    await this.db
      .updateTable('bulks')
      .set({ status, ...(sendAt !== undefined ? { send_at: sendAt } : {}) })
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .execute();
  }

  /** Unsent messages of one schedule group with group_seq in [fromSeq, toSeq), including in-doubt ones. */
  async unsentInRange(
    accountId: string,
    bulkId: string,
    groupIndex: number,
    fromSeq: number,
    toSeq: number,
  ): Promise<DispatchRow[]> {
    return this.db
      .selectFrom('messages')
      .select(['message_id', 'group_seq', 'to_number', 'from_addr', 'text', 'flash', 'state', 'intermediate_report', 'mms', 'language_code', 'validity_ends_at'])
      .select(this.rowKeys ? sql<number>`rowid`.as('row_key') : sql<null>`null`.as('row_key'))
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('group_index', '=', groupIndex)
      .where('group_seq', '>=', fromSeq)
      .where('group_seq', '<', toSeq)
      .where('state', 'in', ['QUEUED', 'SUBMITTING'])
      .orderBy('group_seq')
      .execute();
  }

  /** Message ids left SUBMITTING (claimed by a batch that stopped before recording the outcome). */
  async inDoubt(accountId: string, bulkId: string, groupIndex?: number): Promise<string[]> {
    let q = this.db
      .selectFrom('messages')
      .select('message_id')
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('state', '=', 'SUBMITTING');
    if (groupIndex !== undefined) q = q.where('group_index', '=', groupIndex);
    return (await q.execute()).map((r) => r.message_id);
  }

  async countUnsent(accountId: string, bulkId: string): Promise<number> {
    const row = await this.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('state', 'in', ['QUEUED', 'SUBMITTING'])
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Claims a dispatch range for one batch: a crash after this leaves its unrecorded messages in doubt. Returns
   * how many messages it claimed.
   */
  async claimRange(
    accountId: string,
    bulkId: string,
    groupIndex: number,
    fromSeq: number,
    toSeq: number,
    batch: string,
    now: number,
  ): Promise<number> {
    const res = await this.db
      .updateTable('messages')
      .set({ state: 'SUBMITTING', dispatch_batch: batch, updated_at: now })
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('group_index', '=', groupIndex)
      .where('group_seq', '>=', fromSeq)
      .where('group_seq', '<', toSeq)
      // In-doubt rows still SUBMITTING here were not found at the provider: they become this batch's to send.
      .where('state', 'in', ['QUEUED', 'SUBMITTING'])
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /**
   * Hands back what a batch claimed but never gave the provider (group_seq from `fromSeq` up to `toSeq`):
   * QUEUED again, so the next batch over the range sends it without asking the provider first.
   */
  async releaseClaims(
    accountId: string,
    bulkId: string,
    range: { groupIndex: number; fromSeq: number; toSeq: number },
    batch: string,
  ): Promise<number> {
    const res = await this.db
      .updateTable('messages')
      .set({ state: 'QUEUED', dispatch_batch: null })
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('group_index', '=', range.groupIndex)
      .where('group_seq', '>=', range.fromSeq)
      .where('group_seq', '<', range.toSeq)
      .where('state', '=', 'SUBMITTING')
      .where('dispatch_batch', '=', batch)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /**
   * Records what the provider answered: one UPDATE for the accepted messages and one per refusal status,
   * instead of one statement per message.
   */
  async recordSubmitResults(
    accountId: string,
    results: SubmitRecord[],
    now: number,
    /** Re-stamps the rows as this batch's (used for in-doubt rows a batch recovers from an earlier one). */
    batch?: string,
    /** False when the caller knows no message here asked for intermediate reports: saves a statement. */
    intermediateWanted = true,
  ): Promise<void> {
    if (results.length === 0) return;
    const accepted = results.filter((r) => r.accepted);
    // One statement per refusal status and cause.
    const refusedByStatus = new Map<string, { statusName: string; errorName: string | null; ids: string[] }>();
    for (const r of results) {
      if (r.accepted) continue;
      const key = `${r.statusName}\u0000${r.errorName ?? ''}`;
      const group = refusedByStatus.get(key) ?? { statusName: r.statusName, errorName: r.errorName ?? null, ids: [] };
      group.ids.push(r.messageId);
      refusedByStatus.set(key, group);
    }
    const stamp = batch ? { dispatch_batch: batch } : {};
    const refused = [...refusedByStatus.values()].flatMap((g) => g.ids);
    const queueIntermediate = accepted.length > 0 && intermediateWanted;
    // A status and the report it owes land together, or a reader could see the one without the other. Batches
    // recording at the same moment share one commit (GroupCommit).
    const statements = (accepted.length > 0 ? 1 : 0) + refusedByStatus.size + (refused.length > 0 ? 1 : 0) + (queueIntermediate ? 1 : 0);
    await this.group.run(async (trx) => {
      if (accepted.length > 0) await this.recordAccepted(trx, accountId, accepted, now, batch);
      for (const { statusName, errorName, ids } of refusedByStatus.values()) {
        await trx
          .updateTable('messages')
          .set({ state: 'FINAL', status_name: statusName, error_name: errorName, submitted_at: now, done_at: now, updated_at: now, ...stamp })
          .where('account_id', '=', accountId)
          .where('message_id', 'in', ids)
          // A refusal only settles a message nobody else settled: never one the provider accepted (SUBMITTED) or
          // one already final. Statuses move forward only.
          .where('state', 'in', ['QUEUED', 'SUBMITTING'])
          .execute();
      }
      if (refused.length > 0) {
        // Refused by the provider: not sent, not charged.
        await refund(trx, accountId, (q) => q.where('message_id', 'in', refused).where('state', '=', 'FINAL').where('provider_message_id', 'is', null));
        await queueReports(trx, true, (q) =>
          q
            .where('account_id', '=', accountId)
            .where('message_id', 'in', refused)
            .where('state', '=', 'FINAL')
            .where('status_name', 'in', [...new Set([...refusedByStatus.values()].map((g) => g.statusName))]),
        );
      }
      if (queueIntermediate) {
        await queueReports(trx, false, (q) =>
          q
            .where('account_id', '=', accountId)
            .where('state', '=', 'SUBMITTED')
            .where(
              'message_id',
              'in',
              accepted.map((r) => r.messageId),
            ),
        );
      }
    }, statements <= 1);
  }

  /** Runs `fn` in a transaction when it issues more than one statement; a single statement is atomic by itself. */
  /**
   * Marks accepted messages SUBMITTED with their provider ids in one statement: provider ids differ per row, so
   * the rows are joined against a VALUES list (UPDATE … FROM works in SQLite ≥ 3.33 and PostgreSQL alike).
   * On SQLite, when the rows' rowids are known, the join is on rowid, which skips the primary-key index
   * (a third less time for the statement); the message id is still compared, so a row is never mistaken.
   */
  private async recordAccepted(db: Db, accountId: string, accepted: SubmitRecord[], now: number, batch?: string): Promise<void> {
    const byRowid = this.rowKeys && accepted.every((r) => typeof r.rowKey === 'number');
    // Built only the first time a shape is seen: a thousand-row VALUES list costs more to build than to run.
    const build = () => sql`
      with v(${sql.raw(byRowid ? 'rid, mid, pid' : 'mid, pid')}) as (values ${sql.join(
        accepted.map((r) =>
          byRowid ? sql`(${r.rowKey}, ${r.messageId}, ${r.providerMessageId ?? null})` : sql`(${r.messageId}, ${r.providerMessageId ?? null})`,
        ),
      )})
      update messages set
        state = case when messages.state in ('QUEUED', 'SUBMITTING') then 'SUBMITTED' else messages.state end,
        status_name = case when messages.state in ('QUEUED', 'SUBMITTING') then 'PENDING_ENROUTE' else messages.status_name end,
        provider_message_id = coalesce(messages.provider_message_id, v.pid),
        submitted_at = ${now},
        updated_at = ${now}${batch ? sql`, dispatch_batch = ${batch}` : sql``}
      from v
      where ${byRowid ? sql`messages.rowid = v.rid and messages.message_id = v.mid` : sql`messages.message_id = v.mid`}
        and messages.account_id = ${accountId}`;
    const parameters: unknown[] = [];
    for (const r of accepted) {
      if (byRowid) parameters.push(r.rowKey);
      parameters.push(r.messageId, r.providerMessageId ?? null);
    }
    parameters.push(now, now, ...(batch ? [batch] : []), accountId);
    await this.executeCompiled(db, `recordAccepted:${accepted.length}:${batch ? 1 : 0}:${byRowid ? 1 : 0}`, build, parameters);
  }

  /** What one dispatch batch (all attempts of one sendBatch activity) got accepted and refused. */
  async batchOutcome(
    accountId: string,
    bulkId: string,
    range: { groupIndex: number; fromSeq: number; toSeq: number },
    batch: string,
  ): Promise<{ accepted: number; refused: number }> {
    const rows = await this.db
      .selectFrom('messages')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.count<number>('provider_message_id').as('withId')])
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('group_index', '=', range.groupIndex)
      .where('group_seq', '>=', range.fromSeq)
      .where('group_seq', '<', range.toSeq)
      .where('dispatch_batch', '=', batch)
      .groupBy('state')
      .execute();
    let accepted = 0;
    let refused = 0;
    for (const r of rows) {
      if (r.state === 'SUBMITTING') continue;
      accepted += Number(r.withId);
      refused += Number(r.n) - Number(r.withId);
    }
    return { accepted, refused };
  }

  /**
   * Gives every still-unsent message of a group (or the whole bulk) a final status, e.g. EXPIRED_EXPIRED.
   * Callers fence off dispatch attempts and resolve in-doubt (SUBMITTING) messages with the provider first.
   */
  async finalizeUnsent(
    accountId: string,
    bulkId: string,
    groupIndex: number | undefined,
    statusName: string,
    now: number,
  ): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      let q = trx
        .updateTable('messages')
        .set({ state: 'FINAL', status_name: statusName, done_at: now, updated_at: now })
        .where('account_id', '=', accountId)
        .where('bulk_id', '=', bulkId)
        .where('state', 'in', ['QUEUED', 'SUBMITTING'])
        // Not what a dispatch attempt with a live lease has claimed: its submits may still land, and their
        // outcome (or a later lookup) settles those messages.
        .where((eb) =>
          eb.or([
            eb('state', '=', 'QUEUED'),
            eb(
              sql<string>`coalesce(dispatch_batch, '')`,
              'not in',
              eb
                .selectFrom('dispatch_leases')
                .select('batch')
                .where('account_id', '=', accountId)
                .where('bulk_id', '=', bulkId)
                .where('lease_until', '>', now),
            ),
          ]),
        );
      if (groupIndex !== undefined) q = q.where('group_index', '=', groupIndex);
      const res = await q.executeTakeFirst();
      await queueReports(trx, true, (r) => {
        let sel = r
          .where('account_id', '=', accountId)
          .where('bulk_id', '=', bulkId)
          .where('state', '=', 'FINAL')
          .where('status_name', '=', statusName)
          .where('done_at', '=', now);
        if (groupIndex !== undefined) sel = sel.where('group_index', '=', groupIndex);
        return sel;
      });
      // Never handed to the provider: what they were charged goes back.
      await refund(trx, accountId, (q) => {
        let sel = q.where('bulk_id', '=', bulkId).where('state', '=', 'FINAL').where('status_name', '=', statusName).where('done_at', '=', now).where('provider_message_id', 'is', null);
        if (groupIndex !== undefined) sel = sel.where('group_index', '=', groupIndex);
        return sel;
      });
      return Number(res.numUpdatedRows);
    });
  }

  /** No report came within the wait after validity: what is still SUBMITTED ends EXPIRED_DLR_UNKNOWN. */
  async expireUnreported(accountId: string, bulkId: string, now: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('messages')
        .set({ state: 'FINAL', status_name: 'EXPIRED_DLR_UNKNOWN', done_at: now, updated_at: now })
        .where('account_id', '=', accountId)
        .where('bulk_id', '=', bulkId)
        .where('state', '=', 'SUBMITTED')
        .executeTakeFirst();
      await queueReports(trx, true, (r) =>
        r
          .where('account_id', '=', accountId)
          .where('bulk_id', '=', bulkId)
          .where('status_name', '=', 'EXPIRED_DLR_UNKNOWN')
          .where('done_at', '=', now),
      );
      return Number(res.numUpdatedRows);
    });
  }

  /**
   * Where a bulk's reporting stands. Messages are counted before the owed pushes: a message's final status and
   * the report it owes are written in one transaction, so once every message is seen final, every push they
   * owe is seen too. (Read the other way round, a report queued between the two reads would be missed, and
   * the workflow would close with a push never made.)
   */
  async reportProgress(
    accountId: string,
    bulkId: string,
  ): Promise<{ notFinal: number; delivered: number; failed: number; pending: number; nextAttemptAt: number | null }> {
    const notFinal = await this.countNotFinal(accountId, bulkId);
    const outcomes = await this.deliveryOutcomes(accountId, bulkId);
    return { notFinal, ...outcomes, ...(await this.pendingPushes(accountId, bulkId)) };
  }

  /** Final outcomes so far: delivered to the handset, and failed (undeliverable, or refused other than canceled). */
  async deliveryOutcomes(accountId: string, bulkId: string): Promise<{ delivered: number; failed: number }> {
    const row = await this.db
      .selectFrom('messages')
      .select([
        sql<number>`sum(case when status_name = 'DELIVERED_TO_HANDSET' then 1 else 0 end)`.as('delivered'),
        sql<number>`sum(case when status_name like 'UNDELIVERABLE%' or (status_name like 'REJECTED%' and status_name <> 'REJECTED_CANCELED') then 1 else 0 end)`.as(
          'failed',
        ),
      ])
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('state', '=', 'FINAL')
      .executeTakeFirstOrThrow();
    return { delivered: Number(row.delivered ?? 0), failed: Number(row.failed ?? 0) };
  }

  /**
   * A bulk's counts as the workflow keeps them, recomputed from its messages: for a workflow run that takes
   * over from one that was terminated (the reconciler's recovery run).
   */
  async storedCounts(
    accountId: string,
    bulkId: string,
  ): Promise<{ total: number; sent: number; rejected: number; expired: number; canceled: number; delivered: number; failed: number }> {
    const row = await this.db
      .selectFrom('messages')
      .select([
        sql<number>`count(*)`.as('total'),
        sql<number>`sum(case when provider_message_id is not null then 1 else 0 end)`.as('sent'),
        sql<number>`sum(case when provider_message_id is null and state = 'FINAL' and status_name like 'REJECTED%' and status_name <> 'REJECTED_CANCELED' then 1 else 0 end)`.as('rejected'),
        sql<number>`sum(case when provider_message_id is null and status_name = 'EXPIRED_EXPIRED' then 1 else 0 end)`.as('expired'),
        sql<number>`sum(case when status_name = 'REJECTED_CANCELED' then 1 else 0 end)`.as('canceled'),
      ])
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .executeTakeFirstOrThrow();
    const n = (v: unknown) => Number(v ?? 0);
    return {
      total: n(row.total),
      sent: n(row.sent),
      rejected: n(row.rejected),
      expired: n(row.expired),
      canceled: n(row.canceled),
      ...(await this.deliveryOutcomes(accountId, bulkId)),
    };
  }

  async countNotFinal(accountId: string, bulkId: string): Promise<number> {
    const row = await this.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('state', '!=', 'FINAL')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Applies one provider delivery report; false when no message of the account is waiting for it. */
  async applyDeliveryReport(
    accountId: string,
    messageId: string,
    report: Omit<DeliveryReportUpdate, 'accountId' | 'messageId'>,
  ): Promise<boolean> {
    return (await this.applyDeliveryReports([{ accountId, messageId, ...report }])).applied > 0;
  }

  /**
   * Applies provider delivery reports, DELIVERY_REPORT_CHUNK per transaction: one UPDATE for the statuses and
   * one INSERT per kind (final, intermediate) for the reports they owe, instead of statements per message.
   * Status and report land together: the workflow closes once every message is final and no push is owed, so
   * it must never see a message final before its report is queued. Reports for messages already final are
   * ignored. Returns how many messages changed, and the bulks they belong to.
   */
  async applyDeliveryReports(reports: DeliveryReportUpdate[]): Promise<{ applied: number; bulks: Array<{ accountId: string; bulkId: string }> }> {
    let applied = 0;
    const bulks = new Map<string, { accountId: string; bulkId: string }>();
    for (let i = 0; i < reports.length; i += DELIVERY_REPORT_CHUNK) {
      // A message may have several reports here (intermediate, then final): the k-th of each goes in round k.
      const rounds: DeliveryReportUpdate[][] = [];
      const seen = new Map<string, number>();
      for (const r of reports.slice(i, i + DELIVERY_REPORT_CHUNK)) {
        const key = `${r.accountId}:${r.messageId}`;
        const k = seen.get(key) ?? 0;
        seen.set(key, k + 1);
        (rounds[k] ??= []).push(r);
      }
      const changed = await this.db.transaction().execute(async (trx) => {
        const rows: Array<{ account_id: string; bulk_id: string }> = [];
        for (const round of rounds) rows.push(...(await this.applyReportRound(trx, round)));
        return rows;
      });
      applied += changed.length;
      for (const c of changed) bulks.set(`${c.account_id}:${c.bulk_id}`, { accountId: c.account_id, bulkId: c.bulk_id });
    }
    return { applied, bulks: [...bulks.values()] };
  }

  /** One report per message: statuses by one UPDATE … FROM VALUES, then the reports they owe. */
  private async applyReportRound(db: Db, round: DeliveryReportUpdate[]): Promise<Array<{ account_id: string; bulk_id: string }>> {
    const values = sql.join(
      round.map(
        (r) =>
          sql`(${r.accountId}, ${r.messageId}, ${r.statusName}, ${r.final ? 'FINAL' : 'SUBMITTED'}, ${r.errorName ?? null}, ${String(r.doneAt)}, ${r.providerMessageId ?? null})`,
      ),
    );
    // VALUES columns are untyped text in PostgreSQL, hence the casts. A report can overtake the record of the
    // submit (the message is still SUBMITTING): it proves the provider accepted the message, so it fills in what
    // the submit record would have.
    const { rows: changed } = await sql<{ account_id: string; message_id: string; bulk_id: string }>`
      with v(aid, mid, status, state, err, done, pid) as (values ${values})
      update messages set
        provider_message_id = coalesce(messages.provider_message_id, v.pid),
        submitted_at = coalesce(messages.submitted_at, cast(v.done as bigint)),
        state = v.state,
        status_name = v.status,
        error_name = v.err,
        done_at = case when v.state = 'FINAL' then cast(v.done as bigint) else null end,
        updated_at = cast(v.done as bigint)
      from v
      where messages.account_id = v.aid and messages.message_id = v.mid and messages.state <> 'FINAL'
      returning messages.account_id, messages.message_id, messages.bulk_id`.execute(db);
    // Reports are owed only for the messages this round changed.
    const finalByKey = new Map(round.map((r) => [`${r.accountId}:${r.messageId}`, r.final]));
    for (const final of [true, false]) {
      const byAccount = new Map<string, string[]>();
      for (const c of changed) {
        if (finalByKey.get(`${c.account_id}:${c.message_id}`) !== final) continue;
        const ids = byAccount.get(c.account_id);
        if (ids) ids.push(c.message_id);
        else byAccount.set(c.account_id, [c.message_id]);
      }
      for (const [accountId, ids] of byAccount) {
        await queueReports(db, final, (q) => q.where('account_id', '=', accountId).where('message_id', 'in', ids));
      }
    }
    return changed;
  }

  async getMessage(accountId: string, messageId: string): Promise<MessageRow | undefined> {
    return this.db
      .selectFrom('messages')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('message_id', '=', messageId)
      .executeTakeFirst();
  }

  async listBulkMessages(accountId: string, bulkId: string): Promise<MessageRow[]> {
    return this.db
      .selectFrom('messages')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .orderBy('seq')
      .execute();
  }

  private reportsWithMessages(db: Db = this.db) {
    return db
      .selectFrom('reports as r')
      .innerJoin('messages as m', (j) => j.onRef('m.account_id', '=', 'r.account_id').onRef('m.message_id', '=', 'r.message_id'))
      .select([
        'r.id',
        'r.bulk_id',
        'r.message_id',
        'r.status_name',
        'r.done_at',
        'r.attempts',
        'm.to_number',
        'm.from_addr',
        'm.submitted_at',
        'm.sms_count',
        'm.callback_data',
        'm.error_name',
        'm.notify_url',
        'm.notify_content_type',
      ]);
  }

  /** Pushes of a bulk whose time has come, oldest first. */
  async duePushes(accountId: string, bulkId: string, now: number, limit: number): Promise<ReportRow[]> {
    return this.reportsWithMessages()
      .where('r.account_id', '=', accountId)
      .where('r.bulk_id', '=', bulkId)
      .where('r.push', '=', 1)
      .where('r.delivered_at', 'is', null)
      .where('r.gave_up_at', 'is', null)
      .where('r.next_attempt_at', '<=', now)
      .orderBy('r.done_at')
      .limit(limit)
      .execute();
  }

  async markPushed(ids: string[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable('reports').set({ delivered_at: now }).where('id', 'in', ids).execute();
  }

  async markPushFailed(ids: string[], nextAttemptAt: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('reports')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: nextAttemptAt }))
      .where('id', 'in', ids)
      .execute();
  }

  async markPushAbandoned(ids: string[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable('reports').set({ gave_up_at: now }).where('id', 'in', ids).execute();
  }

  /** Pushes still owed for a bulk, and when the earliest may be tried again. */
  async pendingPushes(accountId: string, bulkId: string): Promise<{ pending: number; nextAttemptAt: number | null }> {
    const row = await this.db
      .selectFrom('reports')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min<number>('next_attempt_at').as('next')])
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('push', '=', 1)
      .where('delivered_at', 'is', null)
      .where('gave_up_at', 'is', null)
      .executeTakeFirstOrThrow();
    return { pending: Number(row.n), nextAttemptAt: row.next === null ? null : Number(row.next) };
  }

  /**
   * Final reports of messages without a notifyUrl, each handed out once: claimed with one UPDATE … RETURNING,
   * so two concurrent pulls never get the same report.
   */
  async pullReports(accountId: string, filter: { bulkId?: string; messageId?: string; limit: number }, now: number): Promise<ReportRow[]> {
    let pick = this.db
      .selectFrom('reports')
      .select('id')
      .where('account_id', '=', accountId)
      .where('push', '=', 0)
      .where('final', '=', 1)
      .where('pulled_at', 'is', null);
    if (filter.bulkId) pick = pick.where('bulk_id', '=', filter.bulkId);
    if (filter.messageId) pick = pick.where('message_id', '=', filter.messageId);
    const claimed = await this.db
      .updateTable('reports')
      .set({ pulled_at: now })
      .where('id', 'in', pick.orderBy('done_at').limit(filter.limit))
      .where('pulled_at', 'is', null)
      .returning('id')
      .execute();
    if (claimed.length === 0) return [];
    return this.reportsWithMessages()
      .where(
        'r.id',
        'in',
        claimed.map((c) => c.id),
      )
      .orderBy('r.done_at')
      .execute();
  }

  /** Message logs: every message of the account, newest first, filtered. */
  async logs(accountId: string, f: LogFilter): Promise<MessageRow[]> {
    let q = this.db.selectFrom('messages').selectAll().where('account_id', '=', accountId);
    if (f.bulkId) q = q.where('bulk_id', '=', f.bulkId);
    if (f.messageId) q = q.where('message_id', '=', f.messageId);
    if (f.from) q = q.where('from_addr', '=', f.from);
    if (f.to) q = q.where('to_number', '=', f.to);
    if (f.generalStatus) q = q.where('status_name', 'like', `${f.generalStatus}%`);
    if (f.sentSince !== undefined) q = q.where('submitted_at', '>=', f.sentSince);
    if (f.sentUntil !== undefined) q = q.where('submitted_at', '<=', f.sentUntil);
    return q.orderBy('updated_at', 'desc').orderBy('seq').limit(f.limit).execute();
  }
}
