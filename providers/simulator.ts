import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import type { StatusName } from '../domain/status';
import {
  type DeliveryReportListener,
  type InboundListener,
  type InboundSms,
  type OutboundSms,
  type ProviderDeliveryReport,
  type SmsProvider,
  SubmitDeadlineError,
  type SubmitOptions,
  type SubmitResult,
} from './types';

export interface SimulatorOptions {
  /** Time from acceptance to the final delivery report. */
  deliveryDelayMs: number;
  /** Added latency of every submit call, like a round trip to an SMSC. */
  submitDelayMs: number;
  /** Share of accepted messages whose final report is UNDELIVERABLE_NOT_DELIVERED. */
  failureRate: number;
  /** Share of messages refused at submit with REJECTED_DESTINATION. */
  rejectRate: number;
  random?: () => number;
  /**
   * Where it keeps what it accepted and the reports it owes: a SQLite file, so that a crash of the process
   * hosting it loses neither (as with a real SMSC). ':memory:' (the default) lives as long as the object.
   */
  file?: string;
}

export const defaultSimulatorOptions: SimulatorOptions = {
  deliveryDelayMs: 2000,
  submitDelayMs: 0,
  failureRate: 0,
  rejectRate: 0,
};

/** A report handed out and not yet acknowledged is handed out again after this long. */
export const REPORT_LEASE_MS = 10_000;
/** Reports per hand-over, to an in-process listener or a pull. */
const REPORTS_PER_HANDOVER = 5000;

/** An owed report with the id that acknowledges it. */
export interface OwedReport extends ProviderDeliveryReport {
  id: number;
}

/**
 * An SMSC stand-in: accepts valid messages, refuses a reference it has seen (REJECTED_DUPLICATE_MESSAGE_ID, as
 * Infobip does), and reports delivery after a delay (an intermediate DELIVERED_TO_OPERATOR at half of it). What it
 * accepted and the reports it owes are in its SQLite file, written before a submit is answered; reports are
 * delivered at least once (kept until acknowledged). It counts submits per reference, so tests and benchmarks
 * can prove that nothing was submitted twice or lost, across restarts too.
 */
export class SmsSimulator implements SmsProvider {
  readonly name = 'simulator';
  readonly sendsMms = true;
  /** The MMS it accepted (reference → subject and media), as a handset would show them. */
  readonly mmsAccepted = new Map<string, { subject?: string; mediaUrl: string }>();
  private readonly db: SQLite.Database;
  private readonly listeners: DeliveryReportListener[] = [];
  private readonly inboundListeners: InboundListener[] = [];
  private timer: NodeJS.Timeout | undefined;
  private delivering = false;
  private closed = false;
  private readonly random: () => number;
  /** Submit attempts per reference made through this object (refused duplicates included). */
  readonly submitAttempts = new Map<string, number>();
  /** Over the file's whole life: submits that repeated an accepted reference, and every message handed over. */
  duplicateSubmits = 0;
  totalSubmits = 0;
  /** Wall-clock time (epoch ms) of the latest acceptance: where a benchmark's dispatch ends, seen by the sink. */
  lastAcceptAt = 0;
  private accepted = 0;
  private readonly statements: ReturnType<SmsSimulator['prepare']>;

  constructor(private readonly options: SimulatorOptions = defaultSimulatorOptions) {
    this.random = options.random ?? Math.random;
    const file = options.file ?? ':memory:';
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new SQLite(file);
    // WAL with NORMAL sync: a committed submit survives the process being killed (not a power cut).
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      create table if not exists submits (
        reference text primary key,
        attempts integer not null,
        provider_id text,
        accepted_at integer
      );
      create table if not exists owed_reports (
        id integer primary key autoincrement,
        reference text not null,
        provider_id text not null,
        status text not null,
        due_at integer not null,
        lease_until integer not null default 0
      );
      create index if not exists owed_reports_due on owed_reports (due_at);
      create table if not exists owed_inbound (
        id integer primary key autoincrement,
        provider_id text not null,
        from_number text not null,
        to_number text not null,
        text text not null,
        received_at integer not null
      );`);
    this.statements = this.prepare();
    const totals = this.db
      .prepare('select count(provider_id) as accepted, coalesce(sum(attempts), 0) as attempts, coalesce(sum(case when provider_id is not null then attempts - 1 else 0 end), 0) as repeats, coalesce(max(accepted_at), 0) as last from submits')
      .get() as { accepted: number; attempts: number; repeats: number; last: number };
    this.accepted = totals.accepted;
    this.totalSubmits = totals.attempts;
    this.duplicateSubmits = totals.repeats;
    this.lastAcceptAt = totals.last;
  }

  private prepare() {
    return {
      attempt: this.db.prepare<[string], { attempts: number; provider_id: string | null }>(
        'insert into submits (reference, attempts) values (?, 1) on conflict (reference) do update set attempts = attempts + 1 returning attempts, provider_id',
      ),
      accept: this.db.prepare<[string, number, string]>('update submits set provider_id = ?, accepted_at = ? where reference = ?'),
      owe: this.db.prepare<[string, string, string, number, string, string, string, number]>(
        'insert into owed_reports (reference, provider_id, status, due_at) values (?, ?, ?, ?), (?, ?, ?, ?)',
      ),
      lookup: this.db.prepare<[string], { provider_id: string | null }>('select provider_id from submits where reference = ?'),
      due: this.db.prepare<[number, number, number], { id: number; reference: string; provider_id: string; status: string; due_at: number }>(
        'select id, reference, provider_id, status, due_at from owed_reports where due_at <= ? and lease_until <= ? order by due_at, id limit ?',
      ),
      lease: this.db.prepare<[number, number]>('update owed_reports set lease_until = ? where id = ?'),
      ack: this.db.prepare<[number]>('delete from owed_reports where id = ?'),
      owed: this.db.prepare<[], { n: number }>('select count(*) as n from owed_reports'),
      owedInbound: this.db.prepare<[number], { id: number; provider_id: string; from_number: string; to_number: string; text: string; received_at: number }>(
        'select * from owed_inbound order by id limit ?',
      ),
      dropInbound: this.db.prepare<[number]>('delete from owed_inbound where id = ?'),
      stats: this.db.prepare<[string, string], { accepted: number; duplicates: number }>(
        "select count(provider_id) as accepted, coalesce(sum(attempts - 1), 0) as duplicates from submits where reference >= ? and reference < ?",
      ),
    };
  }

  get acceptedCount(): number {
    return this.accepted;
  }

  hasAccepted(reference: string): boolean {
    return !!this.statements.lookup.get(reference)?.provider_id;
  }

  /** When the simulator accepted the reference (epoch ms), if it did. */
  acceptedAt(reference: string): number | undefined {
    const row = this.db.prepare<[string], { accepted_at: number | null }>('select accepted_at from submits where reference = ?').get(reference);
    return row?.accepted_at ?? undefined;
  }

  async submit(messages: OutboundSms[], options: SubmitOptions = {}): Promise<SubmitResult[]> {
    if (this.options.submitDelayMs > 0) await abortableDelay(this.options.submitDelayMs, options.signal);
    // The call "arrives" now: after its deadline, or once its caller gave up, nothing of it is accepted.
    if (options.signal?.aborted) throw new SubmitDeadlineError('submit abandoned by its caller before it reached the simulator');
    if (options.deadline !== undefined && Date.now() > options.deadline) {
      throw new SubmitDeadlineError(`submit reached the simulator ${Date.now() - options.deadline} ms after its deadline`);
    }
    if (this.closed) throw new Error('simulator is closed');
    const now = Date.now();
    const half = Math.floor(this.options.deliveryDelayMs / 2);
    // One transaction per call: the answer goes out only once what it says is on disk.
    const results = this.db.transaction(() =>
      messages.map((m): SubmitResult => {
        this.totalSubmits++;
        this.submitAttempts.set(m.reference, (this.submitAttempts.get(m.reference) ?? 0) + 1);
        const seen = this.statements.attempt.get(m.reference)!;
        if (seen.provider_id) {
          this.duplicateSubmits++;
          return { reference: m.reference, accepted: false, status: 'REJECTED_DUPLICATE_MESSAGE_ID' };
        }
        if (this.options.rejectRate > 0 && this.random() < this.options.rejectRate) {
          return { reference: m.reference, accepted: false, status: 'REJECTED_DESTINATION' };
        }
        const providerMessageId = randomUUID();
        this.statements.accept.run(providerMessageId, now, m.reference);
        if (m.mms) this.mmsAccepted.set(m.reference, m.mms);
        const status: StatusName =
          this.options.failureRate > 0 && this.random() < this.options.failureRate
            ? 'UNDELIVERABLE_NOT_DELIVERED'
            : 'DELIVERED_TO_HANDSET';
        // Like an SMSC: first the operator took it (intermediate), then the handset report.
        this.statements.owe.run(
          m.reference,
          providerMessageId,
          'DELIVERED_TO_OPERATOR',
          now + half,
          m.reference,
          providerMessageId,
          status,
          now + this.options.deliveryDelayMs,
        );
        this.accepted++;
        this.lastAcceptAt = now;
        return { reference: m.reference, accepted: true, providerMessageId };
      }),
    )();
    if (this.listeners.length > 0) this.startDelivery();
    return results;
  }

  async lookup(references: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const ref of references) {
      const id = this.statements.lookup.get(ref)?.provider_id;
      if (id) found.set(ref, id);
    }
    return found;
  }

  /** In-process delivery: due reports go to the listeners, and are dropped once every listener took them. */
  onDeliveryReports(listener: DeliveryReportListener): void {
    this.listeners.push(listener);
    this.startDelivery();
  }

  onInbound(listener: InboundListener): void {
    this.inboundListeners.push(listener);
    this.startDelivery();
  }

  /**
   * A handset writes to one of our numbers (what a test or an operator tells the simulator to deliver). Kept in
   * the simulator's file until every inbound listener took it, as its reports are; returns its provider id.
   */
  deliverInbound(message: { from: string; to: string; text: string; receivedAt?: number }): string {
    if (this.closed) throw new Error('the simulator is closed');
    const providerId = `mo-${randomUUID()}`;
    this.db
      .prepare('insert into owed_inbound (provider_id, from_number, to_number, text, received_at) values (?, ?, ?, ?, ?)')
      .run(providerId, message.from.replace(/^\+/, ''), message.to.replace(/^\+/, ''), message.text, message.receivedAt ?? Date.now());
    this.startDelivery();
    return providerId;
  }

  /** Inbound messages not yet taken by every listener. */
  get owedInbound(): number {
    return (this.db.prepare('select count(*) as n from owed_inbound').get() as { n: number }).n;
  }

  /**
   * Hands out due reports (oldest first) and leases them for REPORT_LEASE_MS: unless acknowledged by then,
   * they are handed out again. How the simulator's own process serves pulls, and how in-process delivery works.
   */
  leaseDueReports(max = REPORTS_PER_HANDOVER, now = Date.now()): OwedReport[] {
    if (this.closed) return [];
    return this.db.transaction(() => {
      const rows = this.statements.due.all(now, now, max);
      for (const r of rows) this.statements.lease.run(now + REPORT_LEASE_MS, r.id);
      return rows.map((r) => ({ id: r.id, reference: r.reference, providerMessageId: r.provider_id, status: r.status as StatusName, doneAt: r.due_at }));
    })();
  }

  acknowledgeReports(ids: number[]): void {
    if (this.closed) return;
    this.db.transaction(() => {
      for (const id of ids) this.statements.ack.run(id);
    })();
  }

  /** Reports accepted messages still owe (due or not, handed out or not). */
  get owedReports(): number {
    return this.statements.owed.get()!.n;
  }

  /**
   * For references starting with `prefix`: how many were accepted, and how many submits repeated a reference
   * already submitted (accepted or not): each one breaks "at most once per messageId".
   */
  stats(prefix = ''): { accepted: number; duplicates: number; totalSubmits: number } {
    // A range on the primary key instead of LIKE: no escaping, and it uses the index.
    const row = this.statements.stats.get(prefix, `${prefix}\uffff`)!;
    return { accepted: row.accepted, duplicates: row.duplicates, totalSubmits: this.totalSubmits };
  }

  /** Up to `max` inbound messages not yet acknowledged, oldest first (each with the id to acknowledge it by). */
  owedInboundBatch(max = 100): Array<InboundSms & { id: number }> {
    if (this.closed) return [];
    const rows = this.statements.owedInbound.all(max);
    return rows.map((r) => ({ id: r.id, providerId: r.provider_id, from: r.from_number, to: r.to_number, text: r.text, receivedAt: r.received_at }));
  }

  acknowledgeInbound(ids: number[]): void {
    if (this.closed) return;
    this.db.transaction(() => {
      for (const id of ids) this.statements.dropInbound.run(id);
    })();
  }

  /** Owed inbound messages, oldest first, to every inbound listener; dropped once all of them took a batch. */
  private async drainInbound(): Promise<void> {
    if (this.inboundListeners.length === 0) return;
    for (;;) {
      const batch = this.owedInboundBatch();
      if (batch.length === 0) return;
      for (const listener of this.inboundListeners) {
        try {
          await listener(batch.map(({ id: _id, ...m }) => m));
        } catch {
          // Kept: offered again on the next tick (listeners recognise a redelivery by providerId).
          return;
        }
      }
      this.acknowledgeInbound(batch.map((m) => m.id));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // Let a hand-over in progress finish before the file closes.
    while (this.delivering) await new Promise((r) => setTimeout(r, 10));
    this.db.close();
  }

  // One ticking timer drains due reports in batches, instead of a timer per message (100k bulks).
  private startDelivery(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.deliver(), Math.max(10, Math.min(250, this.options.deliveryDelayMs / 2)));
    this.timer.unref();
  }

  private async deliver(): Promise<void> {
    if (this.delivering || this.closed) return;
    this.delivering = true;
    try {
      await this.drainInbound();
      // Reports wait in the file until someone listens (or pulls them).
      while (this.listeners.length > 0) {
        const reports = this.leaseDueReports();
        if (reports.length === 0) return;
        let taken = true;
        for (const listener of this.listeners) {
          try {
            await listener(reports.map(({ id: _id, ...report }) => report));
          } catch {
            // Kept: handed out again once the lease runs out. (The listener logs its own errors.)
            taken = false;
          }
        }
        if (!taken) return;
        this.acknowledgeReports(reports.map((r) => r.id));
      }
    } finally {
      this.delivering = false;
    }
  }
}

function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
