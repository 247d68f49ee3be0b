import { type Selectable, sql } from 'kysely';
import type { Db } from './database';
import type { InboundMessageTable, OptInRequestTable } from './schema';

export type InboundMessageRow = Selectable<InboundMessageTable>;
export type OptInRequestRow = Selectable<OptInRequestTable>;

/** International digits without '+', the form messages and opt-outs are stored in. */
export function bareNumber(number: string): string {
  return number.replace(/^\+/, '');
}

/**
 * Who asked an account for no more messages, what handsets sent in, and the double opt-ins waiting for a YES.
 * Every dialect reads the opt-outs: campaigns leave those numbers out, and the send activity checks each chunk
 * against them right before it reaches the provider, so a STOP in the middle of a bulk stops what is still queued.
 */
export class OptOutStore {
  constructor(private readonly db: Db) {}

  /**
   * Opts the numbers out for the account; also marks its contacts with those numbers OPTED_OUT. Idempotent.
   * `at` is when it was written (not when the handset sent it): senders ask for what came in since a moment.
   */
  async optOut(accountId: string, numbers: string[], source: string, now = Date.now()): Promise<void> {
    const bare = [...new Set(numbers.map(bareNumber))];
    if (bare.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('opt_outs')
        .values(bare.map((number) => ({ account_id: accountId, number, source, at: now })))
        .onConflict((oc) => oc.columns(['account_id', 'number']).doNothing())
        .execute();
      await trx
        .updateTable('contacts')
        .set({ opt_in: 'OPTED_OUT', updated_at: now })
        .where('account_id', '=', accountId)
        .where('mobile', 'in', bare.map((n) => `+${n}`))
        .execute();
    });
  }

  /** Takes an opt-out back (ProTexting's undo of an API opt-out); the contact is single opt-in again. */
  async optBackIn(accountId: string, number: string, now = Date.now()): Promise<void> {
    const bare = bareNumber(number);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('opt_outs').where('account_id', '=', accountId).where('number', '=', bare).execute();
      await trx
        .updateTable('contacts')
        .set({ opt_in: 'SINGLE', updated_at: now })
        .where('account_id', '=', accountId)
        .where('mobile', '=', `+${bare}`)
        .where('opt_in', '=', 'OPTED_OUT')
        .execute();
    });
  }

  /** Which of the numbers (any form) are opted out for the account, as bare digits. */
  async optedOut(accountId: string, numbers: string[]): Promise<Set<string>> {
    const bare = [...new Set(numbers.map(bareNumber))];
    const found = new Set<string>();
    // Bounded IN lists: a chunk is small, a campaign's recipients may be many.
    for (let i = 0; i < bare.length; i += 500) {
      const rows = await this.db
        .selectFrom('opt_outs')
        .select('number')
        .where('account_id', '=', accountId)
        .where('number', 'in', bare.slice(i, i + 500))
        .execute();
      for (const r of rows) found.add(r.number);
    }
    return found;
  }

  /** Keeps an inbound message under `id` (the provider's id when it gave one); false when that id was kept before. */
  /** Numbers opted out for the account and written after `since` (epoch ms). */
  async optedOutSince(accountId: string, since: number): Promise<string[]> {
    const rows = await this.db.selectFrom('opt_outs').select('number').where('account_id', '=', accountId).where('at', '>', since).execute();
    return rows.map((r) => r.number);
  }

  async recordInbound(row: InboundMessageRow): Promise<boolean> {
    const r = await this.db.insertInto('inbound_messages').values(row).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** The account's inbound messages, newest first. */
  async inboundPage(accountId: string, page: number, size: number): Promise<{ rows: InboundMessageRow[]; total: number }> {
    const base = this.db.selectFrom('inbound_messages').where('account_id', '=', accountId);
    const [rows, { n }] = await Promise.all([
      base.selectAll().orderBy('received_at', 'desc').orderBy('id').limit(size).offset(page * size).execute(),
      base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(n) };
  }

  /** Asks the number for a double opt-in into the groups (a later request replaces an earlier one). */
  async requestOptIn(accountId: string, number: string, groupIds: number[], confirmMessage: string | undefined, now = Date.now()): Promise<void> {
    const row = { account_id: accountId, number: bareNumber(number), group_ids: JSON.stringify(groupIds), confirm_message: confirmMessage ?? null, requested_at: now };
    await this.db
      .insertInto('opt_in_requests')
      .values(row)
      .onConflict((oc) => oc.columns(['account_id', 'number']).doUpdateSet({ group_ids: row.group_ids, confirm_message: row.confirm_message, requested_at: now }))
      .execute();
  }

  /** The number's open opt-in request, if any. */
  async optInRequest(accountId: string, number: string): Promise<OptInRequestRow | undefined> {
    return this.db.selectFrom('opt_in_requests').selectAll().where('account_id', '=', accountId).where('number', '=', bareNumber(number)).executeTakeFirst();
  }

  /** Closes the request the YES answered (only that one: a newer request for the number stays open). */
  async closeOptInRequest(row: OptInRequestRow): Promise<void> {
    await this.db
      .deleteFrom('opt_in_requests')
      .where('account_id', '=', row.account_id)
      .where('number', '=', row.number)
      .where('requested_at', '=', row.requested_at)
      .execute();
  }

  async inboundSeen(id: string): Promise<boolean> {
    return (await this.db.selectFrom('inbound_messages').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
  }
}
