import { type Selectable, sql } from 'kysely';
import type { Db } from './database';
import type { CampaignTable, MessageTable } from './schema';

export type CampaignRow = Selectable<CampaignTable>;

export class CampaignNameTakenError extends Error {
  override name = 'CampaignNameTakenError';
}

/** Campaigns (a trackingId, its request and analysis, the bulk that sends it) and the reads their API needs. */
export class CampaignStore {
  constructor(private readonly db: Db) {}

  async insert(row: CampaignRow): Promise<void> {
    try {
      await this.db.insertInto('campaigns').values(row).execute();
    } catch (err) {
      if (/unique|duplicate key/i.test((err as Error).message)) throw new CampaignNameTakenError(`a campaign named ${row.name} exists`);
      throw err;
    }
  }

  async get(accountId: string, trackingId: string): Promise<CampaignRow | undefined> {
    return this.db.selectFrom('campaigns').selectAll().where('account_id', '=', accountId).where('tracking_id', '=', trackingId).executeTakeFirst();
  }

  async nameTaken(accountId: string, name: string, except?: string): Promise<boolean> {
    let q = this.db.selectFrom('campaigns').select('tracking_id').where('account_id', '=', accountId).where('name', '=', name);
    if (except) q = q.where('tracking_id', '<>', except);
    return (await q.executeTakeFirst()) !== undefined;
  }

  /** Points the campaign at a new bulk (an update replaced it), with the new request and analysis. */
  async replace(accountId: string, trackingId: string, change: Pick<CampaignRow, 'name' | 'bulk_id' | 'request' | 'analysis' | 'updated_at'>): Promise<void> {
    try {
      await this.db.updateTable('campaigns').set(change).where('account_id', '=', accountId).where('tracking_id', '=', trackingId).execute();
    } catch (err) {
      if (/unique|duplicate key/i.test((err as Error).message)) throw new CampaignNameTakenError(`a campaign named ${change.name} exists`);
      throw err;
    }
  }

  async delete(accountId: string, trackingId: string): Promise<void> {
    await this.db.deleteFrom('campaigns').where('account_id', '=', accountId).where('tracking_id', '=', trackingId).execute();
  }

  /** How many of the bulk's messages have each status name. */
  async statusCounts(accountId: string, bulkId: string): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('messages')
      .select(['status_name', sql<number>`count(*)`.as('n')])
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .groupBy('status_name')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status_name, Number(r.n)]));
  }

  /** Messages of the bulk that left the queue (claimed, submitted or final): none means nothing was sent. */
  async countHandled(accountId: string, bulkId: string): Promise<number> {
    const { n } = await this.db
      .selectFrom('messages')
      .select(sql<number>`count(*)`.as('n'))
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where((eb) => eb.or([eb('state', '<>', 'QUEUED'), eb('provider_message_id', 'is not', null)]))
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  async messagesPage(
    accountId: string,
    bulkId: string,
    page: number,
    size: number,
  ): Promise<{ rows: Array<Selectable<MessageTable>>; total: number }> {
    const { n } = await this.db
      .selectFrom('messages')
      .select(sql<number>`count(*)`.as('n'))
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .executeTakeFirstOrThrow();
    const rows = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .orderBy('seq')
      .limit(size)
      .offset(page * size)
      .execute();
    return { rows, total: Number(n) };
  }
}
