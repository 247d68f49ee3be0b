import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { SendBatchInput, SendBatchResult } from '../../activities';

export interface SendBatchCall {
  /**
   * Workflow (server) time when the batch went to work: when it was scheduled, or for a batch armed ahead of its
   * due time, that due time (scheduled + startAfterMs). The only clock that means anything under time skipping.
   */
  at: number;
  /**
   * Workflow time of the decision that scheduled the batch (its workflow task's start: the workflow's `Date.now()`).
   * The scheduled event itself is stamped when that task completed, which a slow machine makes later.
   */
  decidedAt: number;
  input: SendBatchInput;
  result: SendBatchResult;
}

function millis(ts: temporal.api.history.v1.IHistoryEvent['eventTime']): number {
  return Number(ts?.seconds ?? 0) * 1000 + Math.floor((ts?.nanos ?? 0) / 1e6);
}

/**
 * Every completed sendBatch activity of a workflow run chain, in order, read from the real event history; armed
 * batches that were disarmed (they sent nothing) are left out.
 */
export async function sendBatchCalls(client: Client, handle: WorkflowHandle, runIds?: string[]): Promise<SendBatchCall[]> {
  const histories = runIds
    ? await Promise.all(runIds.map((runId) => client.workflow.getHandle(handle.workflowId, runId).fetchHistory()))
    : [await handle.fetchHistory()];
  const calls: SendBatchCall[] = [];
  for (const history of histories) {
    const scheduled = new Map<string, { at: number; decidedAt: number; input: SendBatchInput }>();
    let taskStartedAt = 0;
    for (const event of history.events ?? []) {
      if (event.workflowTaskStartedEventAttributes) taskStartedAt = millis(event.eventTime);
      const s = event.activityTaskScheduledEventAttributes;
      if (s && s.activityType?.name === 'sendBatch') {
        const input: SendBatchInput = defaultPayloadConverter.fromPayload(s.input!.payloads![0]!);
        scheduled.set(String(event.eventId), { at: millis(event.eventTime) + (input.startAfterMs ?? 0), decidedAt: taskStartedAt, input });
      }
      const c = event.activityTaskCompletedEventAttributes;
      const origin = c && scheduled.get(String(c.scheduledEventId));
      const result: SendBatchResult | undefined = c && origin ? defaultPayloadConverter.fromPayload(c.result!.payloads![0]!) : undefined;
      if (origin && result && !result.disarmed) calls.push({ ...origin, result });
    }
  }
  return calls;
}

/** Run ids of a continue-as-new chain, oldest first, followed back from the latest run's start event. */
export async function runChain(client: Client, handle: WorkflowHandle): Promise<string[]> {
  const chain: string[] = [];
  let runId: string | undefined = (await handle.describe()).runId;
  while (runId) {
    chain.unshift(runId);
    const history: temporal.api.history.v1.IHistory = await client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    const started: temporal.api.history.v1.IWorkflowExecutionStartedEventAttributes | null | undefined = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    runId = started?.continuedExecutionRunId || undefined;
  }
  return chain;
}
