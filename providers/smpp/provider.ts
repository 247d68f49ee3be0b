import { randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { RateLimiterMemory, RateLimiterQueue } from 'rate-limiter-flexible';
import type { PDU } from 'smpp';
import type { Logger } from '../../config/logger';
import type { Db } from '../../db/database';
import type { StatusName } from '../../domain/status';
import {
  type DeliveryReportListener,
  type InboundListener,
  type OutboundSms,
  type ProviderDeliveryReport,
  type SmsProvider,
  SubmitDeadlineError,
  type SubmitOptions,
  type SubmitResult,
} from '../types';
import { addressType, type LongMessageMode, smppAbsoluteTime, type SubmitPart, submitParts } from './encode';
import { commandStatusName, type SmppBindSettings, SmppLink, SmppNotSentError } from './link';
import { JournalWriter } from './journal';
import { parseReceipt } from './receipt';
import { Semaphore } from './semaphore';

export interface SmppProviderOptions extends SmppBindSettings {
  db: Db;
  /** submit_sm per second on this bind (SMPP_TPS); unset: as fast as the window allows. */
  tps?: number;
  longMessages?: LongMessageMode;
  logger?: Logger;
  /** How often unreported outcomes and expired in-doubt parts are looked at. */
  sweepIntervalMs?: number;
  /** How long past its validity an unconfirmed part waits for a receipt before it is reported EXPIRED_DLR_UNKNOWN. */
  expiryGraceMs?: number;
  /**
   * A part whose submit_sm went out without an answer (SMPP_IN_DOUBT): `report` (default) never sends it again
   * and reports EXPIRED_DLR_UNKNOWN when no receipt found it within `inDoubtWaitMs`; `resend` sends it again
   * (at least once: the SMSC may then hold it twice).
   */
  inDoubt?: 'report' | 'resend';
  /** How long an in-doubt part waits for a receipt that finds it (never past its validity); default 10 minutes. */
  inDoubtWaitMs?: number;
  /**
   * How long the journal keeps a message after its outcome was reported, or after its validity ended without one
   * (no receipt will matter then); default 2 days.
   */
  retentionMs?: number;
}

/**
 * Parts journaled ahead of the window, in windows: their rows commit together while the window's submits are in
 * flight (bench:smpp: 0.29 of the plain loop at 1 window ahead, 0.53 at 4). The price: after a crash, parts
 * journaled but not yet written count as in doubt too, so up to (1 + this) × SMPP_WINDOW parts may be.
 */
const JOURNAL_AHEAD_WINDOWS = 4;

/**
 * How long a receipt that matches no part is asked for again (ESME_RX_T_APPN) before it is acknowledged and
 * dropped: long enough for the acceptance of its part to be written by whichever worker sent it.
 */
const UNMATCHED_RECEIPT_RETRY_MS = 60_000;

/**
 * The predicate of the partial index of parts in flight or in doubt, written out as the index has it: SQLite uses a
 * partial index only for a query that states its condition (a bound parameter, or `state = 'sending'` alone,
 * does not).
 */
const OPEN_PART = sql<boolean>`state in ('sending', 'unconfirmed')`;

/** How long receipts gather before they are stored together. */
const RECEIPT_BATCH_MS = 20;

/** Throttling answers: the SMSC is busy, the message is fine. */
const THROTTLED = new Set([0x58 /* ESME_RTHROTTLED */, 0x14 /* ESME_RMSGQFUL */]);

/** Permanent refusals of a submit_sm, as the statuses a report shows. */
function refusalStatus(commandStatus: number): StatusName {
  switch (commandStatus) {
    case 0x0b: // ESME_RINVDSTADR
    case 0x50: // ESME_RINVDSTTON
    case 0x51: // ESME_RINVDSTNPI
      return 'REJECTED_INVALID_DESTINATION';
    case 0x0a: // ESME_RINVSRCADR
    case 0x48: // ESME_RINVSRCTON
    case 0x49: // ESME_RINVSRCNPI
      return 'REJECTED_NETWORK';
    case 0x01: // ESME_RINVMSGLEN
      return 'REJECTED_MESSAGE_TOO_LONG';
    default:
      return 'REJECTED_SYSTEM_ERROR';
  }
}

interface JournalEntry {
  message: { parts: number; concat_ref: number; status: string | null; error: string | null } | undefined;
  parts: Map<number, { state: string; smsc_id: string | null; error: string | null }>;
}

/**
 * SMS over SMPP 3.4 (`SMS_PROVIDER=smpp`), with a journal in the product's database so a retried batch never
 * sends a part twice.
 *
 * Exactly-once: SMPP has no way to ask an SMSC whether it holds a message. So every part is journaled
 * (`smpp_parts`) before its submit_sm is written, and only a part with no row is ever sent: a retry after a crash
 * sends the parts that never left and nothing else. A part whose submit_sm went out but whose response never came
 * (the link dropped, the process died) is *in doubt*. By default (SMPP_IN_DOUBT=report) it is never sent again
 * (at most once): it counts as sent, and its outcome comes from a receipt that finds it by user_message_reference
 * and destination (when the SMSC echoes that TLV), or else, after SMPP_IN_DOUBT_WAIT_S (or when its validity
 * ends), as EXPIRED_DLR_UNKNOWN. Nothing is lost silently and nothing goes twice; the price is that such a message
 * may go undelivered with a clear status. SMPP_IN_DOUBT=resend sends it again instead (at least once).
 *
 * Receipts (deliver_sm with the receipt bit) become delivery reports once every part of a message has one; the
 * deliver_sm_resp is sent only after the journal holds the receipt, so an SMSC that got no answer sends it again.
 * Mobile-originated deliver_sm go to the inbound listeners, answered likewise after they took them.
 */
export class SmppProvider implements SmsProvider {
  readonly name = 'smpp';
  readonly sendsMms = false;
  readonly link: SmppLink;
  private readonly db: Db;
  private readonly reportListeners: DeliveryReportListener[] = [];
  private readonly inboundListeners: InboundListener[] = [];
  private readonly pacer: RateLimiterQueue | undefined;
  private readonly mode: LongMessageMode;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private readonly expiryGraceMs: number;
  private readonly resendInDoubt: boolean;
  private readonly writer: JournalWriter;
  /** Parts journaled and waiting for a slot of the window. */
  private readonly ahead: Semaphore;
  private readonly receipts: Array<{ pdu: PDU; respond: (status?: number) => void }> = [];
  private receiptTimer: NodeJS.Timeout | undefined;
  private takingReceipts = false;
  /** Receipts that matched no part yet, by SMSC id (or handset and reference): when first seen. */
  private readonly unmatchedSince = new Map<string, number>();
  private readonly inDoubtWaitMs: number;
  private readonly responseTimeoutMs: number;

  constructor(private readonly options: SmppProviderOptions) {
    this.db = options.db;
    this.mode = options.longMessages ?? 'udh';
    this.expiryGraceMs = options.expiryGraceMs ?? 60_000;
    this.resendInDoubt = options.inDoubt === 'resend';
    this.inDoubtWaitMs = options.inDoubtWaitMs ?? 600_000;
    this.responseTimeoutMs = options.responseTimeoutMs ?? 10_000;
    this.link = new SmppLink(options);
    this.writer = new JournalWriter(options.db);
    this.ahead = new Semaphore(options.window * JOURNAL_AHEAD_WINDOWS);
    this.pacer = options.tps ? new RateLimiterQueue(new RateLimiterMemory({ points: options.tps, duration: 1 }), { maxQueueSize: 1_000_000 }) : undefined;
    this.link.on('deliver', (pdu: PDU, respond: (status?: number) => void) => void this.onDeliver(pdu, respond));
    this.link.on('unbound', () => options.logger?.warn('SMPP link lost; binding again'));
    this.link.on('bound', () => options.logger?.info('SMPP bound'));
    this.link.on('reconnect-failed', (err: Error) => options.logger?.warn({ err: err.message }, 'SMPP bind failed; retrying'));
  }

  /** Binds (fails when the SMSC refuses who we are) and starts the sweep. */
  async start(): Promise<void> {
    await this.link.start();
    this.sweepTimer = setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((err: Error) => this.options.logger?.warn({ err: err.message }, 'SMPP sweep failed; retrying'))
        .finally(() => (this.sweeping = undefined));
    }, this.options.sweepIntervalMs ?? 2000);
    this.sweepTimer.unref();
  }

  get bound(): boolean {
    return this.link.isBound;
  }

  onDeliveryReports(listener: DeliveryReportListener): void {
    this.reportListeners.push(listener);
  }

  onInbound(listener: InboundListener): void {
    this.inboundListeners.push(listener);
  }

  private async journal(references: string[]): Promise<Map<string, JournalEntry>> {
    const out = new Map<string, JournalEntry>();
    if (references.length === 0) return out;
    const [messages, parts] = await Promise.all([
      this.db.selectFrom('smpp_messages').select(['reference', 'parts', 'concat_ref', 'status', 'error']).where('reference', 'in', references).execute(),
      this.db.selectFrom('smpp_parts').select(['reference', 'part_no', 'state', 'smsc_id', 'error']).where('reference', 'in', references).execute(),
    ]);
    for (const m of messages) out.set(m.reference, { message: m, parts: new Map() });
    for (const p of parts) {
      const entry = out.get(p.reference) ?? { message: undefined, parts: new Map() };
      entry.parts.set(p.part_no, p);
      out.set(p.reference, entry);
    }
    return out;
  }

  async submit(messages: OutboundSms[], options: SubmitOptions = {}): Promise<SubmitResult[]> {
    const known = await this.journal(messages.map((m) => m.reference));
    const planned = messages.map((m) => {
      const entry = known.get(m.reference);
      const concatRef = entry?.message?.concat_ref ?? randomInt(0, this.mode === 'sar' ? 65_536 : 256);
      return { m, entry, concatRef, parts: submitParts(m.text, { languageCode: m.languageCode, flash: m.flash, concatRef, mode: this.mode }) };
    });
    const fresh = planned.filter((p) => !p.entry?.message);
    const now = Date.now();
    for (let i = 0; i < fresh.length; i += 500) {
      await this.db
        .insertInto('smpp_messages')
        .values(
          fresh.slice(i, i + 500).map(({ m, concatRef, parts }) => ({
            reference: m.reference,
            parts: parts.length,
            concat_ref: concatRef,
            to_number: m.to,
            validity_ends_at: m.validityEndsAt ?? null,
            status: null,
            error: null,
            done_at: null,
            created_at: now,
          })),
        )
        .onConflict((oc) => oc.column('reference').doNothing())
        .execute();
    }
    const settled = await Promise.allSettled(planned.map((p) => this.submitOne(p.m, p.entry, p.parts, options)));
    // Every message ran to its end (sent, refused or left in doubt) before an error is reported: the journal is
    // then what the retry reads.
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason as Error;
    return settled.map((r) => (r as PromiseFulfilledResult<SubmitResult>).value);
  }

  private async submitOne(m: OutboundSms, entry: JournalEntry | undefined, parts: SubmitPart[], options: SubmitOptions): Promise<SubmitResult> {
    let firstId: string | undefined;
    for (const part of parts) {
      let row = entry?.parts.get(part.partNo);
      if (row && this.resendInDoubt && (row.state === 'sending' || row.state === 'unconfirmed')) {
        // SMPP_IN_DOUBT=resend: at least once; the row goes and the part is written again.
        await this.db.deleteFrom('smpp_parts').where('reference', '=', m.reference).where('part_no', '=', part.partNo).where('state', 'in', ['sending', 'unconfirmed']).execute();
        row = undefined;
      }
      if (row) {
        // Sent before: accepted, refused, or in doubt. Never written again.
        if (row.state === 'refused') return { reference: m.reference, accepted: false, status: (entry?.message?.status as StatusName) ?? 'REJECTED_SYSTEM_ERROR' };
        firstId ??= row.smsc_id ?? undefined;
        continue;
      }
      const outcome = await this.sendPart(m, part, options);
      if (!outcome.accepted) {
        await this.db
          .updateTable('smpp_messages')
          .set({ status: outcome.status, error: outcome.error, done_at: Date.now(), reported: 1 })
          .where('reference', '=', m.reference)
          .execute();
        return { reference: m.reference, accepted: false, status: outcome.status, error: outcome.error };
      }
      firstId ??= outcome.smscId;
    }
    return { reference: m.reference, accepted: true, providerMessageId: firstId ?? `smpp-unconfirmed:${m.reference}` };
  }

  /**
   * One part: journaled, written, answered. Throttling answers wait and go again; a permanent refusal is the
   * outcome. The row is written ahead of a slot of the window (at most JOURNAL_AHEAD_WINDOWS × window rows wait
   * so), so the journal's group commit overlaps the submits in flight.
   */
  private async sendPart(
    m: OutboundSms,
    part: SubmitPart,
    options: SubmitOptions,
  ): Promise<{ accepted: true; smscId: string } | { accepted: false; status: StatusName; error: string }> {
    const to = addressType(m.to);
    const from = m.from ? addressType(m.from) : { ton: 0, npi: 0 };
    let backoffMs = 100;
    for (;;) {
      if (options.deadline !== undefined && Date.now() >= options.deadline) throw new SubmitDeadlineError('SMPP submit deadline passed');
      await this.pacer?.removeTokens(1);
      const umr = randomInt(0, 65_536);
      await this.ahead.acquire(options.signal);
      let written = false;
      let resp: PDU;
      try {
        await this.writer.insert({ reference: m.reference, partNo: part.partNo, umr, to: m.to });
        resp = await this.link.withSlot(options.signal, async (send) => {
          // The last moment before the wire: a part past the deadline is not written (the caller has given up on it).
          if (options.deadline !== undefined && Date.now() >= options.deadline) throw new SubmitDeadlineError('SMPP submit deadline passed');
          const answer = send({
            service_type: '',
            source_addr_ton: from.ton,
            source_addr_npi: from.npi,
            source_addr: m.from ?? '',
            dest_addr_ton: to.ton,
            dest_addr_npi: to.npi,
            destination_addr: m.to,
            esm_class: part.esm_class,
            protocol_id: 0,
            priority_flag: 0,
            ...(m.validityEndsAt ? { validity_period: smppAbsoluteTime(m.validityEndsAt) } : {}),
            registered_delivery: 1,
            data_coding: part.data_coding,
            short_message: part.short_message,
            user_message_reference: umr,
            ...part.tlvs,
          });
          written = true;
          this.ahead.release();
          return answer;
        });
      } catch (err) {
        if (!written) {
          this.ahead.release();
          // Never written (aborted, past the deadline, not writable): the row goes, so the part is sent later.
          // Written without an answer: the row stays `sending`, in doubt.
          await this.writer.unsent(m.reference, part.partNo).catch(() => undefined);
        } else if (err instanceof SmppNotSentError) {
          await this.writer.unsent(m.reference, part.partNo).catch(() => undefined);
        }
        throw err;
      }
      if (resp.command_status === 0) {
        const smscId = String(resp.message_id ?? '');
        await this.writer.accepted(m.reference, part.partNo, smscId);
        return { accepted: true, smscId };
      }
      if (THROTTLED.has(resp.command_status) || resp.command === 'generic_nack') {
        // Not taken: the row goes and the part waits and goes again (never failed for the SMSC being busy).
        await this.writer.unsent(m.reference, part.partNo);
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 2000);
        continue;
      }
      const error = `${commandStatusName(resp.command_status)} on submit_sm`;
      await this.writer.refused(m.reference, part.partNo, error);
      return { accepted: false, status: refusalStatus(resp.command_status), error };
    }
  }

  /**
   * What the SMSC holds of these messages, by the journal: a message is held when every part was sent (accepted
   * or in doubt). One with parts never written is not: the retry's submit sends just those.
   */
  async lookup(references: string[]): Promise<Map<string, string>> {
    const known = await this.journal(references);
    const held = new Map<string, string>();
    for (const [reference, entry] of known) {
      if (!entry.message || entry.message.error) continue;
      if (entry.parts.size < entry.message.parts) continue;
      if ([...entry.parts.values()].some((p) => p.state === 'refused')) continue;
      // Resending what is in doubt: such a message is not held, so the retry submits it (again).
      if (this.resendInDoubt && [...entry.parts.values()].some((p) => p.state === 'sending' || p.state === 'unconfirmed')) continue;
      held.set(reference, entry.parts.get(1)?.smsc_id ?? `smpp-unconfirmed:${reference}`);
    }
    return held;
  }

  private onDeliver(pdu: PDU, respond: (status?: number) => void): void {
    if ((Number(pdu.esm_class) & 0x3c) === 0x04) {
      // Receipts are taken in batches (one transaction for what arrived meanwhile), answered once stored.
      this.receipts.push({ pdu, respond });
      this.receiptTimer ??= setTimeout(() => void this.takeReceipts(), RECEIPT_BATCH_MS).unref();
      return;
    }
    this.onMobileOriginated(pdu).then(
      () => respond(0),
      (err: Error) => {
        // Not stored: a temporary application error asks the SMSC to deliver it again later.
        this.options.logger?.warn({ err: err.message }, 'could not take a mobile-originated message; the SMSC will send it again');
        respond(0x64 /* ESME_RX_T_APPN */);
      },
    );
  }

  private async takeReceipts(): Promise<void> {
    if (this.takingReceipts) return;
    this.takingReceipts = true;
    try {
      while (this.receipts.length > 0) {
        const batch = this.receipts.splice(0, 1000);
        try {
          const { references, deferred } = await this.applyReceipts(batch.map((b) => b.pdu));
          // A receipt that matched nothing yet is asked for again (temporary error): its part's acceptance may not
          // be written yet, here or in the worker that sent it.
          for (const b of batch) b.respond(deferred.has(b.pdu) ? 0x64 /* ESME_RX_T_APPN */ : 0);
          // The reports go at once; what fails here goes again from the sweep.
          if (references.length > 0) await this.reportSettled(references).catch(() => undefined);
        } catch (err) {
          this.options.logger?.warn({ err: (err as Error).message }, 'could not store SMPP receipts; the SMSC will send them again');
          for (const b of batch) b.respond(0x64 /* ESME_RX_T_APPN */);
        }
      }
    } finally {
      this.takingReceipts = false;
      this.receiptTimer = undefined;
      if (this.receipts.length > 0) this.receiptTimer = setTimeout(() => void this.takeReceipts(), RECEIPT_BATCH_MS).unref();
    }
  }

  /**
   * Stores final receipts on their parts and settles their messages: the references whose message settled, and
   * the receipts to ask for again (they matched no part yet).
   */
  private async applyReceipts(pdus: PDU[]): Promise<{ references: string[]; deferred: Set<PDU> }> {
    const deferred = new Set<PDU>();
    const receipts = pdus.map((pdu) => ({ ...parseReceipt(pdu), handset: String(pdu.source_addr ?? ''), pdu })).filter((r) => r.status);
    if (receipts.length === 0) return { references: [], deferred };
    const byId = new Map<string, { reference: string; part_no: number }>();
    const findIds = async (ids: string[]) => {
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await this.db.selectFrom('smpp_parts').select(['reference', 'part_no', 'smsc_id']).where('smsc_id', 'in', ids.slice(i, i + 500)).execute();
        for (const r of rows) byId.set(r.smsc_id!, r);
      }
    };
    await findIds([...new Set(receipts.map((r) => r.smscId).filter((id): id is string => !!id))]);
    const missing = [...new Set(receipts.map((r) => r.smscId).filter((id): id is string => !!id && !byId.has(id)))];
    if (missing.length > 0) {
      // A fast receipt can overtake the write of its part's acceptance in this process: let those land, look again.
      await this.writer.acceptancesWritten();
      await findIds(missing);
    }
    const updates: Array<{ reference: string; partNo: number; status: string; error: string | null; smscId: string | null }> = [];
    for (const r of receipts) {
      let part = r.smscId ? byId.get(r.smscId) : undefined;
      if (!part && r.umr !== undefined) {
        // A part whose response was lost: found by the reference it carried, when exactly one in doubt matches.
        const candidates = await this.db
          .selectFrom('smpp_parts')
          .select(['reference', 'part_no'])
          .where('umr', '=', r.umr)
          .where('to_number', '=', r.handset)
          .where(OPEN_PART)
          .limit(2)
          .execute();
        if (candidates.length === 1) part = candidates[0];
      }
      if (!part) {
        const key = r.smscId ?? `${r.handset}:${String(r.umr)}`;
        const since = this.unmatchedSince.get(key) ?? Date.now();
        this.unmatchedSince.set(key, since);
        if (Date.now() - since < UNMATCHED_RECEIPT_RETRY_MS) {
          deferred.add(r.pdu);
        } else {
          this.unmatchedSince.delete(key);
          this.options.logger?.warn({ smscId: r.smscId }, 'SMPP receipt for no message we sent; acknowledged and dropped');
        }
        continue;
      }
      if (r.smscId) this.unmatchedSince.delete(r.smscId);
      updates.push({ reference: part.reference, partNo: part.part_no, status: r.status!, error: r.error ?? null, smscId: r.smscId ?? null });
    }
    if (updates.length === 0) return { references: [], deferred };
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < updates.length; i += 200) {
        const values = sql.join(updates.slice(i, i + 200).map((u) => sql`(${u.reference}, ${String(u.partNo)}, ${u.status}, ${u.error}, ${u.smscId})`));
        await sql`
          with v(ref, part, status, err, sid) as (values ${values})
          update smpp_parts set receipt_status = v.status, error = v.err, smsc_id = coalesce(smpp_parts.smsc_id, v.sid)
          from v
          where smpp_parts.reference = v.ref and smpp_parts.part_no = cast(v.part as integer)`.execute(trx);
      }
      await this.settle(trx, [...new Set(updates.map((u) => u.reference))]);
    });
    return { references: [...new Set(updates.map((u) => u.reference))], deferred };
  }

  /** Messages whose parts all have a final receipt get their outcome: delivered when all were, else the first failure. */
  private async settle(db: Db, references: string[]): Promise<void> {
    for (let i = 0; i < references.length; i += 500) {
      const chunk = references.slice(i, i + 500);
      const [messages, parts] = await Promise.all([
        db.selectFrom('smpp_messages').select(['reference', 'parts']).where('reference', 'in', chunk).where('status', 'is', null).execute(),
        db.selectFrom('smpp_parts').select(['reference', 'part_no', 'receipt_status', 'error']).where('reference', 'in', chunk).orderBy('part_no').execute(),
      ]);
      const partsOf = new Map<string, typeof parts>();
      for (const p of parts) partsOf.set(p.reference, [...(partsOf.get(p.reference) ?? []), p]);
      const settled: Array<{ reference: string; status: string; error: string | null }> = [];
      for (const m of messages) {
        const ps = partsOf.get(m.reference) ?? [];
        if (ps.length < m.parts || ps.some((p) => !p.receipt_status)) continue;
        const failed = ps.find((p) => p.receipt_status !== 'DELIVERED_TO_HANDSET');
        settled.push({ reference: m.reference, status: failed?.receipt_status ?? 'DELIVERED_TO_HANDSET', error: failed?.error ?? null });
      }
      if (settled.length === 0) continue;
      const values = sql.join(settled.map((x) => sql`(${x.reference}, ${x.status}, ${x.error})`));
      await sql`
        with v(ref, status, err) as (values ${values})
        update smpp_messages set status = v.status, error = v.err, done_at = ${Date.now()}
        from v
        where smpp_messages.reference = v.ref and smpp_messages.status is null`.execute(db);
    }
  }

  /** Hands settled, unreported outcomes to the report listeners; marked reported once they took them. */
  private async reportSettled(only?: string[]): Promise<void> {
    let q = this.db
      .selectFrom('smpp_messages')
      .innerJoin('smpp_parts', (j) => j.onRef('smpp_parts.reference', '=', 'smpp_messages.reference').on('smpp_parts.part_no', '=', 1))
      .select(['smpp_messages.reference', 'smpp_messages.status', 'smpp_messages.error', 'smpp_messages.done_at', 'smpp_parts.smsc_id'])
      .where(sql<boolean>`smpp_messages.reported = 0 and smpp_messages.status is not null`);
    if (only) q = q.where('smpp_messages.reference', 'in', only);
    const rows = await q.limit(1000).execute();
    if (rows.length === 0) return;
    const reports: ProviderDeliveryReport[] = rows.map((r) => ({
      reference: r.reference,
      providerMessageId: r.smsc_id ?? `smpp-unconfirmed:${r.reference}`,
      status: r.status as StatusName,
      doneAt: Number(r.done_at ?? Date.now()),
      ...(r.error ? { error: r.error } : {}),
    }));
    for (const listener of this.reportListeners) await listener(reports);
    await this.db
      .updateTable('smpp_messages')
      .set({ reported: 1 })
      .where(
        'reference',
        'in',
        rows.map((r) => r.reference),
      )
      .execute();
  }

  private async onMobileOriginated(pdu: PDU): Promise<void> {
    const raw = pdu.short_message as { message?: string | Buffer } | Buffer | string | undefined;
    const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('latin1') : String(raw?.message ?? '');
    const message = {
      from: String(pdu.source_addr ?? '').replace(/^\+/, ''),
      to: String(pdu.destination_addr ?? '').replace(/^\+/, ''),
      text,
      receivedAt: Date.now(),
    };
    for (const listener of this.inboundListeners) await listener([message]);
  }

  /**
   * Parts whose response can no longer come become `unconfirmed`; unconfirmed parts past their validity (and a
   * grace for late receipts) settle their message as EXPIRED_DLR_UNKNOWN; unreported outcomes are reported.
   */
  async sweep(): Promise<void> {
    const now = Date.now();
    await this.db
      .updateTable('smpp_parts')
      .set({ state: 'unconfirmed' })
      .where(OPEN_PART)
      .where('state', '=', 'sending')
      .where('sent_at', '<', now - 2 * this.responseTimeoutMs)
      .execute();
    const expired = await this.db
      .selectFrom('smpp_parts')
      .innerJoin('smpp_messages', 'smpp_messages.reference', 'smpp_parts.reference')
      .select('smpp_parts.reference')
      .where(sql<boolean>`smpp_parts.state in ('sending', 'unconfirmed')`)
      .where('smpp_parts.state', '=', 'unconfirmed')
      .where('smpp_parts.receipt_status', 'is', null)
      .where('smpp_messages.status', 'is', null)
      .where((eb) => eb.or([eb('smpp_messages.validity_ends_at', '<', now - this.expiryGraceMs), eb('smpp_parts.sent_at', '<', now - this.inDoubtWaitMs)]))
      .limit(1000)
      .execute();
    for (const { reference } of expired) {
      if (this.resendInDoubt) break;
      await this.db
        .updateTable('smpp_parts')
        .set({ receipt_status: 'EXPIRED_DLR_UNKNOWN', error: 'no submit_sm_resp and no receipt: outcome unknown' })
        .where('reference', '=', reference)
        .where(OPEN_PART)
        .where('state', '=', 'unconfirmed')
        .where('receipt_status', 'is', null)
        .execute();
      await this.settle(this.db, [reference]);
    }
    await this.reportSettled();
    await this.forgetOld(now);
    for (const [key, since] of this.unmatchedSince) if (now - since > 10 * UNMATCHED_RECEIPT_RETRY_MS) this.unmatchedSince.delete(key);
  }

  /** Drops journal entries nothing will ask about any more (see retentionMs), a bounded number per sweep. */
  private async forgetOld(now: number): Promise<void> {
    const cutoff = now - (this.options.retentionMs ?? 2 * 86_400_000);
    const old = await this.db
      .selectFrom('smpp_messages')
      .select('reference')
      .where('created_at', '<', cutoff)
      .where((eb) => eb.or([eb('reported', '=', 1), eb('validity_ends_at', '<', cutoff), eb('validity_ends_at', 'is', null)]))
      .limit(1000)
      .execute();
    if (old.length === 0) return;
    const references = old.map((r) => r.reference);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('smpp_parts').where('reference', 'in', references).execute();
      await trx.deleteFrom('smpp_messages').where('reference', 'in', references).execute();
    });
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    // Receipts not stored yet stay unanswered: the SMSC sends them again to the next bind.
    clearTimeout(this.receiptTimer);
    await this.sweeping;
    await this.link.stop();
  }
}
