import { CancelledFailure, Context } from '@temporalio/activity';
import type { Logger } from '../config/logger';
import type { DispatchRow, Repository } from '../db/repository';
import { messageReference, type SmsProvider } from '../providers/types';

export interface ActivityDeps {
  repo: Repository;
  provider: SmsProvider;
  logger: Logger;
}

/**
 * One dispatch batch: the messages of a schedule group whose group_seq lies in [fromSeq, toSeq). Ranges never
 * overlap, so several batches of a bulk run at once without claiming each other's messages.
 */
export interface SendBatchInput {
  accountId: string;
  bulkId: string;
  groupIndex: number;
  fromSeq: number;
  toSeq: number;
}

export interface SendBatchResult {
  /** Accepted by the provider in this batch, over all attempts of the activity. */
  submitted: number;
  rejected: number;
  /** Of `submitted`, messages found already at the provider after a crash: not sent again. */
  recovered: number;
}

/** Messages handed to the provider per call: small enough that a heartbeat (and a cancel) lands between them. */
export const SUBMIT_CHUNK = 100;
const RECORD_EVERY = 500;

export function createActivities({ repo, provider, logger }: ActivityDeps) {
  /** Messages left SUBMITTING by a stopped batch: those the provider holds were sent; the rest were not. */
  async function resolveInDoubt(accountId: string, bulkId: string, groupIndex?: number): Promise<void> {
    const inDoubt = await repo.inDoubt(accountId, bulkId, groupIndex);
    if (inDoubt.length === 0) return;
    const known = await provider.lookup(inDoubt.map((id) => messageReference(accountId, id)));
    await repo.recordSubmitResults(
      accountId,
      inDoubt
        .filter((id) => known.has(messageReference(accountId, id)))
        .map((id) => ({
          messageId: id,
          accepted: true,
          providerMessageId: known.get(messageReference(accountId, id)),
          statusName: 'PENDING_ENROUTE',
        })),
      Date.now(),
    );
  }

  return {
    async sendBatch(input: SendBatchInput): Promise<SendBatchResult> {
      const { accountId, bulkId, groupIndex } = input;
      const info = Context.current().info;
      // The same for every attempt of this activity: what earlier attempts got accepted counts for this one.
      const batch = `${info.workflowExecution?.runId ?? 'standalone'}/${info.activityId}`;
      const rows = await repo.unsentInRange(accountId, bulkId, groupIndex, input.fromSeq, input.toSeq);
      let recovered = 0;

      // SUBMITTING rows were claimed by an attempt that died before recording the outcome: ask the provider
      // which of them it already has, so a retried batch never submits a messageId twice.
      const inDoubt = rows.filter((r) => r.state === 'SUBMITTING');
      let toSend: DispatchRow[] = rows;
      if (inDoubt.length > 0) {
        const known = await provider.lookup(inDoubt.map((r) => messageReference(accountId, r.message_id)));
        const found = inDoubt.filter((r) => known.has(messageReference(accountId, r.message_id)));
        await repo.recordSubmitResults(
          accountId,
          found.map((r) => ({
            messageId: r.message_id,
            accepted: true,
            providerMessageId: known.get(messageReference(accountId, r.message_id)),
            statusName: 'PENDING_ENROUTE',
          })),
          Date.now(),
          batch,
        );
        recovered = found.length;
        const foundIds = new Set(found.map((r) => r.message_id));
        toSend = rows.filter((r) => !foundIds.has(r.message_id));
        logger.info({ accountId, bulkId, inDoubt: inDoubt.length, recovered }, 'resolved in-doubt messages');
      }

      // One claim for the whole range: after a crash, whatever is still SUBMITTING is resolved by lookup above.
      await repo.claimRange(accountId, bulkId, groupIndex, input.fromSeq, input.toSeq, batch, Date.now());
      // Outcomes are written every RECORD_EVERY messages rather than per chunk: until written, the messages stay
      // SUBMITTING, which a retry resolves by lookup, so fewer writes cost nothing in safety.
      let unrecorded: Parameters<Repository['recordSubmitResults']>[1] = [];
      const flush = async () => {
        await repo.recordSubmitResults(accountId, unrecorded, Date.now());
        unrecorded = [];
      };
      try {
        for (let i = 0; i < toSend.length; i += SUBMIT_CHUNK) {
          const chunk = toSend.slice(i, i + SUBMIT_CHUNK);
          const ctx = Context.current();
          ctx.heartbeat({ done: i });
          // A pause or cancel of the bulk cancels this activity: stop before the next chunk reaches the provider.
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure('dispatch batch cancelled');
          const outcomes = await provider.submit(
            chunk.map((r) => ({
              reference: messageReference(accountId, r.message_id),
              to: r.to_number,
              from: r.from_addr,
              text: r.text,
              flash: r.flash === 1,
            })),
          );
          outcomes.forEach((o, k) =>
            unrecorded.push({
              messageId: chunk[k]!.message_id,
              accepted: o.accepted,
              providerMessageId: o.accepted ? o.providerMessageId : undefined,
              statusName: o.accepted ? 'PENDING_ENROUTE' : o.status,
            }),
          );
          if (unrecorded.length >= RECORD_EVERY) await flush();
        }
      } finally {
        // Also on cancel: what did reach the provider is recorded, so pause/resume does not ask about it again.
        if (unrecorded.length > 0) await flush();
      }
      const outcome = await repo.batchOutcome(accountId, bulkId, input, batch);
      return { submitted: outcome.accepted, rejected: outcome.refused, recovered };
    },

    /**
     * Validity ended: every message of the group not handed to the provider is EXPIRED_EXPIRED. Messages left
     * in doubt by a cancelled batch are first looked up: those the provider holds were sent, not expired.
     */
    async expireGroup(input: { accountId: string; bulkId: string; groupIndex: number }): Promise<number> {
      await resolveInDoubt(input.accountId, input.bulkId, input.groupIndex);
      return repo.finalizeUnsent(input.accountId, input.bulkId, input.groupIndex, 'EXPIRED_EXPIRED', Date.now());
    },

    /** What a batch that was cancelled mid-way got accepted, for the workflow's counts. */
    async batchOutcome(input: SendBatchInput & { batch: string }): Promise<{ submitted: number; rejected: number }> {
      const outcome = await repo.batchOutcome(input.accountId, input.bulkId, input, input.batch);
      return { submitted: outcome.accepted, rejected: outcome.refused };
    },

    /** The bulk was canceled: every message not handed to the provider gets the final REJECTED_CANCELED. */
    async cancelUnsent(input: { accountId: string; bulkId: string }): Promise<number> {
      await resolveInDoubt(input.accountId, input.bulkId);
      return repo.finalizeUnsent(input.accountId, input.bulkId, undefined, 'REJECTED_CANCELED', Date.now());
    },

    /** The workflow is the authority on a bulk's state; the database keeps its final status for lists and logs. */
    async recordBulkState(input: { accountId: string; bulkId: string; status: string; sendAt: number }): Promise<void> {
      await repo.setBulkState(input.accountId, input.bulkId, input.status, input.sendAt);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
