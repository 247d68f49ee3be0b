import { sql, SqliteAdapter } from 'kysely';
import type { Db } from './database';
import type { GroupCommit } from './group-commit';

export interface LeaseRange {
  accountId: string;
  bulkId: string;
  groupIndex: number;
  fromSeq: number;
  toSeq: number;
}

/** Lease rows whose time has passed are deleted this long after, by later acquisitions on the same bulk. */
const EXPIRED_LEASE_RETENTION_MS = 3_600_000;

/**
 * Dispatch leases: which activity attempt may submit the messages of a range, and until when its submits can
 * still land. The rule they enforce (activities/dispatch-lease.ts uses them): the later of two attempts over
 * overlapping ranges wins; it revokes the earlier one, which can then no longer extend its lease, and waits
 * until that lease has run out before it reads what is in doubt.
 */
export class DispatchLeases {
  private readonly sqlite: boolean;

  constructor(
    private readonly db: Db,
    private readonly group?: GroupCommit,
  ) {
    this.sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  }

  /**
   * Takes a lease for `holder` over `range` until `now + leaseMs`, revoking every other lease that overlaps
   * it. Returns `fenceUntil`: when the last of those may still have a submit land (`now` if none is live).
   */
  async acquire(holder: string, batch: string, range: LeaseRange, now: number, leaseMs: number): Promise<{ fenceUntil: number }> {
    return this.db.transaction().execute(async (trx) => {
      // PostgreSQL: one acquisition per bulk at a time, so two of them cannot both miss each other's row.
      // (SQLite transactions are serialized by the database itself.)
      if (!this.sqlite) {
        await sql`select 1 from bulks where account_id = ${range.accountId} and bulk_id = ${range.bulkId} for update`.execute(trx);
      }
      await trx
        .deleteFrom('dispatch_leases')
        .where('account_id', '=', range.accountId)
        .where('bulk_id', '=', range.bulkId)
        .where('lease_until', '<', now - EXPIRED_LEASE_RETENTION_MS)
        .execute();
      const revoked = await trx
        .updateTable('dispatch_leases')
        .set({ revoked: 1 })
        .where('account_id', '=', range.accountId)
        .where('bulk_id', '=', range.bulkId)
        .where('group_index', '=', range.groupIndex)
        .where('from_seq', '<', range.toSeq)
        .where('to_seq', '>', range.fromSeq)
        .where('holder', '!=', holder)
        .where('lease_until', '>', now)
        .returning('lease_until')
        .execute();
      await trx
        .insertInto('dispatch_leases')
        .values({
          holder,
          batch,
          account_id: range.accountId,
          bulk_id: range.bulkId,
          group_index: range.groupIndex,
          from_seq: range.fromSeq,
          to_seq: range.toSeq,
          lease_until: now + leaseMs,
          revoked: 0,
        })
        .onConflict((oc) => oc.column('holder').doUpdateSet({ lease_until: now + leaseMs, revoked: 0 }))
        .execute();
      return { fenceUntil: Math.max(now, ...revoked.map((r) => Number(r.lease_until))) };
    });
  }

  /** Moves the lease's end to `until`; false when it was revoked or released (the holder must stop submitting). */
  async extend(holder: string, until: number): Promise<boolean> {
    const res = await this.db
      .updateTable('dispatch_leases')
      .set({ lease_until: until })
      .where('holder', '=', holder)
      .where('revoked', '=', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /**
   * Ends a lease whose holder has no submit in flight any more: nobody needs to wait for it. Through the group
   * commit when there is one (the batches of a burst end together).
   */
  async release(holder: string): Promise<void> {
    const work = (db: Db) => db.deleteFrom('dispatch_leases').where('holder', '=', holder).execute();
    await (this.group ? this.group.run(work, true) : work(this.db));
  }

  /** Ends every lease of a batch that was disarmed before it submitted anything. */
  async releaseBatch(batch: string): Promise<void> {
    await this.db.deleteFrom('dispatch_leases').where('batch', '=', batch).execute();
  }

  /**
   * Revokes every live lease of a bulk (or one group of it), for work that finalizes what was never sent
   * (cancel, expiry). Returns when the last of them may still have a submit land (`now` if none is live).
   */
  async revokeAll(accountId: string, bulkId: string, groupIndex: number | undefined, now: number): Promise<number> {
    let q = this.db
      .updateTable('dispatch_leases')
      .set({ revoked: 1 })
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('lease_until', '>', now);
    if (groupIndex !== undefined) q = q.where('group_index', '=', groupIndex);
    const rows = await q.returning('lease_until').execute();
    return Math.max(now, ...rows.map((r) => Number(r.lease_until)));
  }
}
