import { CancelledFailure, Context } from '@temporalio/activity';
import { ArmedBatches, type ArmedState } from '../db/armed-batches';
import { DispatchLeases, type LeaseRange } from '../db/dispatch-leases';
import { DEFAULT_LEASE_TIMING, HeldLease, LeaseLostError, type LeaseTiming, waitUntil } from './dispatch-lease';
import { fetch } from 'undici';
import type { Logger } from '../config/logger';
import { toXml } from '../core/xml';
import { CallbackGuard } from '../core/callback-guard';
import { ROUTEE_CALLBACK_TYPE, routeeStatusCounts, signBody, toInfobipReport, toRouteeCallback } from '../core/reports';
import { OptOutStore } from '../db/opt-outs';
import { RecentOptOuts } from './recent-opt-outs';
import type { ProviderThrottle } from './provider-throttle';
import { CampaignStore } from '../db/campaigns';
import type { DispatchRow, ReportRow, Repository, SubmitRecord } from '../db/repository';
import { type BulkStatus, FINAL_BULK_STATUSES } from '../domain/bulk-control';
import { SubmitCombiner } from '../providers/submit-combiner';
import type { LanguageCode } from '../domain/encoding';
import { messageReference, type OutboundSms, type SmsProvider, type SubmitResult } from '../providers/types';

/** Settles with `work`, or rejects as soon as `signal` aborts: a provider that ignores the signal cannot hold a lane. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

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
  /** Submit deadlines and dispatch leases (default DEFAULT_LEASE_TIMING); tests shorten them. */
  leaseTiming?: Partial<LeaseTiming>;
  /** Batches of this process that submit at once (default SENDING_BATCHES); the others wait their turn. */
  sendingBatches?: number;
  /** The provider-wide messages-per-second cap shared by every worker (PROVIDER_MAX_TPS); absent: none. */
  throttle?: ProviderThrottle;
}

/**
 * Batches of one worker process that read, claim and submit at once. The worker runs many more sendBatch
 * activities than this (armed batches wait for their due time in a slot each); only this many do the work.
 */
export const SENDING_BATCHES = 50;

/** A counting semaphore: at most `size` holders at once, the others queue in order. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(size: number) {
    this.free = size;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
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
  /** Everything was final and pushed, and the bulk's final status (`closeAs`) was recorded in this round. */
  closed?: boolean;
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
  /**
   * Armed batch: it was started this long before its due time (counted like stopAfterMs) and waits in the worker
   * until then, so that the due moment costs no round trip to the server. At the due time it records itself
   * FIRED, unless a pause, cancel or reschedule disarmed it first (db/armed-batches.ts): then it sends nothing.
   */
  startAfterMs?: number;
}

export interface SendBatchResult {
  /** Accepted by the provider in this batch, over all attempts of the activity. */
  submitted: number;
  rejected: number;
  /** Of `submitted`, messages found already at the provider after a crash: not sent again. */
  recovered: number;
  /** False when the batch stopped at stopAfterMs with messages of its range left unsent (QUEUED). */
  complete?: boolean;
  /** An armed batch that was disarmed before its due time: it sent nothing. */
  disarmed?: boolean;
  /** The bulk's delivery outcomes so far (reports arrive while it still sends), for the workflow's live counts. */
  delivered?: number;
  failed?: number;
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
/**
 * Besides the lanes' heartbeats between chunks, a timer heartbeats (and extends the batch's lease) this often,
 * so a submit that takes long never looks like a dead worker (sendBatch's heartbeat timeout is 10 s).
 */
const HEARTBEAT_TIMER_MS = 1000;

export function createActivities({
  repo,
  provider,
  logger,
  webhookSecrets = new Map(),
  callbackGuard = new CallbackGuard([]),
  reportRetryMs = 48 * 3_600_000,
  submitLanes = SUBMIT_LANES,
  leaseTiming,
  sendingBatches = SENDING_BATCHES,
  throttle,
}: ActivityDeps) {
  const timing: LeaseTiming = { ...DEFAULT_LEASE_TIMING, ...leaseTiming };
  const leases = new DispatchLeases(repo.db, repo.group);
  const armed = new ArmedBatches(repo.db);
  const campaigns = new CampaignStore(repo.db);
  const optOuts = new OptOutStore(repo.db);
  const recentOptOuts = new RecentOptOuts(optOuts);
  const sending = new Slots(sendingBatches);
  // Small submits of batches working at the same moment share provider calls.
  const link = new SubmitCombiner(provider, submitLanes * 2, SUBMIT_CHUNK);
  /** POSTs one body, signed; true on a 2xx answer. Never follows redirects (they could lead inside). */
  async function postSigned(url: string, contentType: string, body: string, secret: string): Promise<boolean> {
    try {
      await callbackGuard.check(url, { requireResolution: true });
      const res = await fetch(url, {
        // Connects only to addresses the guard allows, judged at connect time (no DNS rebinding window).
        dispatcher: callbackGuard.dispatcher,
        method: 'POST',
        headers: { 'content-type': contentType, 'x-signature': signBody(body, secret) },
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

  /** POSTs one request of reports in the shape its notifyUrl asked for; true on a 2xx answer. */
  async function post(url: string, contentType: string, reports: ReportRow[], secret: string): Promise<boolean> {
    if (contentType === ROUTEE_CALLBACK_TYPE) {
      // Routee posts one callback per message.
      return postSigned(url, 'application/json', JSON.stringify(toRouteeCallback(reports[0]!)), secret);
    }
    const results = reports.map(toInfobipReport);
    const xml = contentType === 'application/xml';
    const body = xml ? toXml('reportResponse', { results }) : JSON.stringify({ results });
    return postSigned(url, xml ? 'application/xml' : 'application/json', body, secret);
  }

  /**
   * Routee's campaignCallback: tells the campaign's progress when another fifth of its messages is final
   * (OnChange) or once all are (OnCompletion). Retried with the pushes' backoff; given up after the same time.
   * Returns whether something is still owed, and when it may be tried again.
   */
  async function tellCampaignProgress(
    accountId: string,
    bulkId: string,
    now: number,
    closeAs: BulkStatus | undefined,
    secret: string | undefined,
  ) {
    const callback = await campaigns.openCallback(accountId, bulkId);
    if (!callback) return { pending: 0, nextAttemptAt: null };
    const { counts, total, final } = await campaigns.progress(accountId, bulkId);
    const fifths = total === 0 || final === total ? 5 : Math.floor((final * 5) / total);
    // The completion comes after every message's own callback: while one is still owed, it waits for it. Read
    // after the counts: a message final by then has its report queued by then (one transaction).
    if (fifths === 5) {
      const owedPushes = await repo.pendingPushes(accountId, bulkId);
      if (owedPushes.pending > 0) return { pending: 1, nextAttemptAt: owedPushes.nextAttemptAt ?? now };
    }
    const due = callback.strategy === 'OnChange' ? fifths : fifths === 5 ? 5 : callback.notified;
    const owed = { pending: 1, nextAttemptAt: Math.max(now, callback.next_attempt_at) };
    if (due <= callback.notified) return { pending: 0, nextAttemptAt: null };
    if (now < callback.next_attempt_at) return owed;
    const messageStatuses = routeeStatusCounts(counts);
    const body = JSON.stringify({
      trackingId: callback.tracking_id,
      ...(callback.name ? { name: callback.name } : {}),
      totalRecipients: total,
      campaignStatus: due === 5 ? (closeAs === 'CANCELED' || messageStatuses.Unsent === total ? 'Cancelled' : 'Sent') : 'Running',
      messageStatuses,
      callbackInfo: { url: callback.url, strategy: callback.strategy },
    });
    if (secret !== undefined && (await postSigned(callback.url, 'application/json', body, secret))) {
      await campaigns.markCallback(accountId, bulkId, { notified: due, attempts: 0, next_attempt_at: 0 });
      return { pending: 0, nextAttemptAt: null };
    }
    const attempts = callback.attempts + 1;
    if (secret === undefined || attempts > 20) {
      await campaigns.markCallback(accountId, bulkId, { gave_up: 1, attempts });
      logger.error({ accountId, bulkId }, 'campaign callback abandoned');
      return { pending: 0, nextAttemptAt: null };
    }
    const next = now + pushBackoffMs(attempts);
    await campaigns.markCallback(accountId, bulkId, { attempts, next_attempt_at: next });
    return { pending: 1, nextAttemptAt: next };
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

  /**
   * Before finalizing unsent messages of a bulk (or group): revokes every dispatch lease over them and waits
   * until none of their submits can land any more; then what the provider holds was sent, not unsent.
   */
  async function resolveInDoubt(accountId: string, bulkId: string, groupIndex?: number): Promise<void> {
    const fenceUntil = await leases.revokeAll(accountId, bulkId, groupIndex, Date.now());
    if (fenceUntil > Date.now()) await waitUntil(fenceUntil + timing.clockMarginMs);
    await recoverInDoubt(accountId, await repo.inDoubt(accountId, bulkId, groupIndex));
  }

  /**
   * Hands the claimed messages to the provider, SUBMIT_LANES calls at a time, each with a deadline inside the
   * lease; records outcomes every RECORD_EVERY messages without holding up the submits.
   */
  async function submitClaimed(
    input: SendBatchInput,
    batch: string,
    toSend: DispatchRow[],
    lease: HeldLease,
    deadline: number,
    progress: (done: number) => void,
    onUnanswered: () => void,
    /**
     * The first attempt, which recovered nothing from an earlier batch: what it records is the batch's whole
     * outcome, so it is counted here rather than read back from the database.
     */
    countHere = false,
    /** The range's numbers that were opted out when it was claimed (read before an armed batch's wait), and when. */
    claimView: { numbers: ReadonlySet<string>; at: number } = { numbers: new Set(), at: Date.now() },
  ): Promise<Omit<SendBatchResult, 'recovered'>> {
    const { accountId, bulkId } = input;
    const ctx = Context.current();
    // Outcomes are written every RECORD_EVERY messages rather than per chunk: until written, the messages stay
    // SUBMITTING, which a retry resolves by lookup, so fewer writes cost nothing in safety.
    let nextChunk = 0;
    let outOfTime = false;
    // The first heartbeat only once the batch has worked a while: a thousand batches starting together send none.
    let lastBeat = Date.now();
    /** Set by the first lane (or write) that fails: the others stop before their next chunk. */
    let stopped = false;
    let unrecorded: SubmitRecord[] = [];
    const tally = { accepted: 0, refused: 0 };
    const intermediateWanted = toSend.some((r) => r.intermediate_report === 1);
    // Writes run while the lanes keep submitting; the batch ends only after every write has landed.
    const writes: Promise<void>[] = [];
    let writeFailure: unknown;
    // Aborts submits in flight: when the lease is lost, or the activity is cancelled for any reason but a pause
    // (timed out, workflow gone, worker shutting down). A pause lets them finish, so that once it is
    // acknowledged nothing more of the bulk reaches the provider.
    const abortInFlight = new AbortController();
    const onCancel = () => {
      const reason = (ctx.cancellationSignal.reason as Error | undefined)?.message;
      if (reason !== 'CANCELLED') abortInFlight.abort(ctx.cancellationSignal.reason);
    };
    ctx.cancellationSignal.addEventListener('abort', onCancel);
    lease.lostSignal.addEventListener('abort', () => abortInFlight.abort(lease.lostSignal.reason));
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
        const leaseGone = () => (lease.isLost ? new LeaseLostError('a later attempt took over this batch') : new Error('dispatch lease could not be extended'));
        if (lease.submitDeadline(now) === undefined) throw leaseGone();
        const from = nextChunk++ * SUBMIT_CHUNK;
        progress(from);
        const taken = toSend.slice(from, from + SUBMIT_CHUNK);
        // Numbers that opted out (a STOP may have come in since the bulk was accepted) go no further: refused here
        // as REJECTED_DND, never handed to the provider. What was opted out when the batch claimed its range, and
        // what was since (the process-wide view, at most RecentOptOuts.FRESH_MS old).
        // A batch that has lived almost as long as that view's window (waiting for a slot, say) reads its own again.
        if (Date.now() - claimView.at > RecentOptOuts.WINDOW_MS - 60_000) {
          claimView = { numbers: await optOuts.optedOut(accountId, toSend.map((r) => r.to_number)), at: Date.now() };
        }
        const lately = await recentOptOuts.numbers(accountId);
        const atClaim = claimView.numbers;
        const isBarred = (n: string) => atClaim.has(n) || lately.has(n);
        const chunk = atClaim.size === 0 && lately.size === 0 ? taken : taken.filter((r) => !isBarred(r.to_number));
        if (chunk.length < taken.length) {
          for (const row of taken) {
            if (!isBarred(row.to_number)) continue;
            tally.refused++;
            unrecorded.push({ messageId: row.message_id, rowKey: row.row_key, accepted: false, statusName: 'REJECTED_DND' });
          }
          if (chunk.length === 0) continue;
        }
        // The provider-wide cap (PROVIDER_MAX_TPS), shared with every other worker: wait for room, then stop if a
        // pause or cancel came meanwhile.
        if (throttle) {
          await throttle.acquire(chunk.length, abortInFlight.signal);
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure('dispatch batch cancelled');
        }
        // The deadline as of now: the waits above (opt-outs, the cap) are not the submit's to spend.
        const submitAt = Date.now();
        const submitBy = lease.submitDeadline(submitAt);
        if (submitBy === undefined) throw leaseGone();
        const signal = AbortSignal.any([abortInFlight.signal, AbortSignal.timeout(submitBy - submitAt)]);
        let outcomes: SubmitResult[];
        try {
          outcomes = await untilAborted(
            link.submit(
              chunk.map((r) => ({
                reference: messageReference(accountId, r.message_id),
                to: r.to_number,
                from: r.from_addr,
                text: r.text,
                flash: r.flash === 1,
                validityEndsAt: r.validity_ends_at,
                ...(r.language_code ? { languageCode: r.language_code as LanguageCode } : {}),
                ...(r.mms ? { mms: JSON.parse(r.mms) as OutboundSms['mms'] } : {}),
              })),
              { signal, deadline: submitBy },
            ),
            signal,
          );
        } catch (err) {
          // No answer: the provider may or may not hold these. They stay SUBMITTING (in doubt) for the next
          // attempt, which waits out this attempt's lease before it asks.
          onUnanswered();
          throw err;
        }
        // Refused as a duplicate of a message we submitted: the provider has it (an answer to an earlier
        // attempt got lost). It was sent, never rejected; its provider id comes from a lookup.
        const duplicates = outcomes.filter((o) => !o.accepted && o.status === 'REJECTED_DUPLICATE_MESSAGE_ID').map((o) => o.reference);
        const held = duplicates.length > 0 ? await provider.lookup(duplicates) : new Map<string, string>();
        outcomes.forEach((o, k) => {
          const row = chunk[k]!;
          if (!o.accepted && o.status === 'REJECTED_DUPLICATE_MESSAGE_ID') {
            const providerMessageId = held.get(o.reference);
            // Not found although refused as known: left in doubt rather than called rejected.
            if (!providerMessageId) return;
            unrecorded.push({ messageId: row.message_id, rowKey: row.row_key, accepted: true, providerMessageId, statusName: 'PENDING_ENROUTE' });
            tally.accepted++;
            return;
          }
          tally[o.accepted ? 'accepted' : 'refused']++;
          unrecorded.push({
            messageId: row.message_id,
            rowKey: row.row_key,
            accepted: o.accepted,
            providerMessageId: o.accepted ? o.providerMessageId : undefined,
            statusName: o.accepted ? 'PENDING_ENROUTE' : o.status,
            ...(!o.accepted && o.error ? { errorName: o.error } : {}),
          });
        });
        if (unrecorded.length >= RECORD_EVERY) flush();
      }
    };
    let lanes: PromiseSettledResult<void>[];
    try {
      lanes = await Promise.allSettled(
        Array.from({ length: submitLanes }, () =>
          lane().catch((err: unknown) => {
            stopped = true;
            throw err;
          }),
        ),
      );
    } finally {
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
    }
    // Also on cancel or failure: what did reach the provider is recorded, so pause/resume does not ask about it
    // again. (An answer that never came leaves its messages SUBMITTING, in doubt, for the next attempt.)
    if (unrecorded.length > 0) flush();
    await Promise.all(writes);
    // Messages no lane took never reached the provider: back to QUEUED, so no later batch has to ask about them.
    // Not once the lease is lost: the attempt that took over has claimed them.
    const handedOut = Math.min(nextChunk * SUBMIT_CHUNK, toSend.length);
    if (handedOut < toSend.length && !lease.isLost) {
      await repo.releaseClaims(accountId, bulkId, { ...input, fromSeq: toSend[handedOut]!.group_seq }, batch).catch((err: unknown) => {
        // Still SUBMITTING, they are merely in doubt: the next batch asks the provider before sending them.
        logger.warn({ accountId, bulkId, err: (err as Error).message }, 'could not release unsent claims');
      });
    }
    const failure = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failure) throw failure.reason;
    if (writeFailure) throw writeFailure;
    const outcome = countHere ? tally : await repo.batchOutcome(accountId, bulkId, input, batch);
    if (outOfTime && handedOut < toSend.length) {
      logger.info({ accountId, bulkId, unsent: toSend.length - handedOut }, 'dispatch batch stopped at its time limit');
    }
    return { submitted: outcome.accepted, rejected: outcome.refused, complete: handedOut === toSend.length };
  }

  async function recordState(accountId: string, bulkId: string, status: string, sendAt: number): Promise<void> {
    await repo.setBulkState(accountId, bulkId, status, sendAt);
    // Armed-batch rows matter until their batch's activity can no longer run (minutes): a day is plenty.
    if (FINAL_BULK_STATUSES.has(status as BulkStatus)) await armed.forgetBefore(Date.now() - 86_400_000);
  }

  /**
   * One batch attempt: fence, resolve what is in doubt, claim, submit. An armed batch (`armedFor`) does all but
   * the submit ahead of its due time, waits, and then fires: the due moment costs one statement before the
   * first submit (and that one shares its commit with every other batch due at the same moment).
   */
  async function sendRange(
    input: SendBatchInput,
    batch: string,
    range: LeaseRange,
    deadline: number,
    armedFor?: number,
  ): Promise<SendBatchResult> {
    const { accountId, bulkId, groupIndex } = input;
    const ctx = Context.current();
    const info = ctx.info;
    // Fencing: take this range's lease (revoking earlier attempts over any of it) and wait until none of their
    // submits can land any more. Only then is "in doubt" a settled question the provider can answer.
    const { lease, fenceUntil } = await HeldLease.acquire(leases, `${batch}#${info.attempt}`, batch, range, timing, armedFor);
    let done = 0;
    let timer: NodeJS.Timeout | undefined;
    const beat = () => {
      timer = setInterval(() => {
        ctx.heartbeat({ done });
        lease.tick();
      }, HEARTBEAT_TIMER_MS);
    };
    // An armed batch is silent until it fires (its heartbeat timeout covers the wait).
    if (armedFor === undefined) beat();
    /** Set when a submit ended without an answer: it may still land, so the lease must run out, not be released. */
    let unanswered = false;
    let slot = false;
    try {
      if (fenceUntil > Date.now()) {
        logger.info({ accountId, bulkId, waitMs: fenceUntil - Date.now() }, 'waiting until an earlier attempt can submit no more');
        await waitUntil(fenceUntil);
      }
      const rows = await repo.unsentInRange(accountId, bulkId, groupIndex, input.fromSeq, input.toSeq);
      const inDoubt = rows.filter((r) => r.state === 'SUBMITTING').map((r) => r.message_id);
      const found = await recoverInDoubt(accountId, inDoubt, batch);
      const recovered = found.size;
      let toSend: DispatchRow[] = found.size > 0 ? rows.filter((r) => !found.has(r.message_id)) : rows;
      if (inDoubt.length > 0) {
        logger.info({ accountId, bulkId, inDoubt: inDoubt.length, recovered }, 'resolved in-doubt messages');
      }

      // One claim for the whole range: after a crash, whatever is still SUBMITTING is resolved by lookup above.
      const claimed = await repo.claimRange(accountId, bulkId, groupIndex, input.fromSeq, input.toSeq, batch, Date.now());
      if (claimed !== toSend.length) {
        // Something else finalized part of the range meanwhile (a cancel or expiry): send only what is ours.
        const ours = new Set((await repo.unsentInRange(accountId, bulkId, groupIndex, input.fromSeq, input.toSeq)).map((r) => r.message_id));
        toSend = toSend.filter((r) => ours.has(r.message_id));
      }

      // Before an armed batch's wait, so that the due moment costs no query per batch (RecentOptOuts covers the
      // wait and the send; an armed wait is far shorter than its window).
      const claimView = { numbers: await optOuts.optedOut(accountId, toSend.map((r) => r.to_number)), at: Date.now() };
      if (armedFor !== undefined) {
        try {
          if (armedFor > Date.now()) await ctx.sleep(armedFor - Date.now());
        } catch (err) {
          // Stopped while armed (the worker shutting down): the claims go back, nothing is left in doubt.
          await repo.releaseClaims(accountId, bulkId, range, batch).catch(() => undefined);
          throw err;
        }
        // At the due time, not before: a pause or cancel up to that moment stops it (the batches due at the same
        // moment share the statement, see ArmedBatches.fire).
        const fired = await armed.fire(accountId, bulkId, batch, Date.now());
        if (fired === 'DISARMED') {
          await repo.releaseClaims(accountId, bulkId, range, batch);
          await lease.abandon();
          return { submitted: 0, rejected: 0, recovered: 0, complete: false, disarmed: true };
        }
        // Queued for a turn in silence too: a thousand batches due at once would otherwise heartbeat while they
        // wait, and the server would spend the due moment on heartbeats.
        if (toSend.length > SUBMIT_CHUNK) {
          await takeSlot(false);
          slot = true;
        }
        beat();
      }
      const first = info.attempt === 1 && recovered === 0;
      const result = await submitClaimed(input, batch, toSend, lease, deadline, (n) => (done = n), () => (unanswered = true), first, claimView);
      // Live delivery counts for the workflow; an armed batch ends moments after its due time, before any report.
      return { ...result, recovered, ...(armedFor === undefined ? await repo.deliveryOutcomes(accountId, bulkId) : {}) };
    } catch (err) {
      if (lease.isLost) throw new LeaseLostError(`batch ${batch}: a later attempt took over (${(err as Error).message})`);
      throw err;
    } finally {
      if (slot) sending.give();
      clearInterval(timer);
      if (!unanswered && !lease.isLost) {
        await lease.release().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not release dispatch lease'));
      }
    }
  }

  /**
   * This process's turn to read, claim and submit (SENDING_BATCHES at once); heartbeats while it waits, unless
   * the batch is an armed one (its heartbeat timeout covers the wait).
   */
  async function takeSlot(heartbeat = true): Promise<void> {
    const ctx = Context.current();
    const queued = heartbeat ? setInterval(() => ctx.heartbeat(), HEARTBEAT_TIMER_MS) : undefined;
    const turn = sending.take();
    try {
      await Promise.race([turn, ctx.cancelled]);
    } catch (err) {
      // Cancelled while queued: the turn, once it comes, is passed on at once.
      void turn.then(() => sending.give());
      throw err;
    } finally {
      clearInterval(queued);
    }
  }

  return {
    async sendBatch(input: SendBatchInput): Promise<SendBatchResult> {
      const { accountId, bulkId, groupIndex } = input;
      const ctx = Context.current();
      const info = ctx.info;
      // Counted on this process's clock from this attempt's start, less the time earlier attempts and retry
      // backoffs took (a difference of two server times): right in production, and under time skipping too.
      const elapsed = info.currentAttemptScheduledTimestampMs - info.scheduledTimestampMs;
      const deadline = input.stopAfterMs === undefined ? Infinity : Date.now() + input.stopAfterMs - elapsed;
      // The same for every attempt of this activity: what earlier attempts got accepted counts for this one.
      const batch = `${info.workflowExecution?.runId ?? 'standalone'}/${info.activityId}`;
      const range = { accountId, bulkId, groupIndex, fromSeq: input.fromSeq, toSeq: input.toSeq };

      if (input.startAfterMs !== undefined) {
        // Armed: prepared now, fired at the due time (a retry after a lost worker may find that time passed),
        // unless disarmed first — maybe before this attempt even started.
        if ((await armed.state(batch)) === 'DISARMED') return { submitted: 0, rejected: 0, recovered: 0, complete: false, disarmed: true };
        return sendRange(input, batch, range, deadline, Date.now() + input.startAfterMs - elapsed);
      }
      // Small batches cost little memory and share provider calls: they need no turn.
      if (input.toSeq - input.fromSeq <= SUBMIT_CHUNK) return sendRange(input, batch, range, deadline);
      await takeSlot();
      try {
        return await sendRange(input, batch, range, deadline);
      } finally {
        sending.give();
      }
    },

    /**
     * Disarms batches that were started ahead of their due time (a pause, cancel or reschedule came first).
     * Says for each whether it is DISARMED (it will send nothing; what it had claimed is QUEUED again) or already
     * FIRED (it is sending: stop it as any running batch).
     */
    async disarmBatches(input: {
      accountId: string;
      bulkId: string;
      batches: Array<{ id: string; groupIndex: number; fromSeq: number; toSeq: number }>;
    }): Promise<Record<string, ArmedState>> {
      const { accountId, bulkId } = input;
      const states = await armed.settle(accountId, bulkId, input.batches.map((b) => b.id), 'DISARMED', Date.now());
      for (const b of input.batches) {
        if (states.get(b.id) !== 'DISARMED') continue;
        await repo.releaseClaims(accountId, bulkId, b, b.id);
        await leases.releaseBatch(b.id);
      }
      return Object.fromEntries(states);
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
    async deliverReports(input: { accountId: string; bulkId: string; now: number; closeAs?: BulkStatus; sendAt?: number }): Promise<DeliverReportsResult> {
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
          const perRequest = contentType === ROUTEE_CALLBACK_TYPE ? 1 : REPORTS_PER_REQUEST;
          for (let i = 0; i < reports.length; i += perRequest) {
            Context.current().heartbeat();
            const chunk = reports.slice(i, i + perRequest);
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
      const progress = { ...result, ...(await repo.reportProgress(accountId, bulkId)) };
      const told = await tellCampaignProgress(accountId, bulkId, now, input.closeAs, secret);
      if (told.pending > 0) {
        progress.pending += told.pending;
        progress.nextAttemptAt = Math.min(progress.nextAttemptAt ?? Infinity, told.nextAttemptAt ?? Infinity);
      }
      // The last round of the bulk records its final status too: the workflow needs no activity for it.
      if (input.closeAs !== undefined && input.sendAt !== undefined && progress.notFinal === 0 && progress.pending === 0) {
        await recordState(accountId, bulkId, input.closeAs, input.sendAt);
        return { ...progress, closed: true };
      }
      return progress;
    },

    /** Submitted messages whose report never came within the wait after validity: EXPIRED_DLR_UNKNOWN. */
    async expireUnreported(input: { accountId: string; bulkId: string; now: number }): Promise<number> {
      await resolveInDoubt(input.accountId, input.bulkId);
      // Still in doubt after the fence and the lookup: the provider never took them.
      const neverSent = await repo.finalizeUnsent(input.accountId, input.bulkId, undefined, 'EXPIRED_EXPIRED', Date.now());
      return neverSent + (await repo.expireUnreported(input.accountId, input.bulkId, input.now));
    },

    /** The workflow is the authority on a bulk's state; the database keeps its final status for lists and logs. */
    async recordBulkState(input: { accountId: string; bulkId: string; status: string; sendAt: number }): Promise<void> {
      await recordState(input.accountId, input.bulkId, input.status, input.sendAt);
    },

    /** The bulk's counts from its messages, for a run that takes over from a terminated one. */
    async storedCounts(input: { accountId: string; bulkId: string }) {
      return repo.storedCounts(input.accountId, input.bulkId);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
