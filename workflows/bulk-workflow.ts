import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, SendBatchResult } from '../activities';
import { decideReschedule, decideStatusChange, type Decision, FINAL_BULK_STATUSES } from '../domain/bulk-control';
import { parseActorInput, parseRescheduleInput, parseStatusInput } from '../domain/control-input';
import { isWindowOpen, nextWindowOpening, windowClosesAt } from '../domain/delivery-window';
import { BulkStatusKey, SendAtKey } from '../temporal/search-attributes';
import {
  bulkStatusQuery,
  type BulkCounts,
  type BulkStatus,
  type BulkWorkflowInput,
  cancelSignal,
  type CarriedState,
  type ControlRecord,
  pauseSignal,
  type RequestedStatus,
  reportsArrivedSignal,
  rescheduleSignal,
  rescheduleUpdate,
  resumeSignal,
  type ScheduleGroup,
  type SendingSpeedLimit,
  setStatusUpdate,
} from './definitions';

const sendBatchOptions = {
  startToCloseTimeout: '2 minutes',
  // Short, so that a cancelled batch learns of it within a heartbeat (the worker throttles them to 100 ms).
  heartbeatTimeout: '10 seconds',
  // A pause is acknowledged only once the batch has really stopped submitting.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
} as const;

const { expireGroup, cancelUnsent, recordBulkState, batchOutcome, deliverReports, expireUnreported, storedCounts } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/**
 * Messages per sendBatch call. Each batch keeps several submits in flight itself (SUBMIT_LANES), so few large
 * batches keep the provider link busy; fewer batches mean fewer activity tasks for the Temporal server and
 * fewer pauses between batches (bench:dispatch: 10,000 measured 10–15% faster than 5000). The size does not
 * bound how late a batch sends: it stops by itself at its window's close or validity end (stopAfterMs).
 */
export const DISPATCH_BATCH = 10_000;
/** The batch size of workflows started before the 'dispatch-batch-10000' patch. */
const DISPATCH_BATCH_BEFORE_PATCH = 5000;
/**
 * The longest one batch hands messages to the provider before it returns what is left to the workflow: well
 * inside sendBatch's start-to-close timeout, however slow the provider link.
 */
export const BATCH_TIME_BUDGET_MS = 60_000;
/**
 * Batches of one bulk in flight at once (a sliding window, as in the batch-sliding-window sample). They work on
 * disjoint ranges of the group, so they never contend for a message. Two: one starts (reads and claims its
 * range) while the other submits.
 */
export const DISPATCH_CONCURRENCY = 2;
/** Well below the server's 50k-event limit, so a 1M-destination bulk keeps each run's history small. */
export const CONTINUE_AS_NEW_AFTER_EVENTS = 10_000;

/** How long after the last validity ends a bulk waits for delivery reports before EXPIRED_DLR_UNKNOWN. */
export const REPORT_WAIT_AFTER_VALIDITY_MS = 24 * 3_600_000;
/** Report polling backs off from 1 s to this while nothing changes. */
const REPORT_POLL_MAX_MS = 60_000;

const UNIT_MS = { MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 } as const;

/**
 * How many messages the sliding-window speed limit allows now, and when more will be allowed. `inFlight`
 * counts batches that have started and not finished: they may send their whole range.
 */
export function speedAllowance(
  limit: SendingSpeedLimit | undefined,
  sendLog: CarriedState['sendLog'],
  now: number,
  inFlight = 0,
): { allowed: number; nextAt: number } {
  if (!limit) return { allowed: Infinity, nextAt: now };
  const unit = UNIT_MS[limit.timeUnit];
  const recent = sendLog.filter((e) => e.at > now - unit);
  const used = recent.reduce((sum, e) => sum + e.count, 0) + inFlight;
  const allowed = Math.max(0, limit.amount - used);
  const oldest = recent[0];
  return { allowed, nextAt: allowed > 0 || !oldest ? now : oldest.at + unit };
}

const REPORTING_REFUSAL: Decision<never> = {
  ok: false,
  reason: 'every message of the bulk was handed to the provider; it only awaits delivery reports',
};

/** Throws the refusal (in an update's validator or handler, where throwing refuses the update, not the task). */
function accept<T>(decision: Decision<T>): T {
  if (!decision.ok) throw ApplicationFailure.nonRetryable(decision.reason, 'TransitionRefused');
  return decision.value;
}

interface Batch {
  group: number;
  size: number;
  scope: CancellationScope;
  done: Promise<void>;
}

export async function bulkWorkflow(input: BulkWorkflowInput): Promise<BulkCounts> {
  const { accountId, bulkId, speedLimit } = input;
  const batchSize = input.tuning?.batchSize ?? (patched('dispatch-batch-10000') ? DISPATCH_BATCH : DISPATCH_BATCH_BEFORE_PATCH);
  /**
   * Batches stop when their group's window closes, its validity ends or their time budget is spent, and hand
   * back what they did not reach (as do paused batches); without the patch, a batch ran its range to the end.
   */
  const timeLimits = patched('batch-time-limits');
  /** Between report rounds, wake early when the worker says reports arrived (reportsArrivedSignal). */
  const reportNudges = patched('report-nudges');
  const concurrency = input.tuning?.concurrency ?? DISPATCH_CONCURRENCY;
  const historyLimit = input.tuning?.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS;
  const batchTimeBudget = input.tuning?.batchTimeBudgetMs ?? BATCH_TIME_BUDGET_MS;
  const carried = input.carried;

  // ---- state ----
  const groups: ScheduleGroup[] = input.groups.map((g) => ({ ...g, ...carried?.schedule[g.index] }));
  const done = new Set<number>(carried?.doneGroups ?? []);
  /** Per group, the first group_seq not yet handed to a batch. */
  const nextSeq = new Map<number, number>(Object.entries(carried?.nextSeq ?? {}).map(([k, v]) => [Number(k), v]));
  /** Per group, ranges handed back unfinished: sent before new ranges, and never overlapping a running batch. */
  const leftovers = new Map<number, Array<[number, number]>>(
    Object.entries(carried?.leftovers ?? {}).map(([k, v]) => [Number(k), v.map(([from, to]) => [from, to] as [number, number])]),
  );
  const counts: BulkCounts = carried?.counts ?? {
    total: groups.reduce((n, g) => n + g.messageCount, 0),
    sent: 0,
    rejected: 0,
    expired: 0,
    canceled: 0,
    delivered: 0,
    failed: 0,
  };
  let sendLog = carried?.sendLog ?? [];
  let status: BulkStatus = carried?.status ?? 'PENDING';
  let everSent = carried?.everSent ?? false;
  const controlLog: ControlRecord[] = carried?.controlLog ?? [];
  /** Everything was handed to the provider (or finalized): only reports are awaited and pushed now. */
  let reporting = carried?.reporting ?? false;
  const reportWait = input.tuning?.reportWaitMs ?? REPORT_WAIT_AFTER_VALIDITY_MS;
  const inFlight: Batch[] = [];
  /** Bumped by every control action and finished batch: what the main loop waits on. */
  let changes = 0;

  /** Report pushes still owed (retried with backoff) once every message is final. */
  let pushesOwed = 0;
  /** A bulk of which nothing could be sent because validity ran out ends EXPIRED rather than FINISHED. */
  const closingStatus = (): BulkStatus =>
    status === 'CANCELED'
      ? 'CANCELED'
      : counts.sent === 0 && counts.expired > 0 && counts.expired + counts.rejected === counts.total
        ? 'EXPIRED'
        : 'FINISHED';
  const inFlightSize = () => inFlight.reduce((n, b) => n + b.size, 0);
  const firstSendAt = () => Math.min(...groups.map((g) => g.sendAt));

  function setStatus(next: BulkStatus): void {
    if (next === status) return;
    status = next;
    upsertSearchAttributes([{ key: BulkStatusKey, value: next }]);
    changes++;
  }

  // ---- control: one transition function for Updates (API) and Signals (operators) ----
  async function stopInFlight(): Promise<void> {
    for (const batch of inFlight) batch.scope.cancel();
    await Promise.all(inFlight.map((b) => b.done));
  }

  async function applyStatus(requested: RequestedStatus, by: string, via: ControlRecord['via']): Promise<BulkStatus> {
    const from = status;
    controlLog.push({ action: 'status', by, at: Date.now(), from, to: requested, via });
    log.info('bulk status change', { bulkId, from, to: requested, by, via });
    if (requested === 'PENDING') {
      setStatus(everSent ? 'PROCESSING' : 'PENDING');
      return 'PENDING';
    }
    setStatus(requested);
    // Answer only after every batch has stopped: from then on nothing of this bulk reaches the provider.
    await stopInFlight();
    return requested;
  }

  function applyReschedule(sendAt: number, by: string, via: ControlRecord['via']): number {
    for (const g of groups) {
      const validity = g.validityEndsAt - g.sendAt;
      g.sendAt = sendAt;
      g.validityEndsAt = sendAt + validity;
    }
    controlLog.push({ action: 'reschedule', by, at: Date.now(), from: status, to: new Date(sendAt).toISOString(), via });
    upsertSearchAttributes([{ key: SendAtKey, value: new Date(sendAt) }]);
    changes++;
    return sendAt;
  }

  // Once everything was handed to the provider there is nothing left to steer; a final status says so itself.
  const awaitingReports = () => reporting && !FINAL_BULK_STATUSES.has(status);
  const statusDecision = (requested: RequestedStatus) =>
    awaitingReports() ? REPORTING_REFUSAL : decideStatusChange(status, requested);
  const rescheduleDecision = (sendAt: number) =>
    awaitingReports()
      ? REPORTING_REFUSAL
      : decideReschedule(
          status,
          groups.filter((g) => !done.has(g.index)).map((g) => g.sendAt),
          sendAt,
          Date.now(),
        );

  // Inputs are parsed before anything else: an operator may send anything from the UI, and a handler that threw
  // would fail the workflow task on every retry (the bulk wedged for good).
  setHandler(
    setStatusUpdate,
    async (arg) => {
      const { status: requested, by } = accept(parseStatusInput(arg));
      const applied = await applyStatus(accept(statusDecision(requested)), by ?? 'api', 'update');
      return { bulkId, status: applied };
    },
    {
      validator: (arg) => {
        const { status: requested } = accept(parseStatusInput(arg));
        accept(statusDecision(requested));
      },
    },
  );
  setHandler(
    rescheduleUpdate,
    (arg) => {
      const { sendAt, by } = accept(parseRescheduleInput(arg));
      return { bulkId, sendAt: applyReschedule(accept(rescheduleDecision(sendAt)), by ?? 'api', 'update') };
    },
    { validator: (arg) => void accept(rescheduleDecision(accept(parseRescheduleInput(arg)).sendAt)) },
  );

  /** A refused signal changes nothing, but stays visible: in the log and in the control log the query shows. */
  function refuse(action: ControlRecord['action'], to: string, by: string | undefined, reason: string, via: ControlRecord['via'] = 'signal'): void {
    log.warn('refused control signal', { bulkId, action, to, reason });
    controlLog.push({ action, by: by ?? 'operator', at: Date.now(), from: status, to, via, refused: reason });
  }

  function signalled(requested: RequestedStatus, arg: unknown, via: ControlRecord['via'] = 'signal'): void {
    const input = parseActorInput(arg);
    if (!input.ok) return refuse('status', requested, undefined, `bad input: ${input.reason}`, via);
    const decision = statusDecision(requested);
    if (!decision.ok) return refuse('status', requested, input.value.by, decision.reason, via);
    void applyStatus(decision.value, input.value.by ?? 'operator', via);
  }
  setHandler(pauseSignal, (arg?: unknown) => signalled('PAUSED', arg));
  setHandler(resumeSignal, (arg?: unknown) => signalled('PENDING', arg));
  setHandler(cancelSignal, (arg?: unknown) => signalled('CANCELED', arg));
  setHandler(rescheduleSignal, (arg?: unknown) => {
    const input = parseRescheduleInput(arg);
    if (!input.ok) return refuse('reschedule', 'invalid', undefined, `bad input: ${input.reason}`);
    const decision = rescheduleDecision(input.value.sendAt);
    if (!decision.ok) return refuse('reschedule', new Date(input.value.sendAt).toISOString(), input.value.by, decision.reason);
    applyReschedule(decision.value, input.value.by ?? 'operator', 'signal');
  });

  let reportsArrived = false;
  setHandler(reportsArrivedSignal, () => {
    reportsArrived = true;
  });

  setHandler(bulkStatusQuery, () => ({
    bulkId,
    status,
    sendAt: firstSendAt(),
    counts: { ...counts },
    controlLog: [...controlLog],
    pushesOwed,
  }));

  // A Temporal cancellation request (the UI's "Request Cancellation", `temporal workflow cancel`) is a cancel like
  // any other. The body runs in a non-cancellable scope, so the request interrupts nothing by itself; it goes
  // through the same transition as the API's (refused, and logged, once everything was handed to the provider),
  // and the workflow then closes normally with the bulk CANCELED.
  CancellationScope.current().cancelRequested.catch(() => signalled('CANCELED', undefined, 'cancellation'));
  return CancellationScope.nonCancellable(run);

  /**
   * The previous run of this bulk was terminated, timed out or failed (the reconciler found it): finish the bulk
   * as canceled. What was handed to the provider keeps its reports; nothing more is sent.
   */
  async function takeOver(recovery: NonNullable<BulkWorkflowInput['recovery']>): Promise<void> {
    // CANCELED before anything is awaited, so that the first query of this run already tells the truth.
    controlLog.push({ action: 'status', by: 'reconciler', at: Date.now(), from: status, to: 'CANCELED', via: 'reconciler', reason: recovery.reason });
    log.warn('bulk taken over after its previous run closed abnormally', { bulkId, ...recovery });
    setStatus('CANCELED');
    Object.assign(counts, await storedCounts({ accountId, bulkId }));
    everSent = counts.sent > 0;
  }

  async function run(): Promise<BulkCounts> {
    if (input.recovery && !carried) await takeOver(input.recovery);
    // ---- dispatch ----
    let launched = 0;
    function launch(group: ScheduleGroup, fromSeq: number, toSeq: number): void {
      const scope = new CancellationScope();
      // Our own activity id, so that a cancelled batch's outcome can still be counted (the activity tags the
      // messages it submits with runId/activityId).
      const activityId = `batch-${group.index}-${fromSeq}-${++launched}`;
      const now = Date.now();
      const stopAt = Math.min(windowClosesAt(group.window, now), group.validityEndsAt, now + batchTimeBudget);
      const range = { accountId, bulkId, groupIndex: group.index, fromSeq, toSeq, ...(timeLimits ? { stopAfterMs: Math.max(0, stopAt - now) } : {}) };
      const { sendBatch } = proxyActivities<Activities>({ ...sendBatchOptions, activityId });
      const batch: Batch = {
        group: group.index,
        size: toSeq - fromSeq,
        scope,
        done: scope
          .run(() => sendBatch(range))
          .then(
            (result: SendBatchResult) => {
              counts.sent += result.submitted;
              counts.rejected += result.rejected;
              // Stamped at the end, so the next unit starts after the batch's last message really went out.
              if (speedLimit) sendLog = [...sendLog, { at: Date.now(), count: result.submitted + result.rejected }];
              // Stopped at its time limit: the rest of the range waits for the next opening (or expires).
              if (result.complete === false) handBack(group.index, fromSeq, toSeq);
            },
            async (err: unknown) => {
              if (!isCancellation(err)) throw err;
              // Stopped by a pause or cancel: count what it did submit, and hand the range back to be sent (or
              // canceled) later; the next batch over it skips what was sent and resolves anything in doubt.
              const partial = await CancellationScope.nonCancellable(() =>
                batchOutcome({ ...range, batch: `${workflowInfo().runId}/${activityId}` }),
              );
              counts.sent += partial.submitted;
              counts.rejected += partial.rejected;
              if (timeLimits) handBack(group.index, fromSeq, toSeq);
              else nextSeq.set(group.index, Math.min(nextSeq.get(group.index) ?? fromSeq, fromSeq));
            },
          )
          .finally(() => {
            inFlight.splice(inFlight.indexOf(batch), 1);
            changes++;
          }),
      };
      inFlight.push(batch);
      everSent = true;
    }

    /** A batch's range goes back to be sent later; the next batch over it skips what was sent. */
    function handBack(groupIndex: number, fromSeq: number, toSeq: number): void {
      leftovers.set(groupIndex, [...(leftovers.get(groupIndex) ?? []), [fromSeq, toSeq]]);
    }

    const hasLeftovers = (g: ScheduleGroup) => (leftovers.get(g.index)?.length ?? 0) > 0;
    const hasUnsent = (g: ScheduleGroup) => (nextSeq.get(g.index) ?? 0) < g.messageCount || hasLeftovers(g);

    /** The next range of a group to send, at most `size` long: handed-back ranges first, then new ones. */
    function takeRange(group: ScheduleGroup, size: number): [number, number] | undefined {
      const back = leftovers.get(group.index);
      if (back && back.length > 0) {
        const [from, to] = back[0]!;
        if (to - from <= size) return back.shift();
        back[0] = [from + size, to];
        return [from, from + size];
      }
      const from = nextSeq.get(group.index) ?? 0;
      if (from >= group.messageCount) return undefined;
      const to = Math.min(group.messageCount, from + size);
      nextSeq.set(group.index, to);
      return [from, to];
    }

    /**
     * The first batches of a run are staggered (1/n, 2/n … of the batch size), so batches in flight finish at
     * different times: while one reads and claims its next range, the others keep submitting.
     */
    const staggered = patched('staggered-first-batches');
    const batchSizeFor = (alreadyLaunched: number) =>
      staggered && alreadyLaunched < concurrency
        ? Math.max(1, Math.floor((batchSize * (alreadyLaunched + 1)) / concurrency))
        : batchSize;

    const groupBusy = (g: ScheduleGroup) => inFlight.some((b) => b.group === g.index);
    const historyFull = () => {
      const info = workflowInfo();
      return info.continueAsNewSuggested || info.historyLength >= historyLimit;
    };

    const carryOver = (): CarriedState => {
      const unit = speedLimit ? UNIT_MS[speedLimit.timeUnit] : 0;
      const now = Date.now();
      return {
        status,
        everSent,
        reporting,
        schedule: Object.fromEntries(groups.map((g) => [g.index, { sendAt: g.sendAt, validityEndsAt: g.validityEndsAt }])),
        controlLog: controlLog.slice(-100),
        doneGroups: [...done],
        nextSeq: Object.fromEntries(nextSeq),
        leftovers: Object.fromEntries(leftovers),
        counts,
        sendLog: sendLog.filter((e) => e.at > now - unit),
      };
    };

    while (!reporting && !FINAL_BULK_STATUSES.has(status)) {
      const open = groups.filter((g) => !done.has(g.index));
      if (open.length === 0) break;
      // Once history is large, start nothing new: drain the batches in flight, then continue as new.
      const draining = historyFull();
      const seen = changes;

      for (const group of open) {
        const now = Date.now();
        if (!hasUnsent(group)) {
          // Everything handed out: the group is done once its last batches have finished.
          if (!groupBusy(group)) {
            done.add(group.index);
            changes++;
          }
          continue;
        }
        if (now >= group.validityEndsAt) {
          // Validity keeps running while paused. Running batches finish first; what they did not reach expired.
          if (groupBusy(group)) continue;
          counts.expired += await expireGroup({ accountId, bulkId, groupIndex: group.index });
          leftovers.delete(group.index);
          done.add(group.index);
          changes++;
          continue;
        }
        if (draining || status === 'PAUSED' || now < group.sendAt || !isWindowOpen(group.window, now)) continue;
        while (inFlight.length < concurrency && (status === 'PENDING' || status === 'PROCESSING')) {
          if (!hasUnsent(group)) break;
          const { allowed } = speedAllowance(speedLimit, sendLog, now, inFlightSize());
          if (allowed === 0) break;
          const [from, to] = takeRange(group, Math.min(batchSizeFor(launched), allowed))!;
          setStatus('PROCESSING');
          launch(group, from, to);
          changes++;
        }
      }

      if (inFlight.length === 0 && historyFull() && !FINAL_BULK_STATUSES.has(status)) {
        await continueAsNew<typeof bulkWorkflow>({ ...input, carried: carryOver() });
      }
      if (changes !== seen) continue;

      // Nothing to do right now: sleep durably until a batch finishes, an operator acts, or a group needs attention.
      const now = Date.now();
      const speedFreeAt = speedAllowance(speedLimit, sendLog, now, inFlightSize()).nextAt;
      const waiting = groups.filter((g) => !done.has(g.index) && hasUnsent(g));
      const wakeAt = Math.min(
        ...waiting.map((g) =>
          status === 'PAUSED'
            ? g.validityEndsAt
            : Math.min(nextWindowOpening(g.window, Math.max(now, g.sendAt, speedFreeAt)), g.validityEndsAt),
        ),
      );
      if (inFlight.length > 0 || wakeAt === Infinity) {
        // No timer while batches run: they take seconds, and every due time is re-checked when one finishes.
        // (A timer here could also be started and cancelled in one activation, which the Java test server
        // rejects with "invalid history builder state".)
        await condition(() => changes !== seen);
      } else if (wakeAt > now) {
        await condition(() => changes !== seen, wakeAt - now);
      }
    }

    if (!reporting) {
      if (status === 'CANCELED') {
        await stopInFlight();
        counts.canceled += await cancelUnsent({ accountId, bulkId });
      }
      reporting = true;
    }

    // Every message has left our hands or was finalized: wait for the last delivery reports and push every
    // report to its notifyUrl (retried with backoff, durably: the outbox is in the database).
    const reportDeadline = Math.max(...groups.map((g) => g.validityEndsAt)) + reportWait;
    let idleMs = 1000;
    for (;;) {
      // Reports arriving while this round runs leave the flag set for the wait after it.
      reportsArrived = false;
      const r = await deliverReports({ accountId, bulkId, now: Date.now() });
      counts.delivered = r.delivered;
      counts.failed = r.failed;
      pushesOwed = r.pending;
      if (r.notFinal === 0 && r.pending === 0) break;
      if (r.notFinal === 0 && !FINAL_BULK_STATUSES.has(status)) {
        // Every message is final: the bulk is done for its client (API and BulkStatus), while the pushes it still
        // owes to an unreachable notifyUrl are retried (the query shows how many).
        setStatus(closingStatus());
        await recordBulkState({ accountId, bulkId, status, sendAt: firstSendAt() });
      }
      if (r.notFinal > 0 && Date.now() >= reportDeadline) {
        counts.expired += await expireUnreported({ accountId, bulkId, now: Date.now() });
        continue;
      }
      if (historyFull()) await continueAsNew<typeof bulkWorkflow>({ ...input, carried: carryOver() });
      idleMs = r.pushed > 0 ? 1000 : Math.min(idleMs * 2, REPORT_POLL_MAX_MS);
      const now = Date.now();
      let wakeAt = now + idleMs;
      if (r.nextAttemptAt !== null) wakeAt = Math.min(wakeAt, Math.max(r.nextAttemptAt, now + 1000));
      if (r.notFinal > 0) wakeAt = Math.min(wakeAt, Math.max(reportDeadline, now + 1000));
      if (!reportNudges) await sleep(wakeAt - now);
      // Already nudged: no timer at all (one started and cancelled in the same activation is best avoided).
      else if (!reportsArrived) await condition(() => reportsArrived, wakeAt - now);
    }

    if (status !== 'CANCELED') setStatus(closingStatus());
    await recordBulkState({ accountId, bulkId, status, sendAt: firstSendAt() });
    log.info('bulk closed', { bulkId, status, ...counts });
    return counts;
  }
}
