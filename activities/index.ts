import { CancelledFailure, Context } from '@temporalio/activity';
import { fetch } from 'undici';
import type { Logger } from '../config/logger';
import { toXml } from '../core/xml';
import { CallbackGuard } from '../core/callback-guard';
import { signBody, toInfobipReport } from '../core/reports';
import type { DispatchRow, ReportRow, Repository, SubmitRecord } from '../db/repository';
import { messageReference, type SmsProvider } from '../providers/types';

export interface ActivityDeps {
  repo: Repository;
  provider: SmsProvider;
  logger: Logger;
  /** Account → secret for X-Signature; an account without one cannot receive pushes (they are abandoned). */
  webhookSecrets?: Map<string, string>;
  callbackGuard?: CallbackGuard;
  /** How long a report push is retried before it is abandoned (default 48 h). */
  reportRetryMs?: number;
  /** Submit calls each dispatch batch keeps in flight (default SUBMIT_LANES). */
  submitLanes?: number;
}

export interface DeliverReportsResult {
  pushed: number;
  /** Pushes that failed this time and wait for a retry. */
  pushFailed: number;
  abandoned: number;
  /** Pushes still owed, and the earliest time one may be retried. */
  pending: number;
  nextAttemptAt: number | null;
  /** Messages of the bulk still waiting for a final status. */
  notFinal: number;
  /** Messages delivered to the handset, and messages that failed (undeliverable or refused), so far. */
  delivered: number;
  failed: number;
}

/** Infobip sends at most 100 reports per request. */
const REPORTS_PER_REQUEST = 100;
const PUSH_TIMEOUT_MS = 10_000;

/** Backoff between push attempts: 1 s, 2 s, 4 s … capped at 10 minutes. */
export function pushBackoffMs(attempts: number): number {
  return Math.min(1000 * 2 ** attempts, 600_000);
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
  /**
   * How long the batch may hand messages to the provider, counted from when the workflow scheduled it: until
   * the delivery window closes, validity ends, or the batch's time budget is spent. What it did not reach is
   * left QUEUED and the result says it is incomplete. Absent: no limit (histories from before it existed).
   */
  stopAfterMs?: number;
}

export interface SendBatchResult {
  /** Accepted by the provider in this batch, over all attempts of the activity. */
  submitted: number;
  rejected: number;
  /** Of `submitted`, messages found already at the provider after a crash: not sent again. */
  recovered: number;
  /** False when the batch stopped at stopAfterMs with messages of its range left unsent (QUEUED). */
  complete?: boolean;
}

/** Messages handed to the provider per call: small enough that a heartbeat (and a cancel) lands between them. */
export const SUBMIT_CHUNK = 100;
const RECORD_EVERY = 1000;
/** Submit calls one batch keeps in flight (default), so a few batches keep the provider link busy. */
export const SUBMIT_LANES = 4;
/**
 * The worker sends a heartbeat at most every 100 ms; calling it more often only costs time. Each heartbeat
 * is also how a cancellation (pause) reaches the batch.
 */
const HEARTBEAT_EVERY_MS = 50;

export function createActivities({
  repo,
  provider,
  logger,
  webhookSecrets = new Map(),
  callbackGuard = new CallbackGuard([]),
  reportRetryMs = 48 * 3_600_000,
  submitLanes = SUBMIT_LANES,
}: ActivityDeps) {
  /** POSTs one request of reports; true on a 2xx answer. Never follows redirects (they could lead inside). */
  async function post(url: string, contentType: string, reports: ReportRow[], secret: string): Promise<boolean> {
    const results = reports.map(toInfobipReport);
    const xml = contentType === 'application/xml';
    const body = xml ? toXml('reportResponse', { results }) : JSON.stringify({ results });
    try {
      await callbackGuard.check(url, { requireResolution: true });
      const res = await fetch(url, {
        // Connects only to addresses the guard allows, judged at connect time (no DNS rebinding window).
        dispatcher: callbackGuard.dispatcher,
        method: 'POST',
        headers: { 'content-type': xml ? 'application/xml' : 'application/json', 'x-signature': signBody(body, secret) },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300;
    } catch (err) {
      logger.warn({ err: (err as Error).message, host: new URL(url).host }, 'report push failed');
      return false;
    }
  }

  /**
   * In-doubt messages (left SUBMITTING by an attempt that stopped before recording the outcome): asks the
   * provider which it already holds and records those as submitted, so none is sent twice. Returns their ids.
   */
  async function recoverInDoubt(accountId: string, messageIds: string[], batch?: string): Promise<Set<string>> {
    if (messageIds.length === 0) return new Set();
    const known = await provider.lookup(messageIds.map((id) => messageReference(accountId, id)));
    const found = messageIds.filter((id) => known.has(messageReference(accountId, id)));
    await repo.recordSubmitResults(
      accountId,
      found.map((id) => ({
        messageId: id,
        accepted: true,
        providerMessageId: known.get(messageReference(accountId, id)),
        statusName: 'PENDING_ENROUTE',
      })),
      Date.now(),
      batch,
    );
    return new Set(found);
  }

  /** Before finalizing unsent messages of a bulk (or group): what the provider holds was sent, not unsent. */
  async function resolveInDoubt(accountId: string, bulkId: string, groupIndex?: number): Promise<void> {
    await recoverInDoubt(accountId, await repo.inDoubt(accountId, bulkId, groupIndex));
  }

  return {
    async sendBatch(input: SendBatchInput): Promise<SendBatchResult> {
      const { accountId, bulkId, groupIndex } = input;
      const info = Context.current().info;
      // Counted on this process's clock from this attempt's start, less the time earlier attempts and retry
      // backoffs took (a difference of two server times): right in production, and under time skipping too.
      const deadline =
        input.stopAfterMs === undefined
          ? Infinity
          : Date.now() + input.stopAfterMs - (info.currentAttemptScheduledTimestampMs - info.scheduledTimestampMs);
      // The same for every attempt of this activity: what earlier attempts got accepted counts for this one.
      const batch = `${info.workflowExecution?.runId ?? 'standalone'}/${info.activityId}`;
      const rows = await repo.unsentInRange(accountId, bulkId, groupIndex, input.fromSeq, input.toSeq);
      const inDoubt = rows.filter((r) => r.state === 'SUBMITTING').map((r) => r.message_id);
      const found = await recoverInDoubt(accountId, inDoubt, batch);
      const recovered = found.size;
      const toSend: DispatchRow[] = found.size > 0 ? rows.filter((r) => !found.has(r.message_id)) : rows;
      if (inDoubt.length > 0) {
        logger.info({ accountId, bulkId, inDoubt: inDoubt.length, recovered }, 'resolved in-doubt messages');
      }

      // One claim for the whole range: after a crash, whatever is still SUBMITTING is resolved by lookup above.
      await repo.claimRange(accountId, bulkId, groupIndex, input.fromSeq, input.toSeq, batch, Date.now());
      // Outcomes are written every RECORD_EVERY messages rather than per chunk: until written, the messages stay
      // SUBMITTING, which a retry resolves by lookup, so fewer writes cost nothing in safety.
      const ctx = Context.current();
      let nextChunk = 0;
      let outOfTime = false;
      let lastBeat = 0;
      /** Set by the first lane (or write) that fails: the others stop before their next chunk. */
      let stopped = false;
      let unrecorded: SubmitRecord[] = [];
      const intermediateWanted = toSend.some((r) => r.intermediate_report === 1);
      // Writes run while the lanes keep submitting; the batch ends only after every write has landed.
      const writes: Promise<void>[] = [];
      let writeFailure: unknown;
      const flush = () => {
        const results = unrecorded;
        unrecorded = [];
        writes.push(
          repo.recordSubmitResults(accountId, results, Date.now(), undefined, intermediateWanted).catch((err: unknown) => {
            // Unrecorded messages stay SUBMITTING: the retry of this batch resolves them by lookup.
            writeFailure ??= err;
            stopped = true;
          }),
        );
      };
      // Several lanes keep submits in flight, so the provider link stays busy while one answer is handled; each
      // lane takes the next chunk, so every message is submitted once per attempt.
      const lane = async () => {
        while (!stopped && nextChunk * SUBMIT_CHUNK < toSend.length) {
          const now = Date.now();
          if (now >= deadline) {
            outOfTime = true;
            return;
          }
          if (now - lastBeat >= HEARTBEAT_EVERY_MS) {
            lastBeat = now;
            ctx.heartbeat({ done: nextChunk * SUBMIT_CHUNK });
          }
          // A pause or cancel of the bulk cancels this activity: stop before the next chunk reaches the provider.
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure('dispatch batch cancelled');
          const from = nextChunk++ * SUBMIT_CHUNK;
          const chunk = toSend.slice(from, from + SUBMIT_CHUNK);
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
              rowKey: chunk[k]!.row_key,
              accepted: o.accepted,
              providerMessageId: o.accepted ? o.providerMessageId : undefined,
              statusName: o.accepted ? 'PENDING_ENROUTE' : o.status,
            }),
          );
          if (unrecorded.length >= RECORD_EVERY) flush();
        }
      };
      const lanes = await Promise.allSettled(
        Array.from({ length: submitLanes }, () =>
          lane().catch((err: unknown) => {
            stopped = true;
            throw err;
          }),
        ),
      );
      // Also on cancel or failure: what did reach the provider is recorded, so pause/resume does not ask about it
      // again. (An answer that never came leaves its messages SUBMITTING, in doubt, for the next attempt.)
      if (unrecorded.length > 0) flush();
      await Promise.all(writes);
      // Messages no lane took never reached the provider: back to QUEUED, so no later batch has to ask about them.
      const handedOut = Math.min(nextChunk * SUBMIT_CHUNK, toSend.length);
      if (handedOut < toSend.length) {
        await repo.releaseClaims(accountId, bulkId, { ...input, fromSeq: toSend[handedOut]!.group_seq }, batch).catch((err: unknown) => {
          // Still SUBMITTING, they are merely in doubt: the next batch asks the provider before sending them.
          logger.warn({ accountId, bulkId, err: (err as Error).message }, 'could not release unsent claims');
        });
      }
      const failure = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
      if (failure) throw failure.reason;
      if (writeFailure) throw writeFailure;
      const outcome = await repo.batchOutcome(accountId, bulkId, input, batch);
      if (outOfTime && handedOut < toSend.length) {
        logger.info({ accountId, bulkId, unsent: toSend.length - handedOut }, 'dispatch batch stopped at its time limit');
      }
      return { submitted: outcome.accepted, rejected: outcome.refused, recovered, complete: handedOut === toSend.length };
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

    /**
     * Pushes the reports of a bulk that are due, at most 100 per request, grouped by notifyUrl and content type.
     * `now` is the workflow's clock, so retry schedules hold under time skipping as in production.
     */
    async deliverReports(input: { accountId: string; bulkId: string; now: number }): Promise<DeliverReportsResult> {
      const { accountId, bulkId, now } = input;
      const result: DeliverReportsResult = {
        pushed: 0,
        pushFailed: 0,
        abandoned: 0,
        pending: 0,
        nextAttemptAt: null,
        notFinal: 0,
        delivered: 0,
        failed: 0,
      };
      const secret = webhookSecrets.get(accountId);
      for (;;) {
        const due = await repo.duePushes(accountId, bulkId, now, 1000);
        if (due.length === 0) break;
        const byTarget = new Map<string, ReportRow[]>();
        for (const r of due) {
          const key = `${r.notify_content_type ?? 'application/json'} ${r.notify_url}`;
          byTarget.set(key, [...(byTarget.get(key) ?? []), r]);
        }
        for (const [key, reports] of byTarget) {
          const [contentType, url] = [key.slice(0, key.indexOf(' ')), key.slice(key.indexOf(' ') + 1)];
          for (let i = 0; i < reports.length; i += REPORTS_PER_REQUEST) {
            Context.current().heartbeat();
            const chunk = reports.slice(i, i + REPORTS_PER_REQUEST);
            const ok = secret !== undefined && (await post(url, contentType, chunk, secret));
            if (ok) {
              await repo.markPushed(chunk.map((r) => r.id), now);
              result.pushed += chunk.length;
              continue;
            }
            const expired = chunk.filter((r) => now - r.done_at >= reportRetryMs || secret === undefined);
            const retry = chunk.filter((r) => !expired.includes(r));
            await repo.markPushAbandoned(expired.map((r) => r.id), now);
            for (const r of retry) await repo.markPushFailed([r.id], now + pushBackoffMs(r.attempts));
            result.pushFailed += retry.length;
            result.abandoned += expired.length;
            if (expired.length > 0) logger.error({ accountId, bulkId, reports: expired.length }, 'report pushes abandoned');
          }
        }
        if (result.pushFailed > 0) break;
      }
      return { ...result, ...(await repo.reportProgress(accountId, bulkId)) };
    },

    /** Submitted messages whose report never came within the wait after validity: EXPIRED_DLR_UNKNOWN. */
    async expireUnreported(input: { accountId: string; bulkId: string; now: number }): Promise<number> {
      await resolveInDoubt(input.accountId, input.bulkId);
      return repo.expireUnreported(input.accountId, input.bulkId, input.now);
    },

    /** The workflow is the authority on a bulk's state; the database keeps its final status for lists and logs. */
    async recordBulkState(input: { accountId: string; bulkId: string; status: string; sendAt: number }): Promise<void> {
      await repo.setBulkState(input.accountId, input.bulkId, input.status, input.sendAt);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
