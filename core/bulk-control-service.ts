import { temporal } from '@temporalio/proto';
import { type Client, type WorkflowExecutionDescription, type WorkflowHandle, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Repository } from '../db/repository';
import { type BulkStatus, FINAL_BULK_STATUSES, normalizeRequestedStatus } from '../domain/bulk-control';
import { bulkStatusQuery, rescheduleUpdate, setStatusUpdate, type BulkSnapshot } from '../workflows/definitions';
import { ABNORMAL_ENDS, bulkWorkflowId } from './bulk-service';

export class BulkNotFoundError extends Error {
  override name = 'BulkNotFoundError';
  constructor(readonly bulkId: string) {
    super(`no bulk ${bulkId} for this account`);
  }
}

/** Temporal cannot be asked about the bulk right now (unreachable, or its workflow is being taken over). */
export class BulkUnavailableError extends Error {
  override name = 'BulkUnavailableError';
}

/** A control request the rules refuse; the message names the bulk's current status. */
export class ControlRefusedError extends Error {
  override name = 'ControlRefusedError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

export interface BulkView {
  bulkId: string;
  status: BulkStatus;
  sendAt: number;
}

/**
 * Reads and steers bulks through their workflows. Every call is scoped by account: the database row proves the
 * bulk is the caller's before the workflow is touched. Changes go through Updates, so the reply is the applied
 * outcome, never a hope.
 */
export class BulkControlService {
  constructor(
    private readonly deps: {
      repo: Repository;
      client: Client;
      /**
       * Takes over a bulk whose workflow run ended abnormally (BulkService.reconcileBulk); true when it started a
       * recovery run. Absent: such a bulk is answered from its stored state.
       */
      reconcile?: (accountId: string, bulkId: string) => Promise<boolean>;
    },
  ) {}

  private async handleFor(accountId: string, bulkId: string) {
    const row = await this.deps.repo.getBulk(accountId, bulkId);
    if (!row) throw new BulkNotFoundError(bulkId);
    return { row, handle: this.deps.client.workflow.getHandle(bulkWorkflowId(accountId, bulkId)) };
  }

  /**
   * The bulk as its workflow sees it. A bulk whose run was terminated, timed out or failed is taken over first
   * (so the answer is the recovery run's, not the dead run's last word); a bulk whose workflow is gone past
   * retention is answered from the database; Temporal unreachable is a BulkUnavailableError (503), never a 500.
   */
  async view(accountId: string, bulkId: string): Promise<BulkView & { snapshot?: BulkSnapshot }> {
    const { row, handle } = await this.handleFor(accountId, bulkId);
    const stored = { bulkId, status: row.status as BulkStatus, sendAt: row.send_at };
    try {
      if (!FINAL_BULK_STATUSES.has(stored.status)) {
        const description = await handle.describe();
        if (ABNORMAL_ENDS.has(description.status.name) && row.workflow_started === 1) {
          if (!(await this.deps.reconcile?.(accountId, bulkId))) {
            throw new BulkUnavailableError(`the bulk's workflow ${description.status.name.toLowerCase()} and is being taken over; retry shortly`);
          }
        }
        // Its first task is still held back (firstTaskDelayMs): no code has run, and nothing can have changed
        // the bulk (an Update or a cancellation would have ended the delay), so the stored row is its state. A
        // query now would wait for the delay to end.
        if (await inStartDelay(handle, description)) return stored;
      }
      const snapshot = await handle.query(bulkStatusQuery);
      return { bulkId, status: snapshot.status, sendAt: Date.parse(snapshot.sendAt), snapshot };
    } catch (err) {
      // Past the namespace's retention the workflow is gone; its final state is in the database.
      if (err instanceof WorkflowNotFoundError) return stored;
      if (err instanceof BulkUnavailableError) throw err;
      throw new BulkUnavailableError(`the bulk's workflow cannot be reached (${(err as Error).message.slice(0, 200)}); retry shortly`);
    }
  }

  async setStatus(accountId: string, bulkId: string, requested: string): Promise<BulkView> {
    const status = normalizeRequestedStatus(requested);
    if (!status) {
      throw new ControlRefusedError(`status must be PENDING, PAUSED or CANCELED (got ${requested})`, 'status');
    }
    const { handle } = await this.handleFor(accountId, bulkId);
    const applied = await this.runUpdate(accountId, bulkId, 'status', () =>
      handle.executeUpdate(setStatusUpdate, { args: [{ status, by: accountId }] }),
    );
    const { sendAt } = await this.view(accountId, bulkId);
    return { bulkId, status: applied.status, sendAt };
  }

  async reschedule(accountId: string, bulkId: string, sendAt: number): Promise<BulkView> {
    const { handle } = await this.handleFor(accountId, bulkId);
    const applied = await this.runUpdate(accountId, bulkId, 'sendAt', () =>
      handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt, by: accountId }] }),
    );
    const { status } = await this.view(accountId, bulkId);
    return { bulkId, status, sendAt: Date.parse(applied.sendAt) };
  }

  private async runUpdate<T>(accountId: string, bulkId: string, field: string, update: () => Promise<T>): Promise<T> {
    try {
      return await update();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        throw new ControlRefusedError(err.cause.message, field);
      }
      // A closed workflow takes no updates: answer with its final status, as a refused transition would. (A run
      // that ended abnormally is taken over by view(), whose recovery run is CANCELED.)
      if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test((err as Error).message)) {
        const { status } = await this.view(accountId, bulkId);
        if (FINAL_BULK_STATUSES.has(status)) {
          throw new ControlRefusedError(`bulk is ${status}: it can no longer be changed`, field);
        }
      }
      throw new BulkUnavailableError(`the bulk's workflow cannot be reached (${(err as Error).message.slice(0, 200)}); retry shortly`);
    }
  }
}

/**
 * True while a running workflow's first task is held back by its start delay: no workflow task is pending and
 * none was ever scheduled. A history of one event (the start) says so at once; a short one (signals that came
 * during the delay) is read to make sure.
 */
async function inStartDelay(handle: WorkflowHandle, d: WorkflowExecutionDescription): Promise<boolean> {
  if (d.status.name !== 'RUNNING' || d.raw.pendingWorkflowTask) return false;
  if (!d.executionTime || d.executionTime.getTime() <= d.startTime.getTime()) return false;
  const length = Number(d.raw.workflowExecutionInfo?.historyLength ?? 0);
  if (length === 1) return true;
  if (length === 0 || length > 50) return false;
  const history = await handle.fetchHistory();
  return !history.events?.some((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
}
