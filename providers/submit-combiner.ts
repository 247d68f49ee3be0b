import { type OutboundSms, type SmsProvider, SubmitDeadlineError, type SubmitOptions, type SubmitResult } from './types';

/** A part is sent only with at least this long left before its deadline. */
const MIN_WINDOW_MS = 200;

interface Pending {
  messages: OutboundSms[];
  deadline: number | undefined;
  resolve: (results: SubmitResult[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Combines small submits that come at the same moment into one provider call, as a thousand one-message bulks
 * due at one instant do: one request of a hundred messages instead of a hundred requests. At most `maxInFlight`
 * calls are open; what arrives meanwhile waits and goes in the next one, up to `maxMessages` per call.
 *
 * The fence holds: a combined call carries the earliest deadline of its parts, so the provider accepts nothing
 * of any part after that part's own deadline. A failed call fails every part (each caller treats its messages
 * as in doubt, as for a call of its own). A caller that stops waiting (its signal) is answered no more, but its
 * messages may still be accepted within their deadline, as with a call of its own.
 */
export class SubmitCombiner {
  private readonly queue: Pending[] = [];
  private inFlight = 0;

  constructor(
    private readonly provider: SmsProvider,
    private readonly maxInFlight = 8,
    private readonly maxMessages = 100,
  ) {}

  submit(messages: OutboundSms[], options: SubmitOptions = {}): Promise<SubmitResult[]> {
    // A full call gains nothing from company: straight through.
    if (messages.length >= this.maxMessages) return this.provider.submit(messages, options);
    return new Promise<SubmitResult[]>((resolve, reject) => {
      this.queue.push({ messages, deadline: options.deadline, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const parts: Pending[] = [];
      let size = 0;
      while (this.queue.length > 0 && size + this.queue[0]!.messages.length <= this.maxMessages) {
        const next = this.queue.shift()!;
        parts.push(next);
        size += next.messages.length;
      }
      this.inFlight++;
      void this.send(parts).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(all: Pending[]): Promise<void> {
    // A part whose deadline is (nearly) gone would make the provider refuse the whole call: it fails alone.
    const now = Date.now();
    const parts = all.filter((p) => p.deadline === undefined || p.deadline - now >= MIN_WINDOW_MS);
    for (const p of all) if (!parts.includes(p)) p.reject(new SubmitDeadlineError('the submit deadline passed before the call went out'));
    if (parts.length === 0) return;
    const deadlines = parts.map((p) => p.deadline).filter((d): d is number => d !== undefined);
    const options: SubmitOptions = deadlines.length > 0 ? { deadline: Math.min(...deadlines) } : {};
    try {
      const results = await this.provider.submit(
        parts.flatMap((p) => p.messages),
        options,
      );
      const byReference = new Map(results.map((r) => [r.reference, r]));
      for (const p of parts) {
        const own = p.messages.map((m) => byReference.get(m.reference));
        if (own.some((r) => r === undefined)) p.reject(new Error('the provider answered without some of the messages'));
        else p.resolve(own as SubmitResult[]);
      }
    } catch (err) {
      for (const p of parts) p.reject(err);
    }
  }
}
