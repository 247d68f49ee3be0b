import {
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
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
export const DISPATCH_BATCH = 500;
/** Well below the server's 50k-event limit, so a 1M-destination bulk keeps each run's history small. */
export const CONTINUE_AS_NEW_AFTER_EVENTS = 10_000;

const UNIT_MS = { MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 } as const;

/** How many messages the sliding-window speed limit allows now, and when more will be allowed. */
export function speedAllowance(
  limit: SendingSpeedLimit | undefined,
  log: CarriedState['sendLog'],
  now: number,
): { allowed: number; nextAt: number } {
  if (!limit) return { allowed: Infinity, nextAt: now };
  const unit = UNIT_MS[limit.timeUnit];
  const recent = log.filter((e) => e.at > now - unit);
  const used = recent.reduce((sum, e) => sum + e.count, 0);
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
  const historyLimit = input.tuning?.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS;
  const carried = input.carried;
  const done = new Set<number>(carried?.doneGroups ?? []);
  const counts: BulkCounts = carried?.counts ?? {
    total: groups.reduce((n, g) => n + g.messageCount, 0),
    sent: 0,
    rejected: 0,
    expired: 0,
    canceled: 0,
  };
  let sendLog = carried?.sendLog ?? [];
  let status: BulkStatus = carried?.status ?? 'PENDING';

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

  for (;;) {
    const open = groups.filter((g) => !done.has(g.index));
    if (open.length === 0) break;

    let progressed = false;
    for (const group of open) {
      const now = Date.now();
      if (now >= group.validityEndsAt) {
        counts.expired += await expireGroup({ accountId, bulkId, groupIndex: group.index });
        done.add(group.index);
        progressed = true;
        continue;
      }
      if (now < group.sendAt || !isWindowOpen(group.window, now)) continue;
      const { allowed } = speedAllowance(speedLimit, sendLog, now);
      if (allowed === 0) continue;

      await setStatus('PROCESSING');
      const result = await sendBatch({
        accountId,
        bulkId,
        groupIndex: group.index,
        limit: Math.min(batchSize, allowed),
      });
      counts.sent += result.submitted;
      counts.rejected += result.rejected;
      // Stamped when the batch has finished, so the next unit starts after the last message really went out.
      if (speedLimit) sendLog = [...sendLog, { at: Date.now(), count: result.submitted + result.rejected }];
      if (result.remaining === 0) done.add(group.index);
      progressed = true;
    }

    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= historyLimit) {
      const unit = speedLimit ? UNIT_MS[speedLimit.timeUnit] : 0;
      const now = Date.now();
      await continueAsNew<typeof bulkWorkflow>({
        ...input,
        carried: { status, doneGroups: [...done], counts, sendLog: sendLog.filter((e) => e.at > now - unit) },
      });
    }
    if (progressed) continue;

    // Nothing to do right now: sleep durably until the earliest group needs attention.
    const now = Date.now();
    const speedFreeAt = speedAllowance(speedLimit, sendLog, now).nextAt;
    const stillOpen = groups.filter((g) => !done.has(g.index));
    const wakeAt = Math.min(...stillOpen.map((g) => nextAttention(g, now, speedFreeAt)));
    if (wakeAt > now) await condition(() => false, wakeAt - now);
  }

  await setStatus('FINISHED');
  log.info('bulk finished', { bulkId, ...counts });
  return counts;
}
