import type { DeliveryReportListener, OutboundSms, SmsProvider, SubmitResult } from './types';

/**
 * A provider reached over HTTP with the simulator's wire protocol (POST /submit, POST /lookup). It is how the
 * benchmark puts the simulator in a separate process, and the shape an HTTP SMS gateway adapter takes.
 * Delivery reports of this protocol are not consumed yet.
 */
export class HttpSmsProvider implements SmsProvider {
  readonly name = 'http';
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 30_000,
  ) {}

  private async post<T>(path: string, body: unknown): Promise<T> {
    const res = await fetch(new URL(path, this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`provider ${path} answered ${res.status}`);
    return (await res.json()) as T;
  }

  submit(messages: OutboundSms[]): Promise<SubmitResult[]> {
    return this.post<SubmitResult[]>('/submit', { messages });
  }

  async lookup(references: string[]): Promise<Map<string, string>> {
    const found = await this.post<Record<string, string>>('/lookup', { references });
    return new Map(Object.entries(found));
  }

  onDeliveryReports(_listener: DeliveryReportListener): void {}

  async close(): Promise<void> {}
}
