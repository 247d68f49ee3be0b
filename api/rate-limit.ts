import Database from 'better-sqlite3';
import pg from 'pg';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterPostgres, RateLimiterRes, RateLimiterSQLite } from 'rate-limiter-flexible';
import { isPostgresUrl } from '../db/database';

/** `RATE_LIMIT`: at most `points` requests per account in each window of `seconds`. */
export interface RateLimitSpec {
  points: number;
  seconds: number;
}

/** What one request learned: the X-Rate-Limit-* header values, and whether it may go on. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window ends and the budget is full again. */
  resetSeconds: number;
}

const TABLE = 'api_rate_limits';

/**
 * One request budget per account (fixed windows), kept where every API process sees it: in a SQLite file beside
 * the orchestrator's or in its PostgreSQL database (rate-limiter-flexible's stores), so several `npm run api` processes on one
 * database share it. Should the store fail, a per-process in-memory limiter answers instead: a database hiccup
 * neither blocks every request nor lifts the limit.
 */
export class AccountRateLimiter {
  private constructor(
    private readonly limiter: RateLimiterAbstract,
    readonly spec: RateLimitSpec,
    private readonly close: () => Promise<void>,
  ) {}

  static parse(value: string | undefined): RateLimitSpec | undefined {
    if (value === undefined || value.trim() === '' || value.trim() === 'off') return undefined;
    const m = /^\s*(\d{1,9})\s*\/\s*(\d{1,6})\s*$/.exec(value);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`RATE_LIMIT must be <requests>/<seconds> (e.g. 20000/60) or off, not ${JSON.stringify(value)}`);
    return { points: Number(m[1]), seconds: Number(m[2]) };
  }

  /** A limiter on the database the product uses: `databaseUrl` (PostgreSQL) or the SQLite file. */
  static async open(spec: RateLimitSpec, store: SharedLimiterStore): Promise<AccountRateLimiter> {
    const { limiter, close } = await openSharedLimiter(spec, store, 'acct');
    return new AccountRateLimiter(limiter, spec, close);
  }

  /** Takes one request from the key's budget. */
  async take(key: string): Promise<RateDecision> {
    try {
      const res = await this.limiter.consume(key, 1);
      return this.decision(true, res);
    } catch (err) {
      if (err instanceof RateLimiterRes) return this.decision(false, err);
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.close();
  }

  private decision(allowed: boolean, res: RateLimiterRes): RateDecision {
    return { allowed, limit: this.spec.points, remaining: Math.max(0, res.remainingPoints), resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
  }
}

export interface SharedLimiterStore {
  databaseUrl?: string;
  sqliteFile?: string;
}

/**
 * A fixed-window limiter of `spec.points` per `spec.seconds` for keys under `keyPrefix`, kept where every process on
 * the database sees it (rate-limiter-flexible's PostgreSQL or SQLite store), with a per-process in-memory limiter
 * answering should the store fail.
 */
export async function openSharedLimiter(spec: RateLimitSpec, store: SharedLimiterStore, keyPrefix: string): Promise<{ limiter: RateLimiterAbstract; close: () => Promise<void> }> {
  const common = { points: spec.points, duration: spec.seconds, keyPrefix, tableName: TABLE, clearExpiredByTimeout: false };
  const insuranceLimiter = new RateLimiterMemory({ points: spec.points, duration: spec.seconds });
  if (isPostgresUrl(store.databaseUrl)) {
    const pool = new pg.Pool({ connectionString: store.databaseUrl, max: 4 });
    pool.on('error', () => undefined); // an idle connection lost: the pool replaces it; callers fall back meanwhile
    const limiter = await ready((cb) => new RateLimiterPostgres({ ...common, storeClient: pool, storeType: 'pool', insuranceLimiter }, cb));
    return { limiter, close: () => pool.end() };
  }
  const file = store.sqliteFile ?? ':memory:';
  // better-sqlite3 is synchronous: keep this file to the limiter (npm start gives it a file of its own) so no long
  // write of the product's can stall a caller. What it holds is worth nothing after a crash: no fsync per call. A
  // lock held too long by another process ends in the in-memory fallback.
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('busy_timeout = 200');
  const limiter = await ready((cb) => new RateLimiterSQLite({ ...common, storeClient: db, storeType: 'better-sqlite3', insuranceLimiter }, cb));
  return { limiter, close: async () => void db.close() };
}

/** The limiter once its table exists (the stores create it and tell a callback, maybe before they return). */
function ready<T extends RateLimiterAbstract>(make: (cb: (err?: Error) => void) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const state: { limiter?: T; outcome?: { err?: Error } } = {};
    const settle = () => {
      if (!state.outcome || !state.limiter) return;
      if (state.outcome.err) reject(state.outcome.err);
      else resolve(state.limiter);
    };
    state.limiter = make((err) => {
      state.outcome = { err };
      settle();
    });
    settle();
  });
}
