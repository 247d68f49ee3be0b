import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BulkStatus, RequestedStatus } from '../domain/bulk-control';
import type { DeliveryWindow } from '../domain/delivery-window';

export type { BulkStatus, RequestedStatus };

/** Module-level message definitions: the API, the UI and tests all refer to these names. */


export type SpeedUnit = 'MINUTE' | 'HOUR' | 'DAY';

export interface SendingSpeedLimit {
  amount: number;
  timeUnit: SpeedUnit;
}

/**
 * Messages of one bulk that share a schedule. Destinations themselves stay in the database; a group is a few
 * numbers, and a bulk has at most as many groups as its request had message entries (bounded by the API).
 */
export interface ScheduleGroup {
  index: number;
  sendAt: number;
  validityEndsAt: number;
  window?: DeliveryWindow;
  messageCount: number;
}

/** A group as the workflow input carries it: dates as ISO-8601 strings (epoch milliseconds are read too). */
export interface ScheduleGroupInput extends Omit<ScheduleGroup, 'sendAt' | 'validityEndsAt'> {
  sendAt: string | number;
  validityEndsAt: string | number;
}

export interface BulkCounts {
  total: number;
  /** Accepted by the provider. */
  sent: number;
  /** Refused by the provider at submit. */
  rejected: number;
  expired: number;
  canceled: number;
  /** From delivery reports; brought up to date while the bulk awaits its reports. */
  delivered: number;
  failed: number;
}

/** The dispatch version new bulks are started with: 2 arms batches ahead of their due time. */
export const ARMED_DISPATCH_VERSION = 2;

export interface BulkWorkflowInput {
  accountId: string;
  bulkId: string;
  /** How the bulk dispatches (ARMED_DISPATCH_VERSION and up: armed); absent in bulks stored before (1). */
  dispatchVersion?: number;
  groups: ScheduleGroupInput[];
  speedLimit?: SendingSpeedLimit;
  tuning?: WorkflowTuning;
  /** Present only after continue-as-new: what the previous run had done. */
  carried?: CarriedState;
  /**
   * Present when the reconciler started this run because the bulk's previous run was terminated, timed out or
   * failed: the bulk is finished as canceled (unsent messages REJECTED_CANCELED, reports of what was sent
   * awaited and pushed).
   */
  recovery?: { reason: string; closedRunId: string };
}

/**
 * Armed dispatch. A bulk's first batches are started this long before they are due — a lead drawn per run from
 * [min, max], so that thousands of bulks due at one instant spread their arming over the interval — and wait in
 * the worker (activities: sendBatch `startAfterMs`). The due moment then costs no timer, workflow task or
 * activity dispatch: the batch just goes. A pause, cancel or reschedule before then disarms it (db/armed-batches.ts).
 * Without it, 1,000 bulks due at one instant sent up to 2 minutes late (issue 12; README: timing).
 */
export const ARM_LEAD_MS: readonly [number, number] = [20_000, 60_000];
/** A new bulk's first workflow task waits until this long before its first send time (its arm lead and a margin)… */
export const FIRST_TASK_MARGIN_MS = 10_000;
/** …but never longer than this after the bulk was accepted. */
export const FIRST_TASK_DELAY_MAX_MS = 2 * 60_000;

/**
 * The start delay of a new bulk's workflow. A burst of POSTs then costs the server one start each, and the
 * workflow tasks that set up each bulk's timer come later, off the ingest path (issue 12: ingest went from 0.5
 * to 0.8 of the server's plain start rate). While it waits, the bulk's workflow has run no code: queries fail
 * ("Workflow task is not scheduled yet"; the API answers from the database then), signals wait for the delay to
 * end, and an Update or a cancellation request ends it at once. The cap keeps that time short for bulks scheduled
 * far ahead. A recovery run, or a bulk due within the margin, starts at once.
 */
export function firstTaskDelayMs(input: BulkWorkflowInput, nowMs: number): number {
  if (input.recovery || input.carried || (input.dispatchVersion ?? 0) < ARMED_DISPATCH_VERSION) return 0;
  const firstSendAt = Math.min(...input.groups.map((g) => (typeof g.sendAt === 'number' ? g.sendAt : Date.parse(g.sendAt))));
  const lead = Math.max(...(input.tuning?.armLeadMs ?? ARM_LEAD_MS)) + FIRST_TASK_MARGIN_MS;
  const delay = Math.min(FIRST_TASK_DELAY_MAX_MS, firstSendAt - lead - nowMs);
  return delay >= 1000 ? Math.floor(delay) : 0;
}

/** Knobs with production defaults; tests lower them to exercise batching and continue-as-new quickly. */
export interface WorkflowTuning {
  /** Messages per sendBatch call (default DISPATCH_BATCH, 10,000). */
  batchSize?: number;
  /** sendBatch activities in flight at once (default DISPATCH_CONCURRENCY, 2). */
  concurrency?: number;
  /** The longest one batch sends before handing what is left back to the workflow (default 60 s). */
  batchTimeBudgetMs?: number;
  /** Continue-as-new once history has this many events (default 10,000), or when the server suggests it. */
  continueAsNewAfterEvents?: number;
  /** How long after the last validity ends reports are awaited before EXPIRED_DLR_UNKNOWN (default 24 h). */
  reportWaitMs?: number;
  /** How far ahead of its due time a batch is armed, drawn from [min, max] per run (default ARM_LEAD_MS); [0, 0]: never. */
  armLeadMs?: [number, number];
}

/** One control action, kept in workflow state (and so in every continue-as-new) and shown by the query. */
export interface ControlRecord {
  action: 'status' | 'reschedule';
  by: string;
  /** ISO-8601 (older runs carried epoch milliseconds). */
  at: string | number;
  from: BulkStatus;
  to: string;
  /**
   * `cancellation`: a Temporal cancellation request (the UI's Request Cancellation, `temporal workflow cancel`);
   * `reconciler`: the bulk's previous run was terminated, timed out or failed, and this run finishes it.
   */
  via: 'update' | 'signal' | 'cancellation' | 'reconciler';
  /** Present when the action was refused: why (bad input, or a transition the rules do not allow). */
  refused?: string;
  /** What prompted an action nobody asked for (the reconciler's: how the previous run ended). */
  reason?: string;
}

export interface CarriedState {
  status: BulkStatus;
  everSent: boolean;
  reporting: boolean;
  /** Schedules as changed by reschedules, by group index. */
  schedule: Record<number, { sendAt: string | number; validityEndsAt: string | number }>;
  controlLog: ControlRecord[];
  doneGroups: number[];
  nextSeq: Record<number, number>;
  counts: BulkCounts;
  sendLog: Array<{ at: number; count: number }>;
  /** Per group, ranges [from, to) that batches handed back unfinished, to be sent before new ranges. */
  leftovers?: Record<number, Array<[number, number]>>;
}

export interface BulkSnapshot {
  bulkId: string;
  status: BulkStatus;
  /** The first send time, ISO-8601. */
  sendAt: string;
  /** What the bulk waits for now, in words ("window opens Mon 06:00 Europe/Zagreb"); absent while it works. */
  waitingFor?: string;
  counts: BulkCounts;
  controlLog: ControlRecord[];
  /** Report pushes still owed to a notifyUrl (retried with backoff), also once the bulk is FINISHED. */
  pushesOwed?: number;
}

export const bulkStatusQuery = defineQuery<BulkSnapshot>('bulkStatus');

/** `by` names who acted: the API passes the account; operators may pass their name from the UI. */
export interface StatusChange {
  status: RequestedStatus;
  by?: string;
}
export interface Reschedule {
  /** Epoch millis (API) or an ISO 8601 string (operators typing into the UI). */
  sendAt: number | string;
  by?: string;
}

/**
 * Updates, for the API: validated synchronously before anything is written, answered only once applied — for
 * PAUSED and CANCELED that means after every batch in flight has stopped.
 */
export const setStatusUpdate = defineUpdate<{ bulkId: string; status: BulkStatus }, [StatusChange]>('setStatus');
/** Answers the applied send time, ISO-8601. */
export const rescheduleUpdate = defineUpdate<{ bulkId: string; sendAt: string }, [Reschedule]>('setSendAt');

/** Signals, for operators in the Temporal UI or `temporal workflow signal`; refused transitions are logged. */
export const pauseSignal = defineSignal<[{ by?: string }?]>('pause');
export const resumeSignal = defineSignal<[{ by?: string }?]>('resume');
export const cancelSignal = defineSignal<[{ by?: string }?]>('cancel');
export const rescheduleSignal = defineSignal<[Reschedule]>('reschedule');
/**
 * Sent by the worker when delivery reports of the bulk were applied: the workflow pushes them now instead of
 * at its next poll (which backs off to a minute). Carries nothing; losing one only delays a push.
 */
export const reportsArrivedSignal = defineSignal('reportsArrived');
