import { type Insertable, type Selectable, sql } from 'kysely';
import type { Db } from './database';
import type { BulkTable, MessageTable } from './schema';

export type NewBulk = Insertable<BulkTable>;
export type NewMessage = Insertable<MessageTable>;
export type MessageRow = Selectable<MessageTable>;
export type BulkRow = Selectable<BulkTable>;
export type DispatchRow = Pick<MessageRow, 'message_id' | 'to_number' | 'from_addr' | 'text' | 'flash' | 'state'>;

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

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint/.test(e?.message ?? '');
}

/** The one query layer over SQLite and PostgreSQL. Every query is scoped by account. */
export class Repository {
  constructor(readonly db: Db) {}

  /** Stores a bulk and all its messages atomically: either all of it exists afterwards or none. */
  async insertBulk(bulk: NewBulk, messages: NewMessage[]): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('bulks').values(bulk).execute();
        for (let i = 0; i < messages.length; i += INSERT_CHUNK) {
          await trx
            .insertInto('messages')
            .values(messages.slice(i, i + INSERT_CHUNK))
            .execute();
        }
      });
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

  async markWorkflowStarted(accountId: string, bulkId: string): Promise<void> {
    await this.db
      .updateTable('bulks')
      .set({ workflow_started: 1 })
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .execute();
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
      .select(['message_id', 'to_number', 'from_addr', 'text', 'flash', 'state'])
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

  /** Claims a dispatch range for one batch: a crash after this leaves its unrecorded messages in doubt. */
  async claimRange(
    accountId: string,
    bulkId: string,
    groupIndex: number,
    fromSeq: number,
    toSeq: number,
    batch: string,
    now: number,
  ): Promise<void> {
    await this.db
      .updateTable('messages')
      .set({ state: 'SUBMITTING', dispatch_batch: batch, updated_at: now })
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('group_index', '=', groupIndex)
      .where('group_seq', '>=', fromSeq)
      .where('group_seq', '<', toSeq)
      // In-doubt rows still SUBMITTING here were not found at the provider: they become this batch's to send.
      .where('state', 'in', ['QUEUED', 'SUBMITTING'])
      .execute();
  }

  /**
   * Records what the provider answered: one UPDATE for the accepted messages and one per refusal status,
   * instead of one statement per message.
   */
  async recordSubmitResults(
    accountId: string,
    results: Array<{ messageId: string; accepted: boolean; providerMessageId?: string; statusName: string }>,
    now: number,
    /** Re-stamps the rows as this batch's (used for in-doubt rows a batch recovers from an earlier one). */
    batch?: string,
  ): Promise<void> {
    if (results.length === 0) return;
    const accepted = results.filter((r) => r.accepted);
    const refusedByStatus = new Map<string, string[]>();
    for (const r of results) {
      if (!r.accepted) refusedByStatus.set(r.statusName, [...(refusedByStatus.get(r.statusName) ?? []), r.messageId]);
    }
    const stamp = batch ? { dispatch_batch: batch } : {};
    const statements = (accepted.length > 0 ? 1 : 0) + refusedByStatus.size;
    // A single statement is atomic on its own; a transaction only when several must land together.
    const run = statements > 1 ? (fn: (db: Db) => Promise<void>) => this.db.transaction().execute(fn) : (fn: (db: Db) => Promise<void>) => fn(this.db);
    await run(async (trx) => {
      if (accepted.length > 0) {
        // Provider ids differ per row: join against a VALUES list (UPDATE … FROM works in SQLite ≥ 3.33 and
        // PostgreSQL alike), one statement for the whole chunk.
        const values = sql.join(accepted.map((r) => sql`(${r.messageId}, ${r.providerMessageId ?? null})`));
        await sql`
          with v(mid, pid) as (values ${values})
          update messages set
            state = case when messages.state = 'FINAL' then messages.state else 'SUBMITTED' end,
            status_name = case when messages.state = 'FINAL' then messages.status_name else 'PENDING_ENROUTE' end,
            provider_message_id = v.pid,
            submitted_at = ${now},
            updated_at = ${now}${batch ? sql`, dispatch_batch = ${batch}` : sql``}
          from v
          where messages.account_id = ${accountId} and messages.message_id = v.mid`.execute(trx);
      }
      for (const [statusName, ids] of refusedByStatus) {
        await trx
          .updateTable('messages')
          .set({ state: 'FINAL', status_name: statusName, submitted_at: now, done_at: now, updated_at: now, ...stamp })
          .where('account_id', '=', accountId)
          .where('message_id', 'in', ids)
          .execute();
      }
    });
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
   * Callers resolve in-doubt (SUBMITTING) messages with the provider first.
   */
  async finalizeUnsent(
    accountId: string,
    bulkId: string,
    groupIndex: number | undefined,
    statusName: string,
    now: number,
  ): Promise<number> {
    let q = this.db
      .updateTable('messages')
      .set({ state: 'FINAL', status_name: statusName, done_at: now, updated_at: now })
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('state', 'in', ['QUEUED', 'SUBMITTING']);
    if (groupIndex !== undefined) q = q.where('group_index', '=', groupIndex);
    const res = await q.executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** Applies a provider delivery report to the message it belongs to; returns false when none matches. */
  async applyDeliveryReport(
    accountId: string,
    messageId: string,
    report: { statusName: string; final: boolean; errorName?: string; doneAt: number; providerMessageId?: string },
  ): Promise<boolean> {
    const res = await this.db
      .updateTable('messages')
      .set({
        // A report can overtake the record of the submit (the message is still SUBMITTING): it proves the
        // provider accepted the message, so it fills in what the submit record would have.
        provider_message_id: sql<string>`coalesce(provider_message_id, ${report.providerMessageId ?? null})`,
        submitted_at: sql<number>`coalesce(submitted_at, ${report.doneAt})`,
        state: report.final ? 'FINAL' : 'SUBMITTED',
        status_name: report.statusName,
        error_name: report.errorName ?? null,
        done_at: report.final ? report.doneAt : null,
        updated_at: report.doneAt,
      })
      .where('account_id', '=', accountId)
      .where('message_id', '=', messageId)
      .where('state', '!=', 'FINAL')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
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
}
