import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Repository } from '../db/repository';
import { type BulkStatus, FINAL_BULK_STATUSES, normalizeRequestedStatus } from '../domain/bulk-control';
import { bulkStatusQuery, rescheduleUpdate, setStatusUpdate, type BulkSnapshot } from '../workflows/definitions';
import { bulkWorkflowId } from './bulk-service';

export class BulkNotFoundError extends Error {
  override name = 'BulkNotFoundError';
  constructor(readonly bulkId: string) {
    super(`no bulk ${bulkId} for this account`);
  }
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
  constructor(private readonly deps: { repo: Repository; client: Client }) {}

  private async handleFor(accountId: string, bulkId: string) {
    const row = await this.deps.repo.getBulk(accountId, bulkId);
    if (!row) throw new BulkNotFoundError(bulkId);
    return { row, handle: this.deps.client.workflow.getHandle(bulkWorkflowId(accountId, bulkId)) };
  }

  async view(accountId: string, bulkId: string): Promise<BulkView & { snapshot?: BulkSnapshot }> {
    const { row, handle } = await this.handleFor(accountId, bulkId);
    try {
      const snapshot = await handle.query(bulkStatusQuery);
      return { bulkId, status: snapshot.status, sendAt: snapshot.sendAt, snapshot };
    } catch (err) {
      // Past the namespace's retention the workflow is gone; its final state is in the database.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      return { bulkId, status: row.status as BulkStatus, sendAt: row.send_at };
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
    return { bulkId, status, sendAt: applied.sendAt };
  }

  private async runUpdate<T>(accountId: string, bulkId: string, field: string, update: () => Promise<T>): Promise<T> {
    try {
      return await update();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        throw new ControlRefusedError(err.cause.message, field);
      }
      // A closed workflow takes no updates: answer with its final status, as a refused transition would.
      if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test((err as Error).message)) {
        const { status } = await this.view(accountId, bulkId);
        if (FINAL_BULK_STATUSES.has(status)) {
          throw new ControlRefusedError(`bulk is ${status}: it can no longer be changed`, field);
        }
      }
      throw err;
    }
  }
}
