import { randomUUID } from 'node:crypto';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { type CampaignRow, CampaignStore } from '../db/campaigns';
import type { Db } from '../db/database';
import { type Contact, ContactError, ContactStore } from '../db/contacts';
import { OptOutStore } from '../db/opt-outs';
import { type BulkStatus, FINAL_BULK_STATUSES } from '../domain/bulk-control';
import { countSmsParts, detectEncoding } from '../domain/encoding';
import { bodyLabels, fallbackMap, personalize } from '../domain/personalization';
import { quietHoldUntil } from '../domain/quiet-hours';
import { zonesOfCountry } from './time-zones';
import { transliterate } from '../domain/transliteration';
import { type BulkControlService, ControlRefusedError } from './bulk-control-service';
import { ROUTEE_CALLBACK_TYPE, type RouteeCallbackContext, routeeStatusCounts, routeeStatusOf, type RouteeStatus } from './reports';

export { routeeStatusOf };
import { type BulkService, type CreateBulkCommand } from './bulk-service';

/** At most this many numbers in `to` (Routee's limit); contacts and groups add to them. */
export const MAX_TO_NUMBERS = 30_000;
/** At most this many recipients in one campaign, whatever their source. */
export const MAX_CAMPAIGN_RECIPIENTS = 1_000_000;

/** A campaign as the core sees it: recipients from numbers, contacts and groups; one body, personalized. */
export interface CampaignCommand {
  accountId: string;
  to: string[];
  contacts: string[];
  groups: string[];
  from: string;
  body: string;
  /** Epoch millis; absent means now. */
  sendAt?: number;
  campaignName?: string;
  flash: boolean;
  fallbackValues?: Record<string, string> | string[];
  transcode?: boolean;
  /** Hold each message out of 23:00–08:00 and 14:00–17:00 of its recipient's local time (domain/quiet-hours). */
  respectQuietHours?: boolean;
  /** Per-message callbacks: every change (OnChange) or the final status only (OnCompletion). */
  callback?: CallbackSpec;
  /** Campaign progress: every fifth of the messages final (OnChange) or once at the end (OnCompletion). */
  campaignCallback?: CallbackSpec;
  /** The campaign's text to these numbers this long before and/or after its send time. */
  reminder?: ReminderSpec;
  /** Only contacts that confirmed a double opt-in (ProTexting's TypeRecipients 1); others are left out, not counted. */
  doubleOptInOnly?: boolean;
  /** Give the campaign its account's next number (ProTexting addresses campaigns by an integer Id). */
  numbered?: boolean;
  /** Sent as MMS: the subject and the media of an approved template (ProTexting). */
  mms?: MmsSpec;
}

export interface MmsSpec {
  templateId: number;
  mediaUrl: string;
  subject?: string;
  highResolution?: boolean;
}

export interface ReminderSpec {
  minutesBefore?: number;
  minutesAfter?: number;
  to: string[];
}

export interface CallbackSpec {
  url: string;
  strategy: 'OnChange' | 'OnCompletion';
}

/** What the Routee reply calls smsAnalysis. */
export interface CampaignAnalysis {
  numberOfRecipients: number;
  recipientsPerCountry: Record<string, number>;
  recipientCountries: Record<string, string>;
  contacts: Record<string, { recipient: string; recipientCountry?: string; blacklisted: boolean }>;
  recipientsPerGroup: Record<string, number>;
  totalInGroups: number;
  bodyAnalysis: {
    characters: number;
    parts: number;
    unicode: boolean;
    transcode?: { message: string; parts: number };
    unsupportedGSMCharacters: string[];
  };
}

/** How a campaign moves: Scheduled → Queued → Running → Sent, or Paused (an operator) / Cancelled. */
export type CampaignState = 'Scheduled' | 'Queued' | 'Running' | 'Paused' | 'Sent' | 'Cancelled';

export interface CampaignView {
  trackingId: string;
  /** The account's number for it, when it was made numbered (ProTexting). */
  number: number | null;
  bulkId: string;
  createdAt: number;
  sendAt: number;
  state: CampaignState;
  /** The request as stored (normalized), for echoing back. */
  request: StoredRequest;
  analysis: CampaignAnalysis;
  totalMessages: number;
  statuses: Record<RouteeStatus, number>;
}

/** The request as stored with its campaign: the command without its account, the send time as asked. */
export type StoredRequest = Omit<CampaignCommand, 'accountId' | 'sendAt' | 'numbered'> & {
  /** Epoch millis as asked (absent: sent at once). */
  scheduledDate?: number;
  /** Messages held by quiet hours, per country (Routee's quietHoursReport). */
  quietHoursReport?: Record<string, number>;
};

export type CampaignErrorKind =
  | 'NOT_FOUND'
  | 'NOT_SCHEDULED'
  | 'NO_RECIPIENTS'
  | 'EMPTY_RECIPIENTS'
  | 'NAME_TAKEN'
  | 'CONTACT_NOT_FOUND'
  | 'GROUP_NOT_FOUND'
  | 'TOO_MANY'
  | 'UNAVAILABLE';

export class CampaignError extends Error {
  override name = 'CampaignError';
  constructor(
    readonly kind: CampaignErrorKind,
    message: string,
  ) {
    super(message);
  }
}

interface Recipient {
  mobile: string;
  country?: string;
  contact?: Contact;
  groups: string[];
}

function countryOf(mobile: string): string | undefined {
  return parsePhoneNumberFromString(mobile)?.country;
}

export class CampaignService {
  constructor(
    private readonly deps: {
      contacts: ContactStore;
      campaigns: CampaignStore;
      optOuts: OptOutStore;
      bulks: BulkService;
      control: BulkControlService;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Resolves, de-duplicates and analyses the recipients; what POST /sms/analyze/campaign answers. */
  async analyze(cmd: CampaignCommand): Promise<{ recipients: Recipient[]; analysis: CampaignAnalysis; body: string }> {
    if (cmd.to.length + cmd.contacts.length + cmd.groups.length === 0) {
      throw new CampaignError('NO_RECIPIENTS', 'give at least one of to, contacts or groups');
    }
    if (cmd.to.length > MAX_TO_NUMBERS) throw new CampaignError('TOO_MANY', `to holds at most ${MAX_TO_NUMBERS} numbers`);
    let fromContacts: Contact[];
    let fromGroups: Contact[];
    try {
      fromContacts = await this.deps.contacts.contactsByIds(cmd.accountId, cmd.contacts);
      fromGroups = await this.deps.contacts.contactsOfGroups(cmd.accountId, cmd.groups);
    } catch (err) {
      if (err instanceof ContactError && err.kind === 'CONTACT_NOT_FOUND') throw new CampaignError('CONTACT_NOT_FOUND', err.message);
      if (err instanceof ContactError && err.kind === 'GROUP_NOT_FOUND') throw new CampaignError('GROUP_NOT_FOUND', err.message);
      throw err;
    }

    const analysis: CampaignAnalysis = {
      numberOfRecipients: 0,
      recipientsPerCountry: {},
      recipientCountries: {},
      contacts: {},
      recipientsPerGroup: {},
      totalInGroups: 0,
      bodyAnalysis: bodyAnalysis(cmd.body, cmd.transcode),
    };
    const asked = new Set(cmd.groups);
    const byMobile = new Map<string, Recipient>();
    const skipped = (c: Contact) => c.blacklist.includes('Sms') || c.optIn === 'OPTED_OUT';
    // Double opt-in campaigns reach only the contacts that confirmed; the others are not recipients (nor blacklisted).
    const unconfirmed = (c: Contact) => cmd.doubleOptInOnly === true && c.optIn !== 'DOUBLE_CONFIRMED';
    const addContact = (c: Contact, viaGroup: boolean) => {
      if (unconfirmed(c)) return;
      const blacklisted = skipped(c);
      analysis.contacts[c.id] = { recipient: c.mobile, ...(c.country ? { recipientCountry: c.country } : {}), blacklisted };
      if (viaGroup) {
        analysis.totalInGroups++;
        if (!blacklisted) for (const g of c.groups) if (asked.has(g)) analysis.recipientsPerGroup[g] = (analysis.recipientsPerGroup[g] ?? 0) + 1;
      }
      if (blacklisted) return;
      const existing = byMobile.get(c.mobile);
      if (existing) {
        existing.contact ??= c;
        return;
      }
      byMobile.set(c.mobile, { mobile: c.mobile, country: c.country ?? countryOf(c.mobile), contact: c, groups: c.groups.filter((g) => asked.has(g)) });
    };
    // A number given in `to` that is a blacklisted contact's is still skipped: the blacklist is the contact's wish.
    const blacklistedMobiles = new Set([...fromContacts, ...fromGroups].filter(skipped).map((c) => c.mobile));
    for (const mobile of cmd.to) {
      if (byMobile.has(mobile) || blacklistedMobiles.has(mobile)) continue;
      byMobile.set(mobile, { mobile, country: countryOf(mobile), groups: [] });
    }
    for (const c of fromContacts) addContact(c, false);
    for (const c of fromGroups) addContact(c, true);
    for (const g of cmd.groups) analysis.recipientsPerGroup[g] ??= 0;

    // Numbers that opted out of the account (STOP, an API opt-out) are not recipients, whoever lists them.
    const optedOut = await this.deps.optOuts.optedOut(cmd.accountId, [...byMobile.keys()]);
    for (const number of optedOut) byMobile.delete(`+${number}`);
    const recipients = [...byMobile.values()];
    if (recipients.length > MAX_CAMPAIGN_RECIPIENTS) throw new CampaignError('TOO_MANY', `a campaign reaches at most ${MAX_CAMPAIGN_RECIPIENTS} recipients`);
    analysis.numberOfRecipients = recipients.length;
    for (const r of recipients) {
      if (!r.country) continue;
      analysis.recipientsPerCountry[r.country] = (analysis.recipientsPerCountry[r.country] ?? 0) + 1;
      analysis.recipientCountries[r.mobile] = r.country;
    }
    const body = analysis.bodyAnalysis.transcode?.message ?? cmd.body;
    return { recipients, analysis, body };
  }

  async create(cmd: CampaignCommand): Promise<CampaignView> {
    if (cmd.campaignName && (await this.deps.campaigns.nameTaken(cmd.accountId, cmd.campaignName))) {
      throw new CampaignError('NAME_TAKEN', `a campaign named ${cmd.campaignName} exists in this account`);
    }
    const { recipients, analysis, body } = await this.analyze(cmd);
    if (recipients.length === 0) throw new CampaignError('EMPTY_RECIPIENTS', 'the campaign has no recipients: its groups are empty or every contact is blacklisted');
    const trackingId = randomUUID();
    const now = this.now();
    const { command, quietHoursReport } = this.bulkCommand(cmd, trackingId, recipients, body);
    const request = storedRequest(cmd, quietHoursReport);
    // The campaign row first: its unique name is the guard. Should the bulk be refused, the row goes again.
    try {
      await this.deps.campaigns.insert(
        {
          account_id: cmd.accountId,
          tracking_id: trackingId,
          name: cmd.campaignName ?? null,
          bulk_id: trackingId,
          request: JSON.stringify(request),
          analysis: JSON.stringify(analysis),
          created_at: now,
          updated_at: now,
        },
        cmd.numbered === true,
      );
    } catch (err) {
      if ((err as Error).name === 'CampaignNameTakenError') throw new CampaignError('NAME_TAKEN', (err as Error).message);
      throw err;
    }
    try {
      await this.launch(cmd, trackingId, trackingId, command, body);
    } catch (err) {
      await this.deps.campaigns.delete(cmd.accountId, trackingId);
      throw err;
    }
    return this.get(cmd.accountId, trackingId);
  }

  private bulkCommand(cmd: CampaignCommand, bulkId: string, recipients: Recipient[], body: string): { command: CreateBulkCommand; quietHoursReport: Record<string, number> } {
    const fallbacks = fallbackMap(cmd.body, cmd.fallbackValues);
    const personal = bodyLabels(body).length > 0;
    const start = Math.max(cmd.sendAt ?? this.now(), this.now());
    const quietHoursReport: Record<string, number> = {};
    // One message entry per distinct (text, send time): recipients in one zone share a schedule group.
    const entries = new Map<string, { text: string; sendAt?: number; groups: string[]; destinations: Array<{ to: string; messageId: string }> }>();
    const trackingId = bulkId.split('~')[0]!;
    for (const r of recipients) {
      const text = personal ? personalize(body, r.contact ? contactValues(r.contact) : undefined, fallbacks) : body;
      let sendAt = cmd.sendAt;
      if (cmd.respectQuietHours) {
        const held = quietHoldUntil(start, zonesOfCountry(r.country)).at;
        if (held > start) {
          sendAt = held;
          quietHoursReport[r.country!] = (quietHoursReport[r.country!] ?? 0) + 1;
        }
      }
      const key = JSON.stringify([text, sendAt ?? null, cmd.callback ? r.groups : null]);
      const entry = entries.get(key) ?? entries.set(key, { text, sendAt, groups: r.groups, destinations: [] }).get(key)!;
      entry.destinations.push({ to: r.mobile.replace(/^\+/, ''), messageId: randomUUID() });
    }
    const command: CreateBulkCommand = {
      accountId: cmd.accountId,
      bulkId,
      campaignName: cmd.campaignName,
      messages: [...entries.values()].map((e) => ({
        ...(cmd.from ? { from: cmd.from } : {}),
        text: e.text,
        flash: cmd.flash,
        intermediateReport: false,
        destinations: e.destinations,
        ...(cmd.mms ? { mms: { subject: cmd.mms.subject, mediaUrl: cmd.mms.mediaUrl } } : {}),
        ...(e.sendAt !== undefined ? { sendAt: e.sendAt } : {}),
        // Routee's per-message callback rides on the report outbox: its own payload (core/reports.ts), the
        // same retries, signature and guard as Infobip's pushes. OnChange also reports what is not final.
        ...(cmd.callback
          ? {
              notifyUrl: cmd.callback.url,
              notifyContentType: ROUTEE_CALLBACK_TYPE,
              intermediateReport: cmd.callback.strategy === 'OnChange',
              callbackData: JSON.stringify({ campaignTrackingId: trackingId, campaignName: cmd.campaignName, groups: e.groups } satisfies RouteeCallbackContext),
            }
          : {}),
      })),
    };
    return { command, quietHoursReport };
  }

  /** A numbered campaign (ProTexting's Id), or undefined. */
  async getByNumber(accountId: string, number: number): Promise<CampaignView | undefined> {
    const row = await this.deps.campaigns.getByNumber(accountId, number);
    return row ? this.viewOf(row) : undefined;
  }

  /** The account's numbered campaigns, newest first. */
  async numberedPage(accountId: string, page: number, size: number): Promise<{ items: CampaignView[]; total: number }> {
    const { rows, total } = await this.deps.campaigns.numberedPage(accountId, page, size);
    return { items: await Promise.all(rows.map((r) => this.viewOf(r))), total };
  }

  async get(accountId: string, trackingId: string): Promise<CampaignView> {
    return this.viewOf(await this.row(accountId, trackingId));
  }

  private async viewOf(row: CampaignRow): Promise<CampaignView> {
    const { account_id: accountId, tracking_id: trackingId } = row;
    const view = await this.deps.control.view(accountId, row.bulk_id).catch((err: unknown) => {
      if ((err as Error).name === 'BulkNotFoundError') throw new CampaignError('NOT_FOUND', `no campaign ${trackingId}`);
      if ((err as Error).name === 'BulkUnavailableError') throw new CampaignError('UNAVAILABLE', (err as Error).message);
      throw err;
    });
    const counts = await this.deps.campaigns.statusCounts(accountId, row.bulk_id);
    const statuses = routeeStatusCounts(counts);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return {
      trackingId,
      number: row.number,
      bulkId: row.bulk_id,
      createdAt: row.created_at,
      sendAt: view.sendAt,
      state: campaignState(view.status, view.sendAt, this.now()),
      request: JSON.parse(row.request) as StoredRequest,
      analysis: JSON.parse(row.analysis) as CampaignAnalysis,
      totalMessages: total,
      statuses,
    };
  }

  /** DELETE /sms/{trackingId}: only a campaign still Scheduled; its messages end REJECTED_CANCELED, unsent. */
  async cancel(accountId: string, trackingId: string): Promise<void> {
    const row = await this.row(accountId, trackingId);
    await this.holdUnsent(accountId, trackingId, row.bulk_id);
    await this.deps.control.setStatus(accountId, row.bulk_id, 'CANCELED');
    await this.cancelReminders(accountId, row.bulk_id);
  }

  /**
   * Reminders: small bulks of their own (`<bulk>~before`, `<bulk>~after`) with the campaign's text, personalized
   * with the fallbacks (the numbers are not contacts), sent minutesBefore / minutesAfter the campaign's time.
   * A reminder before a campaign that goes now goes now.
   */
  private async scheduleReminders(cmd: CampaignCommand, bulkId: string, body: string): Promise<void> {
    const r = cmd.reminder;
    if (!r) return;
    const at = Math.max(cmd.sendAt ?? this.now(), this.now());
    const text = personalize(body, undefined, fallbackMap(cmd.body, cmd.fallbackValues));
    for (const [which, offset] of [['before', r.minutesBefore === undefined ? undefined : -r.minutesBefore], ['after', r.minutesAfter]] as const) {
      if (offset === undefined) continue;
      await this.deps.bulks.createBulk({
        accountId: cmd.accountId,
        bulkId: `${bulkId}~${which}`,
        campaignName: cmd.campaignName,
        messages: [
          {
            from: cmd.from,
            text,
            flash: cmd.flash,
            intermediateReport: false,
            sendAt: at + offset * 60_000,
            destinations: [...new Set(r.to)].map((to) => ({ to: to.replace(/^\+/, ''), messageId: randomUUID() })),
          },
        ],
      });
    }
  }

  /**
   * Removes campaigns whose create died before their bulk was stored (a crash between the campaign row and the
   * bulk): nothing of theirs was accepted for sending, their reminders are canceled, their callback dropped and
   * their name is free again. Only rows older than `olderThanMs`, so a create still in progress (a large one
   * takes seconds) is left alone. Also ends the bulks an update replaced but did not cancel (its process died
   * between pointing the campaign at the new bulk and canceling the old, which stays paused): canceled, their
   * callback and reminders dropped. Safe in several API processes at once: each step is idempotent. Reads only
   * campaigns written in the week before that age (the reconciler runs every 30 s; an API down for longer than a
   * week after such a crash leaves it to an operator), so its cost does not grow with the account's history.
   */
  async reconcileOrphans(olderThanMs = 10 * 60_000): Promise<number> {
    const before = this.now() - olderThanMs;
    const since = before - 7 * 86_400_000;
    const orphans = await this.deps.campaigns.withoutBulk(since, before);
    for (const o of orphans) {
      await this.cancelReminders(o.account_id, o.bulk_id);
      await this.deps.campaigns.deleteCallback(o.account_id, o.bulk_id);
      await this.deps.campaigns.delete(o.account_id, o.tracking_id);
    }
    // An update that died after pointing the campaign at its new bulk, before ending the old one: the old one is
    // the stray bulk its update paused. (A stray bulk that is not paused is a new bulk whose update died before
    // the switch; it is left alone: it carries the content the client last sent.)
    const stray = await this.deps.campaigns.strayBulks(since, before, [...FINAL_BULK_STATUSES]);
    const replaced: typeof stray = [];
    for (const r of stray) {
      if ((await this.deps.control.view(r.account_id, r.bulk_id)).status === 'PAUSED') replaced.push(r);
    }
    for (const r of replaced) {
      await this.deps.campaigns.deleteCallback(r.account_id, r.bulk_id);
      await this.deps.control.setStatus(r.account_id, r.bulk_id, 'CANCELED').catch((err: unknown) => {
        if (!(err instanceof ControlRefusedError)) throw err;
      });
      await this.cancelReminders(r.account_id, r.bulk_id);
    }
    return orphans.length + replaced.length;
  }

  /** Cancels the reminders of a campaign's bulk that have not gone yet; those that went stay sent. */
  private async cancelReminders(accountId: string, bulkId: string): Promise<void> {
    for (const which of ['before', 'after']) {
      await this.deps.control.setStatus(accountId, `${bulkId}~${which}`, 'CANCELED').catch((err: unknown) => {
        if ((err as Error).name === 'BulkNotFoundError' || err instanceof ControlRefusedError) return;
        throw err;
      });
    }
  }

  /**
   * PUT /sms/{trackingId}: a Scheduled campaign gets new content. Its bulk is paused first (so nothing can go
   * while it changes), found untouched, canceled, and a new bulk with the new content takes its place under the
   * same trackingId. Without scheduledDate the new bulk goes at once (Routee's rule).
   */
  async update(cmd: CampaignCommand, trackingId: string): Promise<CampaignView> {
    const row = await this.row(cmd.accountId, trackingId);
    if (cmd.campaignName && (await this.deps.campaigns.nameTaken(cmd.accountId, cmd.campaignName, trackingId))) {
      throw new CampaignError('NAME_TAKEN', `a campaign named ${cmd.campaignName} exists in this account`);
    }
    // Validate the new content before touching the running one.
    const { recipients, analysis, body } = await this.analyze(cmd);
    if (recipients.length === 0) throw new CampaignError('EMPTY_RECIPIENTS', 'the campaign has no recipients: its groups are empty or every contact is blacklisted');
    await this.holdUnsent(cmd.accountId, trackingId, row.bulk_id);
    const bulkId = `${trackingId}~${randomUUID().slice(0, 8)}`;
    const { command, quietHoursReport } = this.bulkCommand(cmd, bulkId, recipients, body);
    try {
      await this.launch(cmd, trackingId, bulkId, command, body);
    } catch (err) {
      // The old content stands: it goes on as scheduled.
      await this.deps.control.setStatus(cmd.accountId, row.bulk_id, 'PENDING').catch(() => undefined);
      throw err;
    }
    await this.deps.campaigns.replace(cmd.accountId, trackingId, {
      name: cmd.campaignName ?? null,
      bulk_id: bulkId,
      request: JSON.stringify(storedRequest(cmd, quietHoursReport)),
      analysis: JSON.stringify(analysis),
      updated_at: this.now(),
    });
    // The replaced content tells no progress and reminds no one: the campaign goes on under its new bulk.
    await this.deps.campaigns.deleteCallback(cmd.accountId, row.bulk_id);
    await this.deps.control.setStatus(cmd.accountId, row.bulk_id, 'CANCELED');
    await this.cancelReminders(cmd.accountId, row.bulk_id);
    return this.get(cmd.accountId, trackingId);
  }

  /**
   * Starts one bulk of the campaign with its campaign callback and reminders (reminders first: each is a bulk,
   * charged like one). Should the bulk be refused, what was set up for it is undone and the error passed on.
   */
  private async launch(cmd: CampaignCommand, trackingId: string, bulkId: string, command: CreateBulkCommand, body: string): Promise<void> {
    try {
      await this.addCampaignCallback(cmd, trackingId, bulkId);
      await this.scheduleReminders(cmd, bulkId, body);
      await this.deps.bulks.createBulk(command);
    } catch (err) {
      await this.cancelReminders(cmd.accountId, bulkId);
      await this.deps.campaigns.deleteCallback(cmd.accountId, bulkId);
      throw err;
    }
  }

  private async addCampaignCallback(cmd: CampaignCommand, trackingId: string, bulkId: string): Promise<void> {
    if (!cmd.campaignCallback) return;
    await this.deps.bulks.checkNotifyUrl(cmd.campaignCallback.url, 'campaignCallback.url');
    await this.deps.campaigns.insertCallback({
      account_id: cmd.accountId,
      bulk_id: bulkId,
      tracking_id: trackingId,
      name: cmd.campaignName ?? null,
      url: cmd.campaignCallback.url,
      strategy: cmd.campaignCallback.strategy,
      notified: 0,
      attempts: 0,
      next_attempt_at: 0,
      gave_up: 0,
    });
  }

  /** Pauses the campaign's bulk if it is Scheduled and proves nothing of it was sent; else NOT_SCHEDULED. */
  private async holdUnsent(accountId: string, trackingId: string, bulkId: string): Promise<void> {
    const current = await this.get(accountId, trackingId);
    if (current.state !== 'Scheduled') throw new CampaignError('NOT_SCHEDULED', `the campaign is ${current.state}, not Scheduled`);
    try {
      await this.deps.control.setStatus(accountId, bulkId, 'PAUSED');
    } catch (err) {
      if (err instanceof ControlRefusedError) throw new CampaignError('NOT_SCHEDULED', `the campaign can no longer be changed: ${err.message}`);
      throw err;
    }
    // Paused: nothing more goes out. Had its send time come just before, some of it may be out already.
    if ((await this.deps.campaigns.countHandled(accountId, bulkId)) > 0) {
      await this.deps.control.setStatus(accountId, bulkId, 'PENDING');
      throw new CampaignError('NOT_SCHEDULED', 'the campaign started sending; it is no longer Scheduled');
    }
  }

  async tracking(accountId: string, trackingId: string, page: number, size: number) {
    const row = await this.row(accountId, trackingId);
    const request = JSON.parse(row.request) as StoredRequest;
    const { rows, total } = await this.deps.campaigns.messagesPage(accountId, row.bulk_id, page, size);
    return { rows, total, campaignName: request.campaignName, groups: request.groups };
  }

  private async row(accountId: string, trackingId: string): Promise<CampaignRow> {
    const row = await this.deps.campaigns.get(accountId, trackingId);
    if (!row) throw new CampaignError('NOT_FOUND', `no campaign ${trackingId}`);
    return row;
  }
}

/** The values `[~label]` reads from a contact: its fields, then its custom labels. */
function contactValues(c: Contact): Record<string, string | undefined> {
  return { ...c.labels, firstName: c.firstName, lastName: c.lastName, mobile: c.mobile, email: c.email, country: c.country };
}

function storedRequest(cmd: CampaignCommand, quietHoursReport: Record<string, number>): StoredRequest {
  return {
    to: cmd.to,
    contacts: cmd.contacts,
    groups: cmd.groups,
    from: cmd.from,
    body: cmd.body,
    ...(cmd.sendAt !== undefined ? { scheduledDate: cmd.sendAt } : {}),
    ...(cmd.campaignName ? { campaignName: cmd.campaignName } : {}),
    flash: cmd.flash,
    ...(cmd.fallbackValues ? { fallbackValues: cmd.fallbackValues } : {}),
    ...(cmd.transcode !== undefined ? { transcode: cmd.transcode } : {}),
    ...(cmd.respectQuietHours ? { respectQuietHours: true, quietHoursReport } : {}),
    ...(cmd.callback ? { callback: cmd.callback } : {}),
    ...(cmd.campaignCallback ? { campaignCallback: cmd.campaignCallback } : {}),
    ...(cmd.reminder ? { reminder: cmd.reminder } : {}),
    ...(cmd.doubleOptInOnly ? { doubleOptInOnly: true } : {}),
    ...(cmd.mms ? { mms: cmd.mms } : {}),
  };
}

export function campaignState(status: BulkStatus, sendAt: number, now: number): CampaignState {
  switch (status) {
    case 'PENDING':
      return sendAt > now ? 'Scheduled' : 'Queued';
    case 'PROCESSING':
      return 'Running';
    case 'PAUSED':
      return 'Paused';
    case 'FINISHED':
      return 'Sent';
    case 'CANCELED':
      return 'Cancelled';
    default:
      return 'Queued';
  }
}

/**
 * Routee's bodyAnalysis. With transcode, a body that needs Unicode and more than one part as such is sent in
 * GSM letters instead (as Routee: "if the message can be sent as UTF in one part, it will not be transcoded").
 */
export function bodyAnalysis(body: string, transcode: boolean | undefined): CampaignAnalysis['bodyAnalysis'] {
  const parts = countSmsParts(body);
  const unicode = parts.encoding === 'UCS2';
  const unsupported = [...new Set([...body].filter((ch) => detectEncoding(ch) === 'UCS2'))];
  const result: CampaignAnalysis['bodyAnalysis'] = { characters: [...body].length, parts: parts.parts, unicode, unsupportedGSMCharacters: unsupported };
  if (transcode && unicode && parts.parts > 1) {
    const message = transliterate(body, 'NON_UNICODE');
    result.transcode = { message, parts: countSmsParts(message).parts };
  }
  return result;
}

/** The Routee dialect's stores and service over one database. */
export function createCampaigns(db: Db, bulks: BulkService, control: BulkControlService): { contacts: ContactStore; campaigns: CampaignService } {
  const contacts = new ContactStore(db);
  return { contacts, campaigns: new CampaignService({ contacts, campaigns: new CampaignStore(db), optOuts: new OptOutStore(db), bulks, control }) };
}
