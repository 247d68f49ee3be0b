import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, SendBatchResult } from '../activities';
import { decideReschedule, decideStatusChange, type Decision, FINAL_BULK_STATUSES } from '../domain/bulk-control';
import { parseActorInput, parseRescheduleInput, parseStatusInput } from '../domain/control-input';
import { formatCount, formatInstant, formatWindowOpening, isoInstant, toMillis } from '../domain/labels';
import { isWindowOpen, nextWindowOpening, windowClosesAt } from '../domain/delivery-window';
import { BulkStatusKey, SendAtKey } from '../temporal/search-attributes';
import {
  ARMED_DISPATCH_VERSION,
  ARM_LEAD_MS,
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

const activityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
} as const;

/** The activities, each call labelled for the Temporal UI ("cancel unsent messages"). */
const labelled = (summary: string) => proxyActivities<Activities>({ ...activityOptions, summary });

/**
 * Messages per sendBatch call. Each batch keeps several submits in flight itself (SUBMIT_LANES), so few large
 * batches keep the provider link busy; fewer batches mean fewer activity tasks for the Temporal server and
 * fewer pauses between batches (bench:dispatch: 10,000 measured 10–15% faster than 5000). The size does not
 * bound how late a batch sends: it stops by itself at its window's close or validity end (stopAfterMs).
 */
export const DISPATCH_BATCH = 10_000;
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

/** An armed batch holds at most this many messages: it ends soon after the due time and the next batches follow. */
export const ARMED_BATCH_MAX = 2000;

/** How long after the last validity ends a bulk waits for delivery reports before EXPIRED_DLR_UNKNOWN. */
export const REPORT_WAIT_AFTER_VALIDITY_MS = 24 * 3_600_000;
/** The first report poll after sending, when no report has come yet (a nudge wakes the bulk sooner). */
const REPORT_FIRST_POLL_MS = 5000;
/** Report polling backs off from 1 s to this while nothing changes. */
const REPORT_POLL_MAX_MS = 60_000;

/** A number in [0, 1) from a string: 32-bit FNV-1a. */
function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 2 ** 32;
}

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
  /** `<runId>/<activityId>`, as the activity and the database name it. */
  id: string;
  group: number;
  from: number;
  to: number;
  size: number;
  scope: CancellationScope;
  done: Promise<void>;
  /** Armed and not yet known to have fired: its due time. */
  armedFor?: number;
  /** Disarmed: its range went back to be sent later, and whatever its activity reports is ignored. */
  detached?: boolean;
}

export async function bulkWorkflow(input: BulkWorkflowInput): Promise<BulkCounts> {
  const { accountId, bulkId, speedLimit } = input;
  const batchSize = input.tuning?.batchSize ?? DISPATCH_BATCH;
  const concurrency = input.tuning?.concurrency ?? DISPATCH_CONCURRENCY;
  const historyLimit = input.tuning?.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS;
  const batchTimeBudget = input.tuning?.batchTimeBudgetMs ?? BATCH_TIME_BUDGET_MS;
  const carried = input.carried;
  // Bulks stored before armed dispatch existed run (and replay) as they were recorded: no arming, a report
  // round at once, cancellable report timers. Versioned by input rather than patched(): no marker, and no
  // TemporalChangeVersion search attribute to write, in the history of every bulk.
  const armedDispatch = (input.dispatchVersion ?? 1) >= ARMED_DISPATCH_VERSION;
  const [armMin, armMax] = input.tuning?.armLeadMs ?? ARM_LEAD_MS;
  // Drawn from the workflow id (FNV-1a): the same on every replay, spread evenly over many bulks.
  const armLead = armedDispatch ? armMin + unitHash(workflowInfo().workflowId) * Math.max(0, armMax - armMin) : 0;

  // ---- state ----
  // Dates arrive as ISO-8601 strings (epoch milliseconds from older inputs are read too); inside, they are millis.
  const groups: ScheduleGroup[] = input.groups.map((g) => {
    const schedule = carried?.schedule[g.index];
    return {
      ...g,
      sendAt: toMillis(schedule?.sendAt ?? g.sendAt),
      validityEndsAt: toMillis(schedule?.validityEndsAt ?? g.validityEndsAt),
    };
  });
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

  /** What the bulk waits for, in words: the query shows it, and so do its current details in the UI. */
  let waitingFor: string | undefined;

  /** The bulk's current details in the Temporal UI: status, progress and what it waits for. */
  function showDetails(why: string | undefined): void {
    waitingFor = why;
    const progress = `sent ${formatCount(counts.sent)} · delivered ${formatCount(counts.delivered)} · failed ${formatCount(counts.failed)} of ${formatCount(counts.total)}`;
    const extra = [
      counts.rejected > 0 ? `rejected ${formatCount(counts.rejected)}` : '',
      counts.expired > 0 ? `expired ${formatCount(counts.expired)}` : '',
      counts.canceled > 0 ? `canceled ${formatCount(counts.canceled)}` : '',
      pushesOwed > 0 ? `report pushes owed ${formatCount(pushesOwed)}` : '',
    ].filter(Boolean);
    setCurrentDetails(
      [`**${status}** · ${progress}${extra.length > 0 ? ` · ${extra.join(' · ')}` : ''}`, ...(why ? [`Waiting for: ${why}`] : [])].join('\n\n'),
    );
  }

  /** When a group needs attention next, and why: its send time, its window, the speed limit, or its validity. */
  function nextWake(g: ScheduleGroup, now: number, speedFreeAt: number): { at: number; why: string } {
    const wake = dueWake(g, now, speedFreeAt);
    // The same reason, but woken the arming lead ahead: the first batch then waits for that moment in the worker.
    const due = armableDue(g, now);
    return due !== undefined && due === wake.at ? { at: Math.max(now, due - armLead), why: wake.why } : wake;
  }

  function dueWake(g: ScheduleGroup, now: number, speedFreeAt: number): { at: number; why: string } {
    const validity = { at: g.validityEndsAt, why: `validity ends ${formatInstant(g.validityEndsAt)}` };
    if (status === 'PAUSED') return { at: validity.at, why: `resume (paused; ${validity.why})` };
    const base = Math.max(now, g.sendAt, speedFreeAt);
    const opens = nextWindowOpening(g.window, base);
    if (opens >= validity.at) return validity;
    if (opens > base) return { at: opens, why: `window opens ${formatWindowOpening(g.window, opens)}` };
    if (base === g.sendAt && g.sendAt > now) return { at: base, why: `sendAt ${formatInstant(g.sendAt)}` };
    if (speedLimit && base === speedFreeAt) return { at: base, why: `speed limit: next ${formatCount(speedLimit.amount)} at ${formatInstant(base)}` };
    return { at: base, why: 'the next batch' };
  }

  /**
   * When the group's next batch could be armed for — its send time or its window's opening — if it can be armed
   * now: arming is on, the bulk runs, a batch slot is free and the speed limit allows messages at that time.
   */
  function armableDue(g: ScheduleGroup, now: number): number | undefined {
    if (armLead <= 0 || (status !== 'PENDING' && status !== 'PROCESSING') || inFlight.length >= concurrency || historyFull()) return undefined;
    const due = nextWindowOpening(g.window, Math.max(now, g.sendAt));
    if (due <= now || due >= g.validityEndsAt) return undefined;
    return speedAllowance(speedLimit, sendLog, due, inFlightSize()).allowed > 0 ? due : undefined;
  }

  function historyFull(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= historyLimit;
  }

  function setStatus(next: BulkStatus): void {
    if (next === status) return;
    status = next;
    upsertSearchAttributes([{ key: BulkStatusKey, value: next }]);
    changes++;
  }

  // ---- control: one transition function for Updates (API) and Signals (operators) ----
  async function stopInFlight(): Promise<void> {
    await disarm();
    for (const batch of inFlight) batch.scope.cancel();
    await Promise.all(inFlight.map((b) => b.done));
  }

  /**
   * Disarms the batches armed for a due time (and not yet known to have fired). Each disarmed one sends nothing:
   * its range goes back at once. One that fired already is a running batch like any other. True when no armed
   * batch had fired.
   */
  async function disarm(): Promise<boolean> {
    const armed = inFlight.filter((b) => b.armedFor !== undefined);
    if (armed.length === 0) return true;
    const states = await labelled('disarm batches armed ahead of their due time').disarmBatches({
      accountId,
      bulkId,
      batches: armed.map((b) => ({ id: b.id, groupIndex: b.group, fromSeq: b.from, toSeq: b.to })),
    });
    let fired = 0;
    for (const b of armed) {
      if (b.detached || b.armedFor === undefined) continue;
      if (states[b.id] === 'DISARMED') detach(b);
      else {
        b.armedFor = undefined;
        fired++;
      }
    }
    return fired === 0;
  }

  /** A disarmed batch leaves the books: its range is handed back, its activity's outcome is ignored. */
  function detach(b: Batch): void {
    b.detached = true;
    b.armedFor = undefined;
    b.scope.cancel();
    inFlight.splice(inFlight.indexOf(b), 1);
    leftovers.set(b.group, [...(leftovers.get(b.group) ?? []), [b.from, b.to]]);
    changes++;
  }

  async function applyStatus(requested: RequestedStatus, by: string, via: ControlRecord['via']): Promise<BulkStatus> {
    const from = status;
    controlLog.push({ action: 'status', by, at: isoInstant(Date.now()), from, to: requested, via });
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
    controlLog.push({ action: 'reschedule', by, at: isoInstant(Date.now()), from: status, to: isoInstant(sendAt), via });
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
      description: 'The API\'s status change: {"status": "PENDING" | "PAUSED" | "CANCELED", "by"?: name}. Answered once applied (after a pause or cancel, nothing more is sent).',
    },
  );
  const STARTED_SENDING = 'the bulk started sending at its send time before the reschedule came';
  setHandler(
    rescheduleUpdate,
    async (arg) => {
      const { sendAt, by } = accept(parseRescheduleInput(arg));
      accept(rescheduleDecision(sendAt));
      // A batch armed for the old time must not go off: disarmed first (or, if it already went, refused).
      if (!(await disarm())) accept<never>({ ok: false, reason: STARTED_SENDING });
      return { bulkId, sendAt: isoInstant(applyReschedule(accept(rescheduleDecision(sendAt)), by ?? 'api', 'update')) };
    },
    {
      validator: (arg) => void accept(rescheduleDecision(accept(parseRescheduleInput(arg)).sendAt)),
      description: 'The API\'s reschedule: {"sendAt": ISO-8601 with zone, "by"?: name}; PENDING or PAUSED bulks with one send time, at most 180 days ahead.',
    },
  );

  /** A refused signal changes nothing, but stays visible: in the log and in the control log the query shows. */
  function refuse(action: ControlRecord['action'], to: string, by: string | undefined, reason: string, via: ControlRecord['via'] = 'signal'): void {
    log.warn('refused control signal', { bulkId, action, to, reason });
    controlLog.push({ action, by: by ?? 'operator', at: isoInstant(Date.now()), from: status, to, via, refused: reason });
  }

  function signalled(requested: RequestedStatus, arg: unknown, via: ControlRecord['via'] = 'signal'): void {
    const input = parseActorInput(arg);
    if (!input.ok) return refuse('status', requested, undefined, `bad input: ${input.reason}`, via);
    const decision = statusDecision(requested);
    if (!decision.ok) return refuse('status', requested, input.value.by, decision.reason, via);
    void applyStatus(decision.value, input.value.by ?? 'operator', via);
  }
  const actorHelp = 'Input: none, or {"by": "your name"}. Refused input or transitions are recorded in the control log.';
  setHandler(pauseSignal, (arg?: unknown) => signalled('PAUSED', arg), { description: `Pause: nothing more is sent until resumed (validity keeps running). ${actorHelp}` });
  setHandler(resumeSignal, (arg?: unknown) => signalled('PENDING', arg), { description: `Resume a paused bulk. ${actorHelp}` });
  setHandler(cancelSignal, (arg?: unknown) => signalled('CANCELED', arg), {
    description: `Cancel: unsent messages end REJECTED_CANCELED and are reported; final. ${actorHelp}`,
  });
  const rescheduleHelp =
    'Move the send time: {"sendAt": "2027-01-15T09:00:00Z", "by"?: name} (ISO-8601 with zone, at most 180 days ahead; PENDING or PAUSED bulks with one send time).';
  setHandler(rescheduleSignal, (arg?: unknown) => {
    const input = parseRescheduleInput(arg);
    if (!input.ok) return refuse('reschedule', 'invalid', undefined, `bad input: ${input.reason}`);
    const decision = rescheduleDecision(input.value.sendAt);
    if (!decision.ok) return refuse('reschedule', isoInstant(input.value.sendAt), input.value.by, decision.reason);
    if (!inFlight.some((b) => b.armedFor !== undefined)) return void applyReschedule(decision.value, input.value.by ?? 'operator', 'signal');
    void disarm().then((none) => {
      const again = rescheduleDecision(input.value.sendAt);
      if (!none) refuse('reschedule', isoInstant(input.value.sendAt), input.value.by, STARTED_SENDING);
      else if (!again.ok) refuse('reschedule', isoInstant(input.value.sendAt), input.value.by, again.reason);
      else applyReschedule(again.value, input.value.by ?? 'operator', 'signal');
    });
  }, { description: rescheduleHelp });

  let reportsArrived = false;
  setHandler(
    reportsArrivedSignal,
    () => {
      reportsArrived = true;
    },
    { description: 'Internal, sent by the worker when delivery reports of this bulk arrived: not an operator action. Harmless if sent by hand.' },
  );

  setHandler(
    bulkStatusQuery,
    () => ({
      bulkId,
      status,
      sendAt: isoInstant(firstSendAt()),
      ...(waitingFor ? { waitingFor } : {}),
      counts: { ...counts },
      controlLog: [...controlLog],
      pushesOwed,
    }),
    { description: 'Status, first send time, counts (sent / delivered / failed of total), what the bulk waits for, pushes owed, and the control log.' },
  );

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
    controlLog.push({ action: 'status', by: 'reconciler', at: isoInstant(Date.now()), from: status, to: 'CANCELED', via: 'reconciler', reason: recovery.reason });
    log.warn('bulk taken over after its previous run closed abnormally', { bulkId, ...recovery });
    setStatus('CANCELED');
    Object.assign(counts, await labelled('recount the messages of the bulk taken over').storedCounts({ accountId, bulkId }));
    everSent = counts.sent > 0;
  }

  async function run(): Promise<BulkCounts> {
    if (input.recovery && !carried) await takeOver(input.recovery);
    // ---- dispatch ----
    let launched = 0;
    /** Starts a batch over [fromSeq, toSeq) of the group: now, or armed for `dueAt` (it waits in the worker). */
    function launch(group: ScheduleGroup, fromSeq: number, toSeq: number, dueAt?: number): void {
      const scope = new CancellationScope();
      // Our own activity id, so that a cancelled batch's outcome can still be counted (the activity tags the
      // messages it submits with runId/activityId).
      const activityId = `batch-${group.index}-${fromSeq}-${++launched}`;
      const now = Date.now();
      const startAt = dueAt ?? now;
      const stopAt = Math.min(windowClosesAt(group.window, startAt), group.validityEndsAt, startAt + batchTimeBudget);
      // Batches stop when their group's window closes, its validity ends or their time budget is spent, and hand
      // back what they did not reach (as do paused batches).
      const range = {
        accountId,
        bulkId,
        groupIndex: group.index,
        fromSeq,
        toSeq,
        stopAfterMs: Math.max(0, stopAt - now),
        ...(dueAt !== undefined ? { startAfterMs: dueAt - now } : {}),
      };
      const what = `messages ${formatCount(fromSeq + 1)}–${formatCount(toSeq)} of ${formatCount(group.messageCount)}${groups.length > 1 ? ` (schedule ${group.index + 1})` : ''}`;
      const { sendBatch } = proxyActivities<Activities>({
        ...sendBatchOptions,
        // An armed batch is silent until its due time: its timeouts reach past the wait.
        ...(dueAt !== undefined ? { startToCloseTimeout: dueAt - now + 120_000, heartbeatTimeout: dueAt - now + 10_000 } : {}),
        activityId,
        summary: dueAt !== undefined ? `armed: send ${what} at ${formatInstant(dueAt)}` : `send ${what}`,
      });
      const batch: Batch = {
        id: `${workflowInfo().runId}/${activityId}`,
        group: group.index,
        from: fromSeq,
        to: toSeq,
        size: toSeq - fromSeq,
        scope,
        ...(dueAt !== undefined ? { armedFor: dueAt } : {}),
        done: scope
          .run(() => sendBatch(range))
          .then(
            (result: SendBatchResult) => {
              if (batch.detached) return;
              batch.armedFor = undefined;
              if (result.disarmed) return handBack(group.index, fromSeq, toSeq);
              everSent = true;
              if (status === 'PENDING') setStatus('PROCESSING');
              counts.sent += result.submitted;
              counts.rejected += result.rejected;
              // Stamped at the end, so the next unit starts after the batch's last message really went out.
              if (speedLimit) sendLog = [...sendLog, { at: Date.now(), count: result.submitted + result.rejected }];
              // Stopped at its time limit: the rest of the range waits for the next opening (or expires).
              if (result.complete === false) handBack(group.index, fromSeq, toSeq);
            },
            async (err: unknown) => {
              if (batch.detached) return;
              if (!isCancellation(err)) throw err;
              // Stopped by a pause or cancel: count what it did submit, and hand the range back to be sent (or
              // canceled) later; the next batch over it skips what was sent and resolves anything in doubt.
              const partial = await CancellationScope.nonCancellable(() =>
                labelled('count what the stopped batch sent').batchOutcome({ ...range, batch: `${workflowInfo().runId}/${activityId}` }),
              );
              counts.sent += partial.submitted;
              counts.rejected += partial.rejected;
              handBack(group.index, fromSeq, toSeq);
            },
          )
          .finally(() => {
            if (batch.detached) return;
            inFlight.splice(inFlight.indexOf(batch), 1);
            changes++;
          }),
      };
      inFlight.push(batch);
      if (dueAt === undefined) everSent = true;
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
    const batchSizeFor = (alreadyLaunched: number) =>
      alreadyLaunched < concurrency
        ? Math.max(1, Math.floor((batchSize * (alreadyLaunched + 1)) / concurrency))
        : batchSize;

    const groupBusy = (g: ScheduleGroup) => inFlight.some((b) => b.group === g.index);

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
          counts.expired += await labelled(`expire unsent messages${groups.length > 1 ? ` of schedule ${group.index + 1}` : ''}: validity ended`).expireGroup({
            accountId,
            bulkId,
            groupIndex: group.index,
          });
          leftovers.delete(group.index);
          done.add(group.index);
          changes++;
          continue;
        }
        if (draining || status === 'PAUSED') continue;
        if (now < group.sendAt || !isWindowOpen(group.window, now)) {
          // Not due yet: within the arming lead, its first batches go out now and wait in the worker.
          const due = armableDue(group, now);
          if (due === undefined || due - now > armLead) continue;
          while (inFlight.length < concurrency && hasUnsent(group)) {
            const { allowed } = speedAllowance(speedLimit, sendLog, due, inFlightSize());
            if (allowed === 0) break;
            const [from, to] = takeRange(group, Math.min(batchSizeFor(launched), allowed, ARMED_BATCH_MAX))!;
            launch(group, from, to, due);
            changes++;
          }
          continue;
        }
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
      const wakes = waiting.map((g) => nextWake(g, now, speedFreeAt));
      const next = wakes.reduce<{ at: number; why: string } | undefined>((a, w) => (!a || w.at < a.at ? w : a), undefined);
      const wakeAt = next?.at ?? Infinity;
      if (inFlight.length > 0 || wakeAt === Infinity) {
        // No timer while batches run: they take seconds, and every due time is re-checked when one finishes.
        // (A timer here could also be started and cancelled in one activation, which the Java test server
        // rejects with "invalid history builder state".)
        const armedFor = inFlight.find((b) => b.armedFor !== undefined)?.armedFor;
        showDetails(
          armedFor !== undefined
            ? `the send time ${formatInstant(armedFor)} (first batch armed in the worker)`
            : inFlight.length > 0
              ? `sending (${inFlight.length} batch${inFlight.length > 1 ? 'es' : ''} in flight)`
              : status === 'PAUSED'
                ? 'resume or cancel'
                : 'an operator',
        );
        await condition(() => changes !== seen);
      } else if (wakeAt > now) {
        showDetails(next!.why);
        await condition(() => changes !== seen, wakeAt - now, { summary: next!.why });
      }
    }

    if (!reporting) {
      if (status === 'CANCELED') {
        await stopInFlight();
        counts.canceled += await labelled('cancel unsent messages (REJECTED_CANCELED)').cancelUnsent({ accountId, bulkId });
      }
      reporting = true;
    }

    // Every message has left our hands or was finalized: wait for the last delivery reports and push every
    // report to its notifyUrl (retried with backoff, durably: the outbox is in the database).
    const reportDeadline = Math.max(...groups.map((g) => g.validityEndsAt)) + reportWait;
    // Reports normally wake the bulk at once (the worker's nudge); the polls between are a fallback. Started at
    // 5 s rather than 1 s, so that a thousand bulks sent at one instant do not all poll a second later.
    let idleMs = armedDispatch ? REPORT_FIRST_POLL_MS : 1000;

    /**
     * Waits until reports arrive (the worker's nudge) or `wakeAt`. The timer is never cancelled: a nudge leaves
     * it pending, and it fires later as a harmless extra round. Cancelling it could race its firing, and the
     * time-skipping test server strands a run whose task cancels a timer that fired meanwhile
     * (temporalio/sdk-java#3088). A timer already due by `wakeAt` serves instead of a new one.
     */
    const pendingTicks: number[] = [];
    let ticked = false;
    async function waitForReports(wakeAt: number, why: string): Promise<void> {
      if (!armedDispatch) {
        await condition(() => reportsArrived, Math.max(1, wakeAt - Date.now()), { summary: why });
        return;
      }
      if (!pendingTicks.some((t) => t <= wakeAt)) {
        pendingTicks.push(wakeAt);
        void CancellationScope.nonCancellable(() => sleep(Math.max(1, wakeAt - Date.now()), { summary: why })).then(() => {
          pendingTicks.splice(pendingTicks.indexOf(wakeAt), 1);
          ticked = true;
        });
      }
      ticked = false;
      await condition(() => reportsArrived || ticked);
    }
    if (armedDispatch && counts.sent === counts.total && counts.delivered + counts.failed === 0 && !reportsArrived) {
      // Straight from sending, with no report in yet, there is nothing to push: the first round waits for reports.
      const why = `delivery reports for ${formatCount(counts.sent)} message${counts.sent === 1 ? '' : 's'}`;
      showDetails(why);
      await waitForReports(Date.now() + idleMs, why);
    }
    /** The status the round that found everything final and pushed recorded itself (one activity fewer). */
    let recorded: BulkStatus | undefined;
    for (;;) {
      // Reports arriving while this round runs leave the flag set for the wait after it.
      reportsArrived = false;
      const closeAs = status === 'CANCELED' ? 'CANCELED' : closingStatus();
      const r = await labelled(
        armedDispatch ? `push delivery reports and count outcomes; once all is final, record status ${closeAs}` : 'push delivery reports and count outcomes',
      ).deliverReports({
        accountId,
        bulkId,
        now: Date.now(),
        ...(armedDispatch ? { closeAs, sendAt: firstSendAt() } : {}),
      });
      counts.delivered = r.delivered;
      counts.failed = r.failed;
      pushesOwed = r.pending;
      if (r.notFinal === 0 && r.pending === 0) {
        if (r.closed) recorded = closeAs;
        break;
      }
      if (r.notFinal === 0 && !FINAL_BULK_STATUSES.has(status)) {
        // Every message is final: the bulk is done for its client (API and BulkStatus), while the pushes it still
        // owes to an unreachable notifyUrl are retried (the query shows how many).
        setStatus(closingStatus());
        await labelled(`record status ${status}`).recordBulkState({ accountId, bulkId, status, sendAt: firstSendAt() });
      }
      if (r.notFinal > 0 && Date.now() >= reportDeadline) {
        counts.expired += await labelled('expire messages whose report never came (EXPIRED_DLR_UNKNOWN)').expireUnreported({ accountId, bulkId, now: Date.now() });
        continue;
      }
      if (historyFull()) await continueAsNew<typeof bulkWorkflow>({ ...input, carried: carryOver() });
      idleMs = r.pushed > 0 ? 1000 : Math.min(idleMs * 2, REPORT_POLL_MAX_MS);
      const now = Date.now();
      let wakeAt = now + idleMs;
      if (r.nextAttemptAt !== null) wakeAt = Math.min(wakeAt, Math.max(r.nextAttemptAt, now + 1000));
      if (r.notFinal > 0) wakeAt = Math.min(wakeAt, Math.max(reportDeadline, now + 1000));
      // Between rounds, wake early when the worker says reports arrived (reportsArrivedSignal). Already nudged:
      // no timer at all (one started and cancelled in the same activation is best avoided).
      if (!reportsArrived) {
        const why =
          r.notFinal > 0
            ? `delivery reports for ${formatCount(r.notFinal)} message${r.notFinal === 1 ? '' : 's'} (next round ${formatInstant(wakeAt)})`
            : `retry of ${formatCount(r.pending)} report push${r.pending === 1 ? '' : 'es'} at ${formatInstant(wakeAt)}`;
        showDetails(why);
        await waitForReports(wakeAt, why);
      }
    }

    if (status !== 'CANCELED') setStatus(closingStatus());
    waitingFor = undefined;
    showDetails(undefined);
    if (recorded !== status) await labelled(`record status ${status}`).recordBulkState({ accountId, bulkId, status, sendAt: firstSendAt() });
    log.info('bulk closed', { bulkId, status, ...counts });
    return counts;
  }
}
