import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { openSharedLimiter, type SharedLimiterStore } from '../api/rate-limit';

/**
 * A messages-per-second cap on the provider connection that holds across every worker on one database (PostgreSQL,
 * or the SQLite file for the workers of one machine): before a submit, its messages are taken from one shared
 * budget of `perSecond` per one-second window, waiting for the next window when it is spent. Fixed windows, so a
 * burst straddling a window's end can reach twice the cap within a second; over any whole window it holds. On top
 * of each bulk's own sendingSpeedLimit.
 */
export class ProviderThrottle {
  private constructor(
    private readonly limiter: RateLimiterAbstract,
    readonly perSecond: number,
    private readonly close: () => Promise<void>,
  ) {}

  static async open(perSecond: number, store: SharedLimiterStore, provider: string): Promise<ProviderThrottle> {
    const { limiter, close } = await openSharedLimiter({ points: perSecond, seconds: 1 }, store, `provider-${provider}`);
    return new ProviderThrottle(limiter, perSecond, close);
  }

  /** Waits until `messages` more fit in the cap (a chunk larger than one second's worth goes in slices). */
  async acquire(messages: number, signal?: AbortSignal): Promise<void> {
    let left = messages;
    while (left > 0) {
      signal?.throwIfAborted();
      const take = Math.min(left, this.perSecond);
      try {
        await this.limiter.consume('tps', take);
        left -= take;
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        await new Promise((r) => setTimeout(r, Math.max(5, err.msBeforeNext)));
      }
    }
  }

  async stop(): Promise<void> {
    await this.close();
  }
}
