import {
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, SendBatchResult } from '../activities';
import { isWindowOpen, nextWindowOpening } from '../domain/delivery-window';
import { BulkStatusKey } from '../temporal/search-attributes';
import {
  bulkStatusQuery,
  type BulkCounts,
  type BulkStatus,
  type BulkWorkflowInput,
  type CarriedState,
  type ScheduleGroup,
  type SendingSpeedLimit,
} from './definitions';

const { sendBatch, expireGroup } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const { recordBulkStatus } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** Messages per sendBatch call: the granularity at which windows, validity and speed limits are re-checked. */
export const DISPATCH_BATCH = 2000;
/**
 * Batches of one bulk in flight at once (a sliding window, as in the batch-sliding-window sample). They work on
 * disjoint ranges of the group, so they never contend for a message.
 */
export const DISPATCH_CONCURRENCY = 8;
/** Well below the server's 50k-event limit, so a 1M-destination bulk keeps each run's history small. */
export const CONTINUE_AS_NEW_AFTER_EVENTS = 10_000;

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

/**
 * When a group next needs the workflow's attention: it becomes sendable (due, window open and the speed limit
 * allowing more), or its validity ends, whichever comes first.
 */
function nextAttention(group: ScheduleGroup, now: number, speedFreeAt: number): number {
  const opening = nextWindowOpening(group.window, Math.max(now, group.sendAt, speedFreeAt));
  return Math.min(opening, group.validityEndsAt);
}

export async function bulkWorkflow(input: BulkWorkflowInput): Promise<BulkCounts> {
  const { accountId, bulkId, groups, speedLimit } = input;
  const batchSize = input.tuning?.batchSize ?? DISPATCH_BATCH;
  const concurrency = input.tuning?.concurrency ?? DISPATCH_CONCURRENCY;
  const historyLimit = input.tuning?.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS;
  const carried = input.carried;
  const done = new Set<number>(carried?.doneGroups ?? []);
  /** Per group, the first group_seq not yet handed to a batch. */
  const nextSeq = new Map<number, number>(Object.entries(carried?.nextSeq ?? {}).map(([k, v]) => [Number(k), v]));
  const counts: BulkCounts = carried?.counts ?? {
    total: groups.reduce((n, g) => n + g.messageCount, 0),
    sent: 0,
    rejected: 0,
    expired: 0,
    canceled: 0,
  };
  let sendLog = carried?.sendLog ?? [];
  let status: BulkStatus = carried?.status ?? 'PENDING';
  /** Batches in flight, by group; each entry is the size of its range. */
  const inFlight = new Map<number, number[]>();
  let inFlightTotal = 0;
  let batchFinished = false;

  setHandler(bulkStatusQuery, () => ({
    bulkId,
    status,
    sendAt: Math.min(...groups.map((g) => g.sendAt)),
    counts: { ...counts },
  }));

  async function setStatus(next: BulkStatus): Promise<void> {
    if (next === status) return;
    status = next;
    upsertSearchAttributes([{ key: BulkStatusKey, value: next }]);
    await recordBulkStatus({ accountId, bulkId, status: next });
  }

  function launch(group: ScheduleGroup, fromSeq: number, toSeq: number): void {
    const size = toSeq - fromSeq;
    inFlight.set(group.index, [...(inFlight.get(group.index) ?? []), size]);
    inFlightTotal += size;
    void sendBatch({ accountId, bulkId, groupIndex: group.index, fromSeq, toSeq }).then((result: SendBatchResult) => {
      counts.sent += result.submitted;
      counts.rejected += result.rejected;
      // Stamped when the batch has finished, so the next unit starts after its last message really went out.
      if (speedLimit) sendLog = [...sendLog, { at: Date.now(), count: result.submitted + result.rejected }];
      const sizes = inFlight.get(group.index)!;
      sizes.splice(sizes.indexOf(size), 1);
      inFlightTotal -= size;
      batchFinished = true;
    });
  }

  const groupBusy = (g: ScheduleGroup) => (inFlight.get(g.index)?.length ?? 0) > 0;

  const historyFull = () => {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= historyLimit;
  };

  for (;;) {
    const open = groups.filter((g) => !done.has(g.index));
    if (open.length === 0) break;
    // Once history is large, start nothing new: drain the batches in flight, then continue as new.
    const draining = historyFull();

    let progressed = false;
    for (const group of open) {
      const now = Date.now();
      const next = nextSeq.get(group.index) ?? 0;
      if (next >= group.messageCount) {
        // Everything handed out: the group is done once its last batches have finished.
        if (!groupBusy(group)) done.add(group.index);
        continue;
      }
      if (now >= group.validityEndsAt) {
        // Let batches already running finish, then whatever they did not reach has expired.
        if (groupBusy(group)) continue;
        counts.expired += await expireGroup({ accountId, bulkId, groupIndex: group.index });
        done.add(group.index);
        progressed = true;
        continue;
      }
      if (draining || now < group.sendAt || !isWindowOpen(group.window, now)) continue;
      for (;;) {
        const busy = [...inFlight.values()].reduce((n, s) => n + s.length, 0);
        if (busy >= concurrency) break;
        const from = nextSeq.get(group.index) ?? 0;
        if (from >= group.messageCount) break;
        const { allowed } = speedAllowance(speedLimit, sendLog, now, inFlightTotal);
        if (allowed === 0) break;
        const to = Math.min(group.messageCount, from + Math.min(batchSize, allowed));
        if (status !== 'PROCESSING') await setStatus('PROCESSING');
        launch(group, from, to);
        nextSeq.set(group.index, to);
        progressed = true;
      }
    }

    if (inFlightTotal === 0) {
      if (historyFull()) {
        const unit = speedLimit ? UNIT_MS[speedLimit.timeUnit] : 0;
        const now = Date.now();
        await continueAsNew<typeof bulkWorkflow>({
          ...input,
          carried: {
            status,
            doneGroups: [...done],
            nextSeq: Object.fromEntries(nextSeq),
            counts,
            sendLog: sendLog.filter((e) => e.at > now - unit),
          },
        });
      }
    }
    if (progressed) continue;

    // Nothing to start right now: sleep durably until a batch finishes or the earliest group needs attention.
    const now = Date.now();
    const speedFreeAt = speedAllowance(speedLimit, sendLog, now, inFlightTotal).nextAt;
    const waiting = groups.filter((g) => !done.has(g.index) && (nextSeq.get(g.index) ?? 0) < g.messageCount);
    const wakeAt = waiting.length > 0 ? Math.min(...waiting.map((g) => nextAttention(g, now, speedFreeAt))) : Infinity;
    batchFinished = false;
    if (inFlightTotal > 0) {
      // No timer while batches run: they take seconds, and every due time is re-checked when one finishes.
      // (A timer here could also be started and cancelled in one activation, which the Java test server
      // rejects with "invalid history builder state".)
      await condition(() => batchFinished);
    } else if (wakeAt > now && wakeAt !== Infinity) {
      await condition(() => false, wakeAt - now);
    }
  }

  await setStatus('FINISHED');
  log.info('bulk finished', { bulkId, ...counts });
  return counts;
}
