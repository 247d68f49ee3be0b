import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from '../config/logger';
import { reportsArrivedSignal } from '../workflows/definitions';
import { bulkWorkflowId } from './bulk-service';

/**
 * Tells bulk workflows that delivery reports of theirs were applied, so they push them within about a second
 * instead of at their next poll (which backs off to a minute). At most one signal per bulk per `intervalMs`:
 * reports applied in between are covered by one trailing signal at the end of the interval.
 */
export class ReportNudger {
  private readonly lastSent = new Map<string, number>();
  private readonly trailing = new Map<string, NodeJS.Timeout>();
  private lastPrune = 0;
  private closed = false;
  /** Signals on their way: close() waits for them, so none is left retrying on a connection being closed. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly client: Client,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  nudge(bulks: Array<{ accountId: string; bulkId: string }>): void {
    if (this.closed) return;
    const now = Date.now();
    for (const { accountId, bulkId } of bulks) {
      const workflowId = bulkWorkflowId(accountId, bulkId);
      if (this.trailing.has(workflowId)) continue;
      const wait = (this.lastSent.get(workflowId) ?? -Infinity) + this.intervalMs - now;
      if (wait <= 0) {
        this.send(workflowId, now);
        continue;
      }
      const timer = setTimeout(() => {
        this.trailing.delete(workflowId);
        this.send(workflowId, Date.now());
      }, wait);
      timer.unref();
      this.trailing.set(workflowId, timer);
    }
    // Now and then, forget bulks not nudged for a while: the map stays as small as the set of bulks receiving
    // reports, without a scan on every call.
    if (now - this.lastPrune > 60 * this.intervalMs) {
      this.lastPrune = now;
      for (const [id, at] of this.lastSent) if (now - at > this.intervalMs) this.lastSent.delete(id);
    }
  }

  /** Stops nudging; resolves once the signals already sent have been answered. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.trailing.values()) clearTimeout(timer);
    this.trailing.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  private send(workflowId: string, now: number): void {
    if (this.closed) return;
    this.lastSent.set(workflowId, now);
    const sent = this.client.workflow
      .getHandle(workflowId)
      .signal(reportsArrivedSignal)
      .catch((err: unknown) => {
        // A closed bulk needs no nudge; anything else only delays a push until the workflow's next poll.
        if (!(err instanceof WorkflowNotFoundError)) this.logger.warn({ err, workflowId }, 'could not nudge bulk about reports');
      })
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }
}
