import type { Db } from './database';

export type ArmedState = 'FIRED' | 'DISARMED';

/**
 * The fence between an armed batch and whoever stops it. A batch is started (armed) ahead of its due time and
 * waits in the worker without talking to the server; at the due time it records FIRED before it submits
 * anything. A pause, cancel or reschedule records DISARMED. Whichever row lands first stands, and both sides
 * read it back: so either the batch sends nothing, or the one who stops it knows the batch is sending (and waits
 * for it to stop, as for any running batch). Never both, and no messages reach the provider in between.
 */
/** Fires recorded in one statement at most. */
const FIRES_PER_STATEMENT = 1000;

interface PendingFire {
  row: { batch: string; account_id: string; bulk_id: string; state: 'FIRED'; at: number };
  resolve: (state: ArmedState) => void;
  reject: (err: unknown) => void;
}

export class ArmedBatches {
  private readonly fires: PendingFire[] = [];
  private firing = false;

  constructor(private readonly db: Db) {}

  /**
   * At the due time: records FIRED unless the batch was disarmed, and returns the state that stands. The
   * batches that fire while one statement runs go together in the next: a thousand due at once cost a few
   * statements, not a thousand.
   */
  fire(accountId: string, bulkId: string, batch: string, now: number): Promise<ArmedState> {
    return new Promise<ArmedState>((resolve, reject) => {
      this.fires.push({ row: { batch, account_id: accountId, bulk_id: bulkId, state: 'FIRED', at: now }, resolve, reject });
      if (!this.firing) void this.flushFires();
    });
  }

  private async flushFires(): Promise<void> {
    this.firing = true;
    try {
      while (this.fires.length > 0) {
        const group = this.fires.splice(0, FIRES_PER_STATEMENT);
        try {
          const rows = await this.db
            .insertInto('armed_batches')
            // One row per batch (two attempts of one batch may fire together): a statement may touch a row once.
            .values([...new Map(group.map((f) => [f.row.batch, f.row])).values()])
            // A no-op update, so that RETURNING gives the stored row where there is one (DISARMED stays).
            .onConflict((oc) => oc.column('batch').doUpdateSet((eb) => ({ state: eb.ref('armed_batches.state') })))
            .returning(['batch', 'state'])
            .execute();
          const states = new Map(rows.map((r) => [r.batch, r.state]));
          for (const f of group) {
            const state = states.get(f.row.batch);
            if (state) f.resolve(state);
            else f.reject(new Error(`no armed_batches row for ${f.row.batch}`));
          }
        } catch (err) {
          for (const f of group) f.reject(err);
        }
      }
    } finally {
      this.firing = false;
    }
  }

  /** The batch's state, if it has one (a read: for a batch about to prepare, which was maybe disarmed already). */
  async state(batch: string): Promise<ArmedState | undefined> {
    return (await this.db.selectFrom('armed_batches').select('state').where('batch', '=', batch).executeTakeFirst())?.state;
  }

  /** Records `state` for each batch unless it has one already; returns the state that stands for each. */
  async settle(accountId: string, bulkId: string, batches: string[], state: ArmedState, now: number): Promise<Map<string, ArmedState>> {
    if (batches.length === 0) return new Map();
    await this.db
      .insertInto('armed_batches')
      .values(batches.map((batch) => ({ batch, account_id: accountId, bulk_id: bulkId, state, at: now })))
      .onConflict((oc) => oc.column('batch').doNothing())
      .execute();
    const rows = await this.db.selectFrom('armed_batches').select(['batch', 'state']).where('batch', 'in', batches).execute();
    return new Map(rows.map((r) => [r.batch, r.state]));
  }

  /**
   * Forgets rows older than `before`. Not per bulk when it closes: a disarmed batch's activity may still be
   * waiting for its due time then, and must still find itself disarmed.
   */
  async forgetBefore(before: number): Promise<void> {
    await this.db.deleteFrom('armed_batches').where('at', '<', before).execute();
  }
}
