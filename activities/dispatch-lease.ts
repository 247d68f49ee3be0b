import { Context } from '@temporalio/activity';
import type { DispatchLeases, LeaseRange } from '../db/dispatch-leases';

/**
 * How submits are fenced. Every submit carries a deadline no later than its attempt's lease; a later attempt
 * over the same messages revokes that lease and waits until it has run out (plus a margin for clocks that
 * differ between hosts) before it asks the provider what is in doubt. So no submit of an earlier attempt can
 * land after the later one decided what to send again: no messageId goes out twice, however slow the
 * provider, however stuck or partitioned the earlier worker.
 */
export interface LeaseTiming {
  /** Longest one submit call may take; the provider is told this deadline. */
  submitTimeoutMs: number;
  /** How far ahead a lease reaches; kept extended while the attempt lives. Must exceed submitTimeoutMs. */
  leaseMs: number;
  /** Added to a revoked lease's end before the successor goes on: tolerated clock difference between hosts. */
  clockMarginMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { submitTimeoutMs: 30_000, leaseMs: 40_000, clockMarginMs: 1000 };

/** A submit is not started with less time than this before the lease ends. */
const MIN_SUBMIT_WINDOW_MS = 500;

export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** Sleeps until `until`, heartbeating; throws CancelledFailure when the activity is cancelled meanwhile. */
export async function waitUntil(until: number): Promise<void> {
  const ctx = Context.current();
  for (let left = until - Date.now(); left > 0; left = until - Date.now()) {
    ctx.heartbeat();
    await ctx.sleep(Math.min(left, 1000));
  }
}

/** One activity attempt's lease, kept extended until released. */
export class HeldLease {
  private knownUntil: number;
  private extending: Promise<void> | undefined;
  private lastExtended: number;
  private readonly lost = new AbortController();

  private constructor(
    private readonly leases: DispatchLeases,
    readonly holder: string,
    private readonly timing: LeaseTiming,
    now: number,
  ) {
    this.knownUntil = now + timing.leaseMs;
    this.lastExtended = now;
  }

  /**
   * Takes the lease; `fenceUntil` is when the attempts it revoked can no longer have a submit land. An armed
   * batch takes it ahead of its due time (`from`): the lease then reaches a full length past that time, and is
   * first extended from there.
   */
  static async acquire(
    leases: DispatchLeases,
    holder: string,
    batch: string,
    range: LeaseRange,
    timing: LeaseTiming,
    from?: number,
  ): Promise<{ lease: HeldLease; fenceUntil: number }> {
    const now = Date.now();
    const start = Math.max(now, from ?? now);
    const { fenceUntil } = await leases.acquire(holder, batch, range, now, start - now + timing.leaseMs);
    return { lease: new HeldLease(leases, holder, timing, start), fenceUntil: fenceUntil + (fenceUntil > now ? timing.clockMarginMs : 0) };
  }

  /** Aborts when a later attempt revoked this lease: in-flight submits stop, nothing more is sent. */
  get lostSignal(): AbortSignal {
    return this.lost.signal;
  }

  get isLost(): boolean {
    return this.lost.signal.aborted;
  }

  /** Called often (a timer); extends the lease every fifth of its length, one extension at a time. */
  tick(now = Date.now()): void {
    if (this.extending || this.isLost || now - this.lastExtended < this.timing.leaseMs / 5) return;
    const until = now + this.timing.leaseMs;
    this.extending = this.leases
      .extend(this.holder, until)
      .then(
        (held) => {
          if (!held) this.lost.abort(new LeaseLostError('a later attempt took over this batch'));
          else {
            // Only once the database has it does a submit rely on it.
            this.knownUntil = until;
            this.lastExtended = now;
          }
        },
        // A failed write leaves the known end as it was: submits get shorter deadlines, then stop.
        () => undefined,
      )
      .finally(() => (this.extending = undefined));
  }

  /** The deadline for a submit starting now, or undefined when the lease is lost or too close to its end. */
  submitDeadline(now = Date.now()): number | undefined {
    if (this.isLost) return undefined;
    const deadline = Math.min(now + this.timing.submitTimeoutMs, this.knownUntil);
    return deadline - now >= MIN_SUBMIT_WINDOW_MS ? deadline : undefined;
  }

  /** Ends the lease: only when nothing of this attempt can still reach the provider. */
  async release(): Promise<void> {
    await this.extending;
    await this.leases.release(this.holder);
  }

  /** Ends the lease of an attempt that was stopped before it submitted anything (an armed batch disarmed). */
  async abandon(): Promise<void> {
    this.lost.abort(new LeaseLostError('the batch was disarmed'));
    await this.release();
  }
}
