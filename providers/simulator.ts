import { randomUUID } from 'node:crypto';
import type { StatusName } from '../domain/status';
import type {
  DeliveryReportListener,
  OutboundSms,
  ProviderDeliveryReport,
  SmsProvider,
  SubmitResult,
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
}

export const defaultSimulatorOptions: SimulatorOptions = {
  deliveryDelayMs: 2000,
  submitDelayMs: 0,
  failureRate: 0,
  rejectRate: 0,
};

/**
 * An SMSC stand-in: accepts valid messages, refuses a reference it has seen (REJECTED_DUPLICATE_MESSAGE_ID,
 * as Infobip does), and reports delivery after a delay. It counts what it accepted so tests and benchmarks can
 * prove that nothing was submitted twice or lost.
 */
export class SmsSimulator implements SmsProvider {
  readonly name = 'simulator';
  private readonly accepted = new Map<string, string>();
  private readonly listeners: DeliveryReportListener[] = [];
  /** Two queues, each in due order: intermediate reports (half the delay) and final ones. */
  private readonly queues: ProviderDeliveryReport[][] = [[], []];
  private timer: NodeJS.Timeout | undefined;
  private readonly random: () => number;
  /** Every submit attempt per reference, including refused duplicates. */
  readonly submitAttempts = new Map<string, number>();
  duplicateSubmits = 0;
  /** Every message handed to submit(), duplicates included. */
  totalSubmits = 0;
  /** Wall-clock time (epoch ms) of the latest acceptance: where a benchmark's dispatch ends, seen by the sink. */
  lastAcceptAt = 0;

  constructor(private readonly options: SimulatorOptions = defaultSimulatorOptions) {
    this.random = options.random ?? Math.random;
  }

  get acceptedCount(): number {
    return this.accepted.size;
  }

  hasAccepted(reference: string): boolean {
    return this.accepted.has(reference);
  }

  async submit(messages: OutboundSms[]): Promise<SubmitResult[]> {
    if (this.options.submitDelayMs > 0) await new Promise((r) => setTimeout(r, this.options.submitDelayMs));
    const now = Date.now();
    return messages.map((m): SubmitResult => {
      this.totalSubmits++;
      this.submitAttempts.set(m.reference, (this.submitAttempts.get(m.reference) ?? 0) + 1);
      if (this.accepted.has(m.reference)) {
        this.duplicateSubmits++;
        return { reference: m.reference, accepted: false, status: 'REJECTED_DUPLICATE_MESSAGE_ID' };
      }
      if (this.options.rejectRate > 0 && this.random() < this.options.rejectRate) {
        return { reference: m.reference, accepted: false, status: 'REJECTED_DESTINATION' };
      }
      const providerMessageId = randomUUID();
      this.accepted.set(m.reference, providerMessageId);
      this.lastAcceptAt = now;
      const status: StatusName =
        this.options.failureRate > 0 && this.random() < this.options.failureRate
          ? 'UNDELIVERABLE_NOT_DELIVERED'
          : 'DELIVERED_TO_HANDSET';
      // Like an SMSC: first the operator took it (intermediate), then the handset report.
      this.schedule(0, {
        reference: m.reference,
        providerMessageId,
        status: 'DELIVERED_TO_OPERATOR',
        doneAt: now + Math.floor(this.options.deliveryDelayMs / 2),
      });
      this.schedule(1, { reference: m.reference, providerMessageId, status, doneAt: now + this.options.deliveryDelayMs });
      return { reference: m.reference, accepted: true, providerMessageId };
    });
  }

  async lookup(references: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const ref of references) {
      const id = this.accepted.get(ref);
      if (id) found.set(ref, id);
    }
    return found;
  }

  onDeliveryReports(listener: DeliveryReportListener): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  // One ticking timer drains due reports in batches, instead of a timer per message (100k bulks).
  private schedule(queue: number, report: ProviderDeliveryReport): void {
    this.queues[queue]!.push(report);
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), Math.max(10, Math.min(250, this.options.deliveryDelayMs / 2)));
      this.timer.unref();
    }
  }

  private async flush(): Promise<void> {
    const now = Date.now();
    const reports: ProviderDeliveryReport[] = [];
    for (const [i, queue] of this.queues.entries()) {
      // One delay per queue, so reports fall due in the order they were queued: take from the front.
      let due = 0;
      while (due < queue.length && queue[due]!.doneAt <= now) due++;
      if (due === 0) continue;
      reports.push(...queue.slice(0, due));
      this.queues[i] = queue.slice(due);
    }
    if (reports.length === 0) return;
    for (const listener of this.listeners) {
      try {
        await listener(reports);
      } catch {
        // A listener that fails must not stop the others; the listener logs its own errors.
      }
    }
  }
}
