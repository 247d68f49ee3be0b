import type { WorkflowHandle } from '@temporalio/client';

/**
 * The run's result; when it has not come within `ms`, fails with what the run is doing (its pending activities and
 * their last failures, its recent events), so a hang in CI says where it hangs.
 */
export async function resultOrDiagnosis(handle: WorkflowHandle, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  try {
    const outcome = await Promise.race([handle.result(), late]);
    if (outcome !== 'late') return outcome;
  } finally {
    clearTimeout(timer);
  }
  const described = await handle.describe();
  const history = await handle.fetchHistory();
  const events = (history.events ?? []).slice(-15).map((e) => `${String(e.eventId)}:${String(e.eventType)}`);
  const pending = (described.raw.pendingActivities ?? []).map((a) => ({
    activity: a.activityType?.name,
    state: a.state,
    attempt: a.attempt,
    lastFailure: a.lastFailure?.message,
  }));
  throw new Error(`no result within ${ms} ms: status ${described.status.name}; pending ${JSON.stringify(pending)}; last events ${events.join(' ')}`);
}
