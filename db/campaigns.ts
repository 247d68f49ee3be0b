import { type Insertable, type Selectable, sql } from 'kysely';
import type { Db } from './database';
import { isUniqueViolation, retryNumberRace } from './unique';
import type { CampaignCallbackTable, CampaignTable, MessageTable } from './schema';

export type CampaignCallbackRow = Selectable<CampaignCallbackTable>;

export type CampaignRow = Selectable<CampaignTable>;

export class CampaignNameTakenError extends Error {
  override name = 'CampaignNameTakenError';
}

/** Campaigns (a trackingId, its request and analysis, the bulk that sends it) and the reads their API needs. */
export class CampaignStore {
  constructor(private readonly db: Db) {}

  /**
   * Stores a new campaign. `numbered` gives it the account's next campaign number (ProTexting's Id), taken in the
   * insert itself; inserts that race for one number on PostgreSQL retry until each has its own. Returns the number.
   */
  async insert(row: Omit<Insertable<CampaignTable>, 'number'>, numbered = false): Promise<number | null> {
    const next = sql<number>`(select coalesce(max(number), 0) + 1 from campaigns where account_id = ${row.account_id})`;
    try {
      // Inserts racing for one number (PostgreSQL) try again; a taken name is the caller's to hear.
      await retryNumberRace(
        () => this.db.insertInto('campaigns').values({ ...row, number: numbered ? next : null }).execute(),
        (err) => numbered && /campaigns\.number|campaigns_number_uq/.test((err as Error).message),
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new CampaignNameTakenError(`a campaign named ${row.name} exists`);
      throw err;
    }
    if (!numbered) return null;
    return (await this.get(row.account_id, row.tracking_id))?.number ?? null;
  }

  async getByNumber(accountId: string, number: number): Promise<CampaignRow | undefined> {
    return this.db.selectFrom('campaigns').selectAll().where('account_id', '=', accountId).where('number', '=', number).executeTakeFirst();
  }

  /**
   * The account's numbered campaigns (ProTexting's), newest first, a page at a time; deleted (canceled) ones are
   * left out once their bulk recorded it.
   */
  async numberedPage(accountId: string, page: number, size: number): Promise<{ rows: CampaignRow[]; total: number }> {
    const base = this.db
      .selectFrom('campaigns as c')
      .innerJoin('bulks as b', (j) => j.onRef('b.account_id', '=', 'c.account_id').onRef('b.bulk_id', '=', 'c.bulk_id'))
      .where('c.account_id', '=', accountId)
      .where('c.number', 'is not', null)
      .where('b.status', '<>', 'CANCELED');
    const [rows, { n }] = await Promise.all([
      base.selectAll('c').orderBy('c.number', 'desc').limit(size).offset(page * size).execute(),
      base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(n) };
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

  /**
   * Campaigns last written in [since, before) whose bulk was never stored: their create died between the campaign
   * row and the bulk (the row is written first, as the guard of its unique name).
   */
  async withoutBulk(since: number, before: number, limit = 100): Promise<Array<Pick<CampaignRow, 'account_id' | 'tracking_id' | 'bulk_id' | 'name'>>> {
    return this.db
      .selectFrom('campaigns as c')
      .leftJoin('bulks as b', (j) => j.onRef('b.account_id', '=', 'c.account_id').onRef('b.bulk_id', '=', 'c.bulk_id'))
      .select(['c.account_id', 'c.tracking_id', 'c.bulk_id', 'c.name'])
      .where('b.bulk_id', 'is', null)
      .where('c.updated_at', '>=', since)
      .where('c.updated_at', '<', before)
      .limit(limit)
      .execute();
  }

  /**
   * A campaign's bulks other than its current one that are not final (reminders aside): what an update that died
   * midway left behind. Only campaigns last written in [since, before); their bulks are found by key range (every
   * bulk of a campaign has an id starting with its trackingId, then `~…`).
   */
  async strayBulks(since: number, before: number, finalStatuses: readonly string[], limit = 100): Promise<Array<{ account_id: string; tracking_id: string; bulk_id: string }>> {
    const { rows } = await sql<{ account_id: string; tracking_id: string; bulk_id: string }>`
      select o.account_id, c.tracking_id, o.bulk_id
      from campaigns c
      join bulks o on o.account_id = c.account_id and o.bulk_id >= c.tracking_id and o.bulk_id < c.tracking_id || '~~'
      where o.bulk_id <> c.bulk_id
        and (o.bulk_id = c.tracking_id or o.bulk_id like c.tracking_id || '~%')
        and o.bulk_id not like '%~before' and o.bulk_id not like '%~after'
        and o.status not in (${sql.join(finalStatuses)})
        and c.updated_at >= ${since} and c.updated_at < ${before}
      limit ${limit}`.execute(this.db);
    return rows;
  }

  async insertCallback(row: CampaignCallbackRow): Promise<void> {
    await this.db.insertInto('campaign_callbacks').values(row).execute();
  }

  async deleteCallback(accountId: string, bulkId: string): Promise<void> {
    await this.db.deleteFrom('campaign_callbacks').where('account_id', '=', accountId).where('bulk_id', '=', bulkId).execute();
  }

  /** The bulk's campaign callback still to be told something, if any. */
  async openCallback(accountId: string, bulkId: string): Promise<CampaignCallbackRow | undefined> {
    return this.db
      .selectFrom('campaign_callbacks')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .where('gave_up', '=', 0)
      .where('notified', '<', 5)
      .executeTakeFirst();
  }

  async markCallback(accountId: string, bulkId: string, change: Partial<Pick<CampaignCallbackRow, 'notified' | 'attempts' | 'next_attempt_at' | 'gave_up'>>): Promise<void> {
    await this.db.updateTable('campaign_callbacks').set(change).where('account_id', '=', accountId).where('bulk_id', '=', bulkId).execute();
  }

  /** How many of the bulk's messages have each status name, and how many are final. */
  async progress(accountId: string, bulkId: string): Promise<{ counts: Record<string, number>; total: number; final: number }> {
    const rows = await this.db
      .selectFrom('messages')
      .select(['status_name', sql<number>`count(*)`.as('n'), sql<number>`sum(case when state = 'FINAL' then 1 else 0 end)`.as('f')])
      .where('account_id', '=', accountId)
      .where('bulk_id', '=', bulkId)
      .groupBy('status_name')
      .execute();
    let total = 0;
    let final = 0;
    for (const r of rows) {
      total += Number(r.n);
      final += Number(r.f ?? 0);
    }
    return { counts: Object.fromEntries(rows.map((r) => [r.status_name, Number(r.n)])), total, final };
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
