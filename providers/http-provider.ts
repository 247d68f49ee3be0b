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

export interface HttpSmsProviderOptions {
  /** Bearer token the simulator process was started with (SIMULATOR_TOKEN), if any. */
  token?: string;
  /** Longest a lookup or a submit without its own deadline may take. */
  timeoutMs?: number;
  /** How long one report pull waits on the server for something to become due. */
  pullWaitMs?: number;
  /** Told when a pull or a hand-over fails (it is retried with backoff). */
  onPullError?: (err: Error) => void;
}

/**
 * The simulator in its own process (SIMULATOR_URL), reached over HTTP: submits carry their deadline, which the
 * simulator honours; delivery reports are pulled (long poll), handed to the listeners and acknowledged only
 * once they have taken them, so a crash on either side redelivers rather than loses them. Any number of
 * worker processes may pull: each report is leased to one of them at a time.
 */
export class HttpSmsProvider implements SmsProvider {
  readonly name = 'simulator-http';
  readonly sendsMms = true;
  private readonly listeners: DeliveryReportListener[] = [];
  private readonly stopPulling = new AbortController();
  private pulling: Promise<void> | undefined;
  private readonly inboundListeners: InboundListener[] = [];
  private inboundPulling: Promise<void> | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly options: HttpSmsProviderOptions = {},
  ) {}

  private async post(path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    return fetch(new URL(path, this.baseUrl), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
      },
      body: JSON.stringify(body),
      signal,
    });
  }

  private async postJson<T>(path: string, body: unknown, signal: AbortSignal): Promise<T> {
    const res = await this.post(path, body, signal);
    if (res.status === 409) throw new SubmitDeadlineError(`provider ${path}: ${await res.text()}`);
    if (!res.ok) throw new Error(`provider ${path} answered ${res.status}`);
    return (await res.json()) as T;
  }

  submit(messages: OutboundSms[], options: SubmitOptions = {}): Promise<SubmitResult[]> {
    const limit = options.deadline !== undefined ? Math.max(0, options.deadline - Date.now()) : (this.options.timeoutMs ?? 30_000);
    const signals = [AbortSignal.timeout(limit), ...(options.signal ? [options.signal] : [])];
    return this.postJson<SubmitResult[]>('/submit', { messages, deadline: options.deadline }, AbortSignal.any(signals));
  }

  async lookup(references: string[]): Promise<Map<string, string>> {
    const found = await this.postJson<Record<string, string>>('/lookup', { references }, AbortSignal.timeout(this.options.timeoutMs ?? 30_000));
    return new Map(Object.entries(found));
  }

  onInbound(listener: InboundListener): void {
    this.inboundListeners.push(listener);
    this.inboundPulling ??= this.inboundLoop();
  }

  /** Polls the simulator for inbound messages every second; acknowledges them once every listener took them. */
  private async inboundLoop(): Promise<void> {
    while (!this.stopPulling.signal.aborted) {
      try {
        const signal = AbortSignal.any([this.stopPulling.signal, AbortSignal.timeout(10_000)]);
        const { messages } = await this.postJson<{ messages: Array<InboundSms & { id: number }> }>('/inbound/pull', { max: 100 }, signal);
        if (messages.length > 0) {
          for (const listener of this.inboundListeners) await listener(messages.map(({ id: _id, ...m }) => m));
          const ack = await this.post('/inbound/ack', { ids: messages.map((m) => m.id) }, signal);
          if (!ack.ok) throw new Error(`provider /inbound/ack answered ${ack.status}`);
          continue;
        }
      } catch (err) {
        if (this.stopPulling.signal.aborted) return;
        this.options.onPullError?.(err as Error);
      }
      await new Promise((r) => setTimeout(r, 1000).unref());
    }
  }

  onDeliveryReports(listener: DeliveryReportListener): void {
    this.listeners.push(listener);
    this.pulling ??= this.pullLoop();
  }

  async close(): Promise<void> {
    this.stopPulling.abort();
    await this.pulling;
    await this.inboundPulling;
  }

  private async pullLoop(): Promise<void> {
    const waitMs = this.options.pullWaitMs ?? 1000;
    let backoff = 250;
    while (!this.stopPulling.signal.aborted) {
      try {
        const signal = AbortSignal.any([this.stopPulling.signal, AbortSignal.timeout(waitMs + 10_000)]);
        const { reports } = await this.postJson<{ reports: Array<ProviderDeliveryReport & { id: number }> }>(
          '/reports/pull',
          { max: 5000, waitMs },
          signal,
        );
        if (reports.length === 0) continue;
        for (const listener of this.listeners) await listener(reports.map(({ id: _id, ...r }) => r));
        const ack = await this.post('/reports/ack', { ids: reports.map((r) => r.id) }, signal);
        if (!ack.ok) throw new Error(`provider /reports/ack answered ${ack.status}`);
        backoff = 250;
      } catch (err) {
        // Simulator away or a listener failed: the reports stay leased and come again; try again shortly.
        if (this.stopPulling.signal.aborted) return;
        this.options.onPullError?.(err as Error);
        await new Promise((r) => setTimeout(r, backoff).unref());
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }
}
