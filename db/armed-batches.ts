import type { Db } from './database';
import type { GroupCommit } from './group-commit';

export type ArmedState = 'FIRED' | 'DISARMED';

/**
 * The fence between an armed batch and whoever stops it. A batch is started (armed) ahead of its due time and
 * waits in the worker without talking to the server; at the due time it records FIRED before it submits
 * anything. A pause, cancel or reschedule records DISARMED. Whichever row lands first stands, and both sides
 * read it back: so either the batch sends nothing, or the one who stops it knows the batch is sending (and waits
 * for it to stop, as for any running batch). Never both, and no messages reach the provider in between.
 */
export class ArmedBatches {
  constructor(
    private readonly db: Db,
    private readonly group: GroupCommit,
  ) {}

  /**
   * At the due time: records FIRED unless the batch was disarmed, in one statement through the group commit
   * (a thousand batches due at once share a commit). Returns the state that stands.
   */
  async fire(accountId: string, bulkId: string, batch: string, now: number): Promise<ArmedState> {
    const row = await this.group.run((trx) =>
      trx
        .insertInto('armed_batches')
        .values({ batch, account_id: accountId, bulk_id: bulkId, state: 'FIRED', at: now })
        // A no-op update, so that RETURNING gives the stored row when there is one.
        .onConflict((oc) => oc.column('batch').doUpdateSet((eb) => ({ state: eb.ref('armed_batches.state') })))
        .returning('state')
        .executeTakeFirstOrThrow(),
    );
    return row.state;
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
