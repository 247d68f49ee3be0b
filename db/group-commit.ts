import type { Db } from './database';

/** Works run in one transaction at most; the rest wait for the next. */
const MAX_GROUP = 500;

interface Queued {
  work: (trx: Db) => Promise<unknown>;
  single: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for small writes that many callers make at the same moment (a thousand bulks due at one
 * instant each record a submit). Writes that arrive while a transaction is committing wait and go together in
 * the next one: one commit — one fsync with SQLITE_SYNCHRONOUS=full — for the lot, instead of one each. Each
 * work keeps its own atomicity (it runs whole inside the transaction); when the shared transaction fails, every
 * work of it runs again in its own, so one caller's failure never becomes another's.
 */
export class GroupCommit {
  private readonly queue: Queued[] = [];
  private flushing = false;

  constructor(private readonly db: Db) {}

  /** `single`: the work is one statement, atomic by itself: alone, it runs without a transaction around it. */
  run<T>(work: (trx: Db) => Promise<T>, single = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, single, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, MAX_GROUP);
        if (group.length === 1) {
          await this.alone(group[0]!);
          continue;
        }
        let results: unknown[];
        try {
          results = await this.db.transaction().execute(async (trx) => {
            const out: unknown[] = [];
            for (const q of group) out.push(await q.work(trx));
            return out;
          });
        } catch {
          for (const q of group) await this.alone(q);
          continue;
        }
        group.forEach((q, i) => q.resolve(results[i]));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async alone(q: Queued): Promise<void> {
    try {
      q.resolve(await (q.single ? q.work(this.db) : this.db.transaction().execute((trx) => q.work(trx))));
    } catch (err) {
      q.reject(err);
    }
  }
}
