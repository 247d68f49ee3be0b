import { randomBytes } from 'node:crypto';
import { type Selectable, sql } from 'kysely';
import type { Db } from './database';
import { isUniqueViolation, retryNumberRace } from './unique';
import type { ContactTable } from './schema';

/**
 * Contacts, labels, blacklists and groups: one account-scoped model that every dialect's routes and every
 * campaign's recipients come from. Every method takes the account first and never reaches another's rows.
 */

/** Opt-in of a contact: single (added by the account), double (the handset confirmed), or opted out. */
export type OptIn = 'SINGLE' | 'DOUBLE_CONFIRMED' | 'OPTED_OUT';

/** The services a contact can be blacklisted for (Routee's list). */
export const BLACKLIST_SERVICES = ['Sms', 'Voice', 'Viber', 'TwoStep', 'Lookup', 'NumberValidator'] as const;
export type BlacklistService = (typeof BLACKLIST_SERVICES)[number];

/** Labels every contact has; custom ones must be defined first. */
export const BUILT_IN_LABELS: Readonly<Record<string, LabelType>> = {
  firstName: 'Text',
  lastName: 'Text',
  mobile: 'Text',
  email: 'Text',
  country: 'Text',
};
export type LabelType = 'Text' | 'Number';

/** Groups every account has: everyone, and everyone in no group of their own. */
export const ALL_GROUP = 'All';
export const NOT_LISTED_GROUP = 'NotListed';
const VIRTUAL_GROUPS = new Set([ALL_GROUP, NOT_LISTED_GROUP]);

export interface Contact {
  id: string;
  mobile: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  vip: boolean;
  /** ISO 3166 alpha-2 of the number, when known. */
  country?: string;
  labels: Record<string, string>;
  blacklist: BlacklistService[];
  optIn: OptIn;
  /** Names of the groups it belongs to, with the virtual All (always) and NotListed (when in none). */
  groups: string[];
  createdAt: number;
  updatedAt: number;
}

export interface ContactInput {
  mobile: string;
  country?: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  vip?: boolean;
  labels?: Record<string, string>;
  optIn?: OptIn;
}

export interface Group {
  id: number;
  name: string;
  size: number;
  /** ProTexting's group note, when one was given. */
  note?: string;
  createdAt?: number;
}

export type ContactErrorKind =
  | 'CONTACT_NOT_FOUND'
  | 'MOBILE_EXISTS'
  | 'LABEL_NOT_DEFINED'
  | 'LABEL_EXISTS'
  | 'LABEL_DUPLICATE'
  | 'GROUP_EXISTS'
  | 'GROUP_NOT_FOUND'
  | 'GROUP_RESERVED';

/** A request the contact rules refuse; routers map the kind to their dialect's code. */
export class ContactError extends Error {
  override name = 'ContactError';
  constructor(
    readonly kind: ContactErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Routee's ids look like MongoDB's: 24 hex digits. */
function newContactId(): string {
  return randomBytes(12).toString('hex');
}

/** IN lists are cut to this size (SQLite's bound-parameter limit is 32,766; PostgreSQL's 65,535). */
const IN_CHUNK = 500;

function chunks<T>(items: readonly T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}


type ContactRow = Selectable<ContactTable>;

export class ContactStore {
  constructor(private readonly db: Db) {}

  // ---- labels

  /** The labels of the account: built-in and custom, name → type. */
  async labels(accountId: string): Promise<Record<string, LabelType>> {
    const rows = await this.db.selectFrom('contact_labels').select(['name', 'type']).where('account_id', '=', accountId).orderBy('name').execute();
    return { ...BUILT_IN_LABELS, ...Object.fromEntries(rows.map((r) => [r.name, r.type as LabelType])) };
  }

  async defineLabels(accountId: string, labels: Array<{ name: string; type: LabelType }>): Promise<Array<{ name: string; type: LabelType }>> {
    const names = labels.map((l) => l.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new ContactError('LABEL_DUPLICATE', `label ${dup} is given twice`);
    return this.db.transaction().execute(async (trx) => {
      const existing = await this.labelsIn(trx, accountId);
      const taken = names.find((n) => n in BUILT_IN_LABELS || existing.has(n));
      if (taken) throw new ContactError('LABEL_EXISTS', `label ${taken} already exists`);
      try {
        if (labels.length > 0) await trx.insertInto('contact_labels').values(labels.map((l) => ({ account_id: accountId, name: l.name, type: l.type }))).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ContactError('LABEL_EXISTS', 'a label of that name already exists');
        throw err;
      }
      return labels;
    });
  }

  private async labelsIn(db: Db, accountId: string): Promise<Set<string>> {
    const rows = await db.selectFrom('contact_labels').select('name').where('account_id', '=', accountId).execute();
    return new Set(rows.map((r) => r.name));
  }

  private async checkLabels(db: Db, accountId: string, labels: Record<string, string> | undefined): Promise<void> {
    const names = Object.keys(labels ?? {});
    if (names.length === 0) return;
    const defined = await this.labelsIn(db, accountId);
    const missing = names.find((n) => !defined.has(n) && !(n in BUILT_IN_LABELS));
    if (missing) throw new ContactError('LABEL_NOT_DEFINED', `label ${missing} is not defined; define it first (POST /contacts/labels/my)`);
  }

  // ---- contacts

  async createContact(accountId: string, input: ContactInput, now = Date.now()): Promise<Contact> {
    return this.db.transaction().execute(async (trx) => {
      await this.checkLabels(trx, accountId, input.labels);
      await this.ensureMobileFree(trx, accountId, input.mobile);
      const id = newContactId();
      try {
        await trx
          .insertInto('contacts')
          .values({ account_id: accountId, contact_id: id, ...this.columns(input), blacklist: '[]', opt_in: input.optIn ?? 'SINGLE', created_at: now, updated_at: now })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ContactError('MOBILE_EXISTS', `a contact with mobile ${input.mobile} already exists`);
        throw err;
      }
      return (await this.withGroups(trx, accountId, [await this.row(trx, accountId, id)]))[0]!;
    });
  }

  /**
   * Many contacts at once (an import): each row stands alone — one that is refused is reported with its index
   * and reason, the others are stored. Rows go in transactions of up to 500.
   */
  async importContacts(
    accountId: string,
    inputs: ContactInput[],
    now = Date.now(),
  ): Promise<{ created: number; errors: Array<{ row: number; kind: ContactErrorKind | 'INVALID'; message: string }> }> {
    const errors: Array<{ row: number; kind: ContactErrorKind | 'INVALID'; message: string }> = [];
    let created = 0;
    const defined = await this.labelsIn(this.db, accountId);
    const seen = new Set<string>();
    for (const [c, part] of chunks(inputs).entries()) {
      const base = c * IN_CHUNK;
      await this.db.transaction().execute(async (trx) => {
        const existing = new Set(
          (await trx.selectFrom('contacts').select('mobile').where('account_id', '=', accountId).where('mobile', 'in', part.map((p) => p.mobile)).execute()).map((r) => r.mobile),
        );
        const rows = [];
        for (const [i, input] of part.entries()) {
          const missing = Object.keys(input.labels ?? {}).find((n) => !defined.has(n) && !(n in BUILT_IN_LABELS));
          if (missing) errors.push({ row: base + i, kind: 'LABEL_NOT_DEFINED', message: `label ${missing} is not defined` });
          else if (existing.has(input.mobile) || seen.has(input.mobile)) errors.push({ row: base + i, kind: 'MOBILE_EXISTS', message: `a contact with mobile ${input.mobile} already exists` });
          else {
            seen.add(input.mobile);
            rows.push({ account_id: accountId, contact_id: newContactId(), ...this.columns(input), blacklist: '[]', opt_in: input.optIn ?? 'SINGLE', created_at: now, updated_at: now });
          }
        }
        // Multi-row inserts of 50: well inside every bound-parameter limit.
        for (const piece of chunks(rows, 50)) await trx.insertInto('contacts').values(piece).execute();
        created += rows.length;
      });
    }
    return { created, errors };
  }

  async getContact(accountId: string, id: string): Promise<Contact> {
    return (await this.withGroups(this.db, accountId, [await this.row(this.db, accountId, id)]))[0]!;
  }

  async findByMobile(accountId: string, mobile: string): Promise<Contact | undefined> {
    const row = await this.db.selectFrom('contacts').selectAll().where('account_id', '=', accountId).where('mobile', '=', mobile).executeTakeFirst();
    return row ? (await this.withGroups(this.db, accountId, [row]))[0] : undefined;
  }

  async listContacts(accountId: string, page: number, size: number): Promise<{ content: Contact[]; total: number }> {
    const total = await this.countContacts(this.db, accountId);
    const rows = await this.db
      .selectFrom('contacts')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('contact_id')
      .limit(size)
      .offset(page * size)
      .execute();
    return { content: await this.withGroups(this.db, accountId, rows), total };
  }

  /** Replaces the contact's fields (PUT): what is not given is cleared; groups and blacklist stay. */
  async updateContact(accountId: string, id: string, input: ContactInput, now = Date.now()): Promise<Contact> {
    return this.db.transaction().execute(async (trx) => {
      const current = await this.row(trx, accountId, id);
      await this.checkLabels(trx, accountId, input.labels);
      if (input.mobile !== current.mobile) await this.ensureMobileFree(trx, accountId, input.mobile);
      try {
        await trx
          .updateTable('contacts')
          .set({ ...this.columns(input), ...(input.optIn ? { opt_in: input.optIn } : {}), updated_at: now })
          .where('account_id', '=', accountId)
          .where('contact_id', '=', id)
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ContactError('MOBILE_EXISTS', `a contact with mobile ${input.mobile} already exists`);
        throw err;
      }
      return (await this.withGroups(trx, accountId, [await this.row(trx, accountId, id)]))[0]!;
    });
  }

  async setOptIn(accountId: string, id: string, optIn: OptIn, now = Date.now()): Promise<void> {
    const r = await this.db.updateTable('contacts').set({ opt_in: optIn, updated_at: now }).where('account_id', '=', accountId).where('contact_id', '=', id).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new ContactError('CONTACT_NOT_FOUND', `no contact ${id}`);
  }

  async deleteContact(accountId: string, id: string): Promise<Contact> {
    return this.db.transaction().execute(async (trx) => {
      const [contact] = await this.withGroups(trx, accountId, [await this.row(trx, accountId, id)]);
      await trx.deleteFrom('group_members').where('account_id', '=', accountId).where('contact_id', '=', id).execute();
      await trx.deleteFrom('contacts').where('account_id', '=', accountId).where('contact_id', '=', id).execute();
      return contact!;
    });
  }

  /** Deletes those of the ids that exist; returns them. */
  async deleteContacts(accountId: string, ids: string[]): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const deleted: string[] = [];
      for (const part of chunks([...new Set(ids)])) {
        const found = await trx.selectFrom('contacts').select('contact_id').where('account_id', '=', accountId).where('contact_id', 'in', part).execute();
        const present = found.map((r) => r.contact_id);
        if (present.length === 0) continue;
        await trx.deleteFrom('group_members').where('account_id', '=', accountId).where('contact_id', 'in', present).execute();
        await trx.deleteFrom('contacts').where('account_id', '=', accountId).where('contact_id', 'in', present).execute();
        deleted.push(...present);
      }
      return deleted;
    });
  }

  /** Contacts by id, in the order asked, each once; a missing id is CONTACT_NOT_FOUND. */
  async contactsByIds(accountId: string, ids: string[]): Promise<Contact[]> {
    const unique = [...new Set(ids)];
    const rows: ContactRow[] = [];
    for (const part of chunks(unique)) {
      rows.push(...(await this.db.selectFrom('contacts').selectAll().where('account_id', '=', accountId).where('contact_id', 'in', part).execute()));
    }
    const byId = new Map(rows.map((r) => [r.contact_id, r]));
    const missing = unique.find((id) => !byId.has(id));
    if (missing) throw new ContactError('CONTACT_NOT_FOUND', `no contact ${missing}`);
    return this.withGroups(this.db, accountId, unique.map((id) => byId.get(id)!));
  }

  // ---- blacklist

  /** Blacklists (or clears) the contacts for one service; the number of contacts whose list changed. */
  async setBlacklisted(accountId: string, service: BlacklistService, ids: string[], on: boolean, now = Date.now()): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      let updated = 0;
      for (const part of chunks([...new Set(ids)])) {
        const rows = await trx.selectFrom('contacts').select(['contact_id', 'blacklist']).where('account_id', '=', accountId).where('contact_id', 'in', part).execute();
        if (rows.length < part.length) {
          const found = new Set(rows.map((r) => r.contact_id));
          throw new ContactError('CONTACT_NOT_FOUND', `no contact ${part.find((id) => !found.has(id))}`);
        }
        for (const r of rows) {
          const list = new Set(JSON.parse(r.blacklist) as BlacklistService[]);
          if (list.has(service) === on) continue;
          if (on) list.add(service);
          else list.delete(service);
          await trx
            .updateTable('contacts')
            .set({ blacklist: JSON.stringify([...list]), updated_at: now })
            .where('account_id', '=', accountId)
            .where('contact_id', '=', r.contact_id)
            .execute();
          updated++;
        }
      }
      return updated;
    });
  }

  async blacklisted(accountId: string, service: BlacklistService): Promise<Contact[]> {
    // The list is small JSON; a LIKE narrows the scan, the parse decides.
    const rows = await this.db
      .selectFrom('contacts')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('blacklist', 'like', `%"${service}"%`)
      .orderBy('created_at')
      .execute();
    return this.withGroups(this.db, accountId, rows.filter((r) => (JSON.parse(r.blacklist) as string[]).includes(service)));
  }

  // ---- groups

  async createGroup(accountId: string, name: string, now = Date.now(), note?: string): Promise<Group> {
    if (VIRTUAL_GROUPS.has(name)) throw new ContactError('GROUP_EXISTS', `group ${name} already exists`);
    return retryNumberRace(() =>
      this.db.transaction().execute(async (trx) => {
        const taken = await trx.selectFrom('contact_groups').select('group_id').where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
        if (taken) throw new ContactError('GROUP_EXISTS', `group ${name} already exists`);
        const { top } = await trx
          .selectFrom('contact_groups')
          .select(sql<number>`coalesce(max(group_id), 0)`.as('top'))
          .where('account_id', '=', accountId)
          .executeTakeFirstOrThrow();
        const id = Number(top) + 1;
        await trx.insertInto('contact_groups').values({ account_id: accountId, group_id: id, name, created_at: now, note: note ?? null }).execute();
        return { id, name, size: 0, ...(note !== undefined ? { note } : {}), createdAt: now };
      }),
    );
  }

  /** The account's groups, the virtual ones first. */
  async listGroups(accountId: string): Promise<Group[]> {
    const rows = await this.db
      .selectFrom('contact_groups as g')
      .leftJoin('group_members as m', (j) => j.onRef('m.account_id', '=', 'g.account_id').onRef('m.group_id', '=', 'g.group_id'))
      .select(['g.group_id', 'g.name', 'g.note', 'g.created_at', sql<number>`count(m.contact_id)`.as('size')])
      .where('g.account_id', '=', accountId)
      .groupBy(['g.group_id', 'g.name', 'g.note', 'g.created_at'])
      .orderBy('g.group_id')
      .execute();
    const all = await this.countContacts(this.db, accountId);
    const notListed = await this.countNotListed(accountId);
    return [{ id: 0, name: ALL_GROUP, size: all }, { id: -1, name: NOT_LISTED_GROUP, size: notListed }, ...rows.map((r) => ({ id: r.group_id, name: r.name, size: Number(r.size), ...(r.note !== null ? { note: r.note } : {}), createdAt: Number(r.created_at) }))];
  }

  async getGroup(accountId: string, nameOrId: string | number): Promise<Group> {
    if (nameOrId === ALL_GROUP) return { id: 0, name: ALL_GROUP, size: await this.countContacts(this.db, accountId) };
    if (nameOrId === NOT_LISTED_GROUP) return { id: -1, name: NOT_LISTED_GROUP, size: await this.countNotListed(accountId) };
    const row = await this.db
      .selectFrom('contact_groups')
      .select(['group_id', 'name', 'note', 'created_at'])
      .where('account_id', '=', accountId)
      .where(typeof nameOrId === 'number' ? 'group_id' : 'name', '=', nameOrId as never)
      .executeTakeFirst();
    if (!row) throw new ContactError('GROUP_NOT_FOUND', `no group ${nameOrId}`);
    const { n } = await this.db
      .selectFrom('group_members')
      .select(sql<number>`count(*)`.as('n'))
      .where('account_id', '=', accountId)
      .where('group_id', '=', row.group_id)
      .executeTakeFirstOrThrow();
    return { id: row.group_id, name: row.name, size: Number(n), ...(row.note !== null ? { note: row.note } : {}), createdAt: Number(row.created_at) };
  }

  /** Deletes groups by name (optionally their contacts too); names that do not exist are skipped. */
  async deleteGroups(accountId: string, names: string[], deleteContacts: boolean): Promise<Array<{ name: string; deletedContacts: boolean }>> {
    const out: Array<{ name: string; deletedContacts: boolean }> = [];
    for (const name of new Set(names)) {
      if (VIRTUAL_GROUPS.has(name)) throw new ContactError('GROUP_RESERVED', `group ${name} cannot be deleted`);
      await this.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('contact_groups').select('group_id').where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
        if (!row) return;
        if (deleteContacts) {
          const members = (await trx.selectFrom('group_members').select('contact_id').where('account_id', '=', accountId).where('group_id', '=', row.group_id).execute()).map((m) => m.contact_id);
          for (const part of chunks(members)) {
            await trx.deleteFrom('group_members').where('account_id', '=', accountId).where('contact_id', 'in', part).execute();
            await trx.deleteFrom('contacts').where('account_id', '=', accountId).where('contact_id', 'in', part).execute();
          }
        }
        await trx.deleteFrom('group_members').where('account_id', '=', accountId).where('group_id', '=', row.group_id).execute();
        await trx.deleteFrom('contact_groups').where('account_id', '=', accountId).where('group_id', '=', row.group_id).execute();
        out.push({ name, deletedContacts: deleteContacts });
      });
    }
    return out;
  }

  /** Adds (or removes) contacts to a group; every id must be the account's. */
  async setMembership(accountId: string, nameOrId: string | number, ids: string[], member: boolean): Promise<Group> {
    const group = await this.getGroup(accountId, nameOrId);
    if (group.id <= 0) throw new ContactError('GROUP_RESERVED', `the members of ${group.name} follow from the contacts; they cannot be set`);
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks([...new Set(ids)])) {
        const found = new Set(
          (await trx.selectFrom('contacts').select('contact_id').where('account_id', '=', accountId).where('contact_id', 'in', part).execute()).map((r) => r.contact_id),
        );
        const missing = part.find((id) => !found.has(id));
        if (missing) throw new ContactError('CONTACT_NOT_FOUND', `no contact ${missing}`);
        await trx.deleteFrom('group_members').where('account_id', '=', accountId).where('group_id', '=', group.id).where('contact_id', 'in', part).execute();
        if (member) {
          for (const piece of chunks(part, 100)) {
            await trx.insertInto('group_members').values(piece.map((id) => ({ account_id: accountId, group_id: group.id, contact_id: id }))).execute();
          }
        }
      }
    });
    return this.getGroup(accountId, group.id === 0 ? ALL_GROUP : group.id);
  }

  /** A page of a group's contacts (All and NotListed included). */
  async groupContacts(accountId: string, nameOrId: string | number, page: number, size: number): Promise<{ content: Contact[]; total: number }> {
    const group = await this.getGroup(accountId, nameOrId);
    const rows = await this.membersQuery(accountId, group.id).orderBy('c.created_at').orderBy('c.contact_id').limit(size).offset(page * size).execute();
    return { content: await this.withGroups(this.db, accountId, rows), total: group.size };
  }

  /** Every contact of the groups, each once, with its groups; an unknown group is GROUP_NOT_FOUND. */
  async contactsOfGroups(accountId: string, namesOrIds: Array<string | number>): Promise<Contact[]> {
    const byId = new Map<string, ContactRow>();
    for (const g of new Set(namesOrIds)) {
      const group = await this.getGroup(accountId, g);
      for (const row of await this.membersQuery(accountId, group.id).orderBy('c.created_at').orderBy('c.contact_id').execute()) byId.set(row.contact_id, row);
    }
    return this.withGroups(this.db, accountId, [...byId.values()]);
  }

  private membersQuery(accountId: string, groupId: number) {
    const base = this.db.selectFrom('contacts as c').selectAll('c').where('c.account_id', '=', accountId);
    if (groupId === 0) return base;
    if (groupId === -1) {
      return base.where((eb) =>
        eb.not(eb.exists(eb.selectFrom('group_members as m').select('m.contact_id').whereRef('m.account_id', '=', 'c.account_id').whereRef('m.contact_id', '=', 'c.contact_id'))),
      );
    }
    return base.where((eb) =>
      eb.exists(
        eb
          .selectFrom('group_members as m')
          .select('m.contact_id')
          .whereRef('m.account_id', '=', 'c.account_id')
          .whereRef('m.contact_id', '=', 'c.contact_id')
          .where('m.group_id', '=', groupId),
      ),
    );
  }

  // ---- helpers

  private columns(input: ContactInput) {
    return {
      mobile: input.mobile,
      first_name: input.firstName ?? null,
      last_name: input.lastName ?? null,
      email: input.email ?? null,
      vip: input.vip ? 1 : 0,
      country: input.country ?? null,
      labels: JSON.stringify(input.labels ?? {}),
    };
  }

  private async ensureMobileFree(db: Db, accountId: string, mobile: string): Promise<void> {
    const taken = await db.selectFrom('contacts').select('contact_id').where('account_id', '=', accountId).where('mobile', '=', mobile).executeTakeFirst();
    if (taken) throw new ContactError('MOBILE_EXISTS', `a contact with mobile ${mobile} already exists`);
  }

  private async row(db: Db, accountId: string, id: string): Promise<ContactRow> {
    const row = await db.selectFrom('contacts').selectAll().where('account_id', '=', accountId).where('contact_id', '=', id).executeTakeFirst();
    if (!row) throw new ContactError('CONTACT_NOT_FOUND', `no contact ${id}`);
    return row;
  }

  private async countContacts(db: Db, accountId: string): Promise<number> {
    const { n } = await db.selectFrom('contacts').select(sql<number>`count(*)`.as('n')).where('account_id', '=', accountId).executeTakeFirstOrThrow();
    return Number(n);
  }

  private async countNotListed(accountId: string): Promise<number> {
    const { n } = await this.membersQuery(accountId, -1)
      .clearSelect()
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  private async withGroups(db: Db, accountId: string, rows: ContactRow[]): Promise<Contact[]> {
    const names = new Map<string, string[]>();
    for (const part of chunks(rows.map((r) => r.contact_id))) {
      if (part.length === 0) continue;
      const memberships = await db
        .selectFrom('group_members as m')
        .innerJoin('contact_groups as g', (j) => j.onRef('g.account_id', '=', 'm.account_id').onRef('g.group_id', '=', 'm.group_id'))
        .select(['m.contact_id', 'g.name'])
        .where('m.account_id', '=', accountId)
        .where('m.contact_id', 'in', part)
        .orderBy('g.group_id')
        .execute();
      for (const m of memberships) (names.get(m.contact_id) ?? names.set(m.contact_id, []).get(m.contact_id)!).push(m.name);
    }
    return rows.map((r) => {
      const own = names.get(r.contact_id) ?? [];
      return {
        id: r.contact_id,
        mobile: r.mobile,
        ...(r.first_name !== null ? { firstName: r.first_name } : {}),
        ...(r.last_name !== null ? { lastName: r.last_name } : {}),
        ...(r.email !== null ? { email: r.email } : {}),
        vip: r.vip === 1,
        ...(r.country !== null ? { country: r.country } : {}),
        labels: JSON.parse(r.labels) as Record<string, string>,
        blacklist: JSON.parse(r.blacklist) as BlacklistService[],
        optIn: r.opt_in as OptIn,
        groups: [ALL_GROUP, ...(own.length === 0 ? [NOT_LISTED_GROUP] : own)],
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      };
    });
  }
}
