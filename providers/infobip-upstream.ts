import { createHash } from 'node:crypto';
import { fetch } from 'undici';
import { STATUSES, type StatusName } from '../domain/status';
import type { DeliveryReportListener, OutboundSms, ProviderDeliveryReport, SmsProvider, SubmitOptions, SubmitResult } from './types';

export interface InfobipUpstreamOptions {
  /**
   * Where the upstream pushes delivery reports: this product's `/provider/infobip/reports?token=…` as the upstream
   * reaches it. Absent: reports are only pulled.
   */
  notifyUrl?: string;
  /** How often delivery reports are pulled from `/sms/1/reports` when none came last time. */
  pullIntervalMs?: number;
  /** Longest a lookup or a submit without its own deadline may take. */
  timeoutMs?: number;
  onPullError?: (err: Error) => void;
}

interface AdvancedReply {
  messages?: Array<{ messageId?: string; status?: { groupName?: string; name?: string } }>;
}

interface ReportsReply {
  results?: Array<{ messageId?: string; doneAt?: string; callbackData?: string; status?: { name?: string } }>;
}

/**
 * The messageId a reference goes upstream under: the reference itself (account:messageId), or when longer than
 * Infobip's 100 characters a digest of it. The reference also rides as callbackData, so reports map back.
 */
export function upstreamMessageId(reference: string): string {
  return reference.length <= 100 ? reference : `h-${createHash('sha256').update(reference).digest('base64url')}`;
}

/**
 * An upstream provider that speaks Infobip's API (`SMS_PROVIDER=infobip`: Infobip itself, or another instance of
 * this product): messages go as `POST /sms/2/text/advanced` under our own references as their messageIds, so a
 * repeated submit is refused upstream as a duplicate (409 DUPLICATE_MESSAGE_ID, the ids named) and a message in
 * doubt is found with `GET /sms/1/logs?messageId=`. Delivery reports are pulled from `/sms/1/reports` (each handed
 * out once upstream; applying one twice here is harmless). The upstream does not honour our submit deadlines: a
 * call that outlives its deadline is aborted here, and what it may have left upstream is found by lookup.
 */
export class InfobipUpstreamProvider implements SmsProvider {
  readonly name = 'infobip';
  readonly sendsMms = false;
  private readonly listeners: DeliveryReportListener[] = [];
  private pulling: Promise<void> | undefined;
  private readonly stop = new AbortController();

  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly options: InfobipUpstreamOptions = {},
  ) {}

  private async call(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal) {
    return fetch(`${this.baseUrl.replace(/\/$/, '')}${path}`, {
      method,
      headers: { authorization: `App ${this.apiKey}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal,
    });
  }

  async submit(messages: OutboundSms[], options: SubmitOptions = {}): Promise<SubmitResult[]> {
    const limit = options.deadline !== undefined ? Math.max(0, options.deadline - Date.now()) : (this.options.timeoutMs ?? 30_000);
    const signal = AbortSignal.any([AbortSignal.timeout(limit), ...(options.signal ? [options.signal] : [])]);
    const outcomes = new Map<string, SubmitResult>();
    let pending = messages;
    // A 409 names messageIds the upstream already holds (an earlier attempt's submit got there): those are
    // reported as duplicates (the caller looks them up) and the rest are sent again, at most a few rounds.
    for (let round = 0; pending.length > 0; round++) {
      if (round >= 10) throw new Error('the upstream kept refusing submits as duplicates');
      const res = await this.call(
        'POST',
        '/sms/2/text/advanced',
        {
          messages: pending.map((m) => ({
            ...(m.from ? { from: m.from } : {}),
            destinations: [{ to: m.to, messageId: upstreamMessageId(m.reference) }],
            text: m.text,
            flash: m.flash,
            callbackData: m.reference,
            ...(this.options.notifyUrl ? { notifyUrl: this.options.notifyUrl, notifyContentType: 'application/json', intermediateReport: false } : {}),
          })),
        },
        signal,
      );
      const body = (await res.json().catch(() => ({}))) as AdvancedReply & { requestError?: { serviceException?: { messageId?: string; validationErrors?: { messageId?: string[] } } } };
      if (res.status === 409 && body.requestError?.serviceException?.messageId === 'DUPLICATE_MESSAGE_ID') {
        const heldIds = new Set(body.requestError.serviceException.validationErrors?.messageId ?? []);
        const held = new Set(pending.filter((m) => heldIds.has(upstreamMessageId(m.reference))).map((m) => m.reference));
        if (held.size === 0) throw new Error('the upstream refused the submit as a duplicate without naming the messageIds');
        for (const m of pending) if (held.has(m.reference)) outcomes.set(m.reference, { reference: m.reference, accepted: false, status: 'REJECTED_DUPLICATE_MESSAGE_ID' });
        pending = pending.filter((m) => !held.has(m.reference));
        continue;
      }
      if (!res.ok) throw new Error(`the upstream answered ${res.status} to a submit`);
      const byId = new Map((body.messages ?? []).map((r) => [r.messageId, r]));
      for (const m of pending) {
        const r = byId.get(upstreamMessageId(m.reference));
        if (!r) throw new Error(`the upstream's answer does not name messageId ${m.reference}`);
        const group = r.status?.groupName;
        outcomes.set(
          m.reference,
          group === 'PENDING' || group === 'ACCEPTED' || group === 'DELIVERED'
            ? { reference: m.reference, accepted: true, providerMessageId: upstreamMessageId(m.reference) }
            : { reference: m.reference, accepted: false, status: knownStatus(r.status?.name, 'REJECTED_DESTINATION') },
        );
      }
      pending = [];
    }
    return messages.map((m) => outcomes.get(m.reference)!);
  }

  /** The references the upstream holds, each asked for by messageId in its logs. */
  async lookup(references: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const reference of references) {
      const id = upstreamMessageId(reference);
      const res = await this.call('GET', `/sms/1/logs?messageId=${encodeURIComponent(id)}&limit=1`, undefined, AbortSignal.timeout(this.options.timeoutMs ?? 30_000));
      if (!res.ok) throw new Error(`the upstream answered ${res.status} to a log lookup`);
      const body = (await res.json()) as ReportsReply;
      if (body.results?.some((r) => r.messageId === id)) found.set(reference, id);
    }
    return found;
  }

  onDeliveryReports(listener: DeliveryReportListener): void {
    this.listeners.push(listener);
    this.pulling ??= this.pullLoop();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.pulling;
  }

  private async pullLoop(): Promise<void> {
    const interval = this.options.pullIntervalMs ?? 1000;
    while (!this.stop.signal.aborted) {
      let got = 0;
      try {
        const res = await this.call('GET', '/sms/1/reports?limit=1000', undefined, AbortSignal.any([this.stop.signal, AbortSignal.timeout(30_000)]));
        if (!res.ok) throw new Error(`the upstream answered ${res.status} to a reports pull`);
        const reports = upstreamReports(((await res.json()) as ReportsReply).results ?? []);
        got = reports.length;
        // Upstream hands each report out once: a listener that fails here loses nothing only because the
        // listener keeps its own retry (deliveryReportHandler rethrows, and this loop hands the batch again).
        for (let attempt = 0; reports.length > 0; attempt++) {
          try {
            for (const listener of this.listeners) await listener(reports);
            break;
          } catch (err) {
            if (this.stop.signal.aborted) return;
            this.options.onPullError?.(err as Error);
            await sleep(Math.min(250 * 2 ** attempt, 5000), this.stop.signal);
          }
        }
      } catch (err) {
        if (this.stop.signal.aborted) return;
        this.options.onPullError?.(err as Error);
      }
      if (got < 1000) await sleep(interval, this.stop.signal);
    }
  }
}

/** Infobip report objects (pulled or pushed) as provider reports, by the reference each carries as callbackData. */
export function upstreamReports(results: NonNullable<ReportsReply['results']>): ProviderDeliveryReport[] {
  return results
    .filter((r): r is Required<Pick<typeof r, 'messageId' | 'callbackData'>> & typeof r => typeof r.messageId === 'string' && typeof r.callbackData === 'string')
    .map((r) => ({
      reference: r.callbackData,
      providerMessageId: r.messageId,
      status: knownStatus(r.status?.name, 'UNDELIVERABLE_NOT_DELIVERED'),
      doneAt: r.doneAt ? Date.parse(r.doneAt) || Date.now() : Date.now(),
    }));
}

function knownStatus(name: string | undefined, fallback: StatusName): StatusName {
  return name && name in STATUSES ? (name as StatusName) : fallback;
}

/** Waits `ms`, or less when `signal` aborts (close() does not wait out a pause between pulls). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
