import type { OptOutStore } from '../db/opt-outs';

/**
 * The opt-outs written lately (the last WINDOW_MS), per account, shared by every batch of this worker process and
 * read again at most every FRESH_MS: a thousand batches firing at one moment cost one query per account, not one
 * each. A batch reads its own numbers' opt-outs once when it claims them; this view covers what came since,
 * deletions (START) included.
 */
export class RecentOptOuts {
  static readonly WINDOW_MS = 15 * 60_000;
  static readonly FRESH_MS = 250;
  private readonly views = new Map<string, { at: number; numbers: Set<string>; pending?: Promise<Set<string>> }>();

  constructor(private readonly store: OptOutStore) {}

  /** The numbers opted out for the account within the window, no older than FRESH_MS. */
  async numbers(accountId: string): Promise<Set<string>> {
    const now = Date.now();
    const view = this.views.get(accountId);
    if (view && now - view.at < RecentOptOuts.FRESH_MS) return view.pending ?? view.numbers;
    const pending = this.store.optedOutSince(accountId, now - RecentOptOuts.WINDOW_MS).then(
      (list) => {
        const numbers = new Set(list);
        this.views.set(accountId, { at: now, numbers });
        return numbers;
      },
      (err: unknown) => {
        // Not cached: the next caller asks again.
        this.views.delete(accountId);
        throw err;
      },
    );
    this.views.set(accountId, { at: now, numbers: view?.numbers ?? new Set(), pending });
    // Accounts that stop sending leave their entry behind; a few hundred bytes each, dropped when stale.
    if (this.views.size > 10_000) for (const [id, v] of this.views) if (now - v.at > RecentOptOuts.WINDOW_MS) this.views.delete(id);
    return pending;
  }
}
