import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Activities } from '../activities';

export interface BulkWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /** Tests pass a bundle built once per suite; otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Activities one worker process runs at once, armed batches waiting for their due time included. */
export const ACTIVITY_SLOTS = 20_000;

export async function createBulkWorker(options: BulkWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    // Armed batches wait for their due time in a slot each (thousands of bulks may be due at one instant); the
    // batches that really read, claim and submit are bounded inside the activity (SENDING_BATCHES).
    maxConcurrentActivityTaskExecutions: ACTIVITY_SLOTS,
    // Cancellation reaches an activity with a heartbeat response: frequent heartbeats make pause fast.
    maxHeartbeatThrottleInterval: '100 milliseconds',
    defaultHeartbeatThrottleInterval: '100 milliseconds',
  });
}
