/**
 * Fencing of dispatch attempts, driven at the activity level: two attempts of one sendBatch run at once, as
 * when Temporal gives up on a worker (heartbeat or start-to-close timeout) while its submits are still on the
 * wire. A real SQLite database and the real simulator; MockActivityEnvironment plays Temporal's part.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type SendBatchInput, type SendBatchResult } from '../../activities';
import { bulkWorkflowId } from '../../core/bulk-service';
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { type NewMessage, Repository } from '../../db/repository';
import { SmsSimulator } from '../../providers/simulator';
import { messageReference, type OutboundSms, type SmsProvider, type SubmitOptions, type SubmitResult } from '../../providers/types';
import { silentLogger } from '../helpers/stack';

const ACCOUNT = 'acme';

function messages(bulkId: string, n: number): NewMessage[] {
  return Array.from({ length: n }, (_, i) => ({
    account_id: ACCOUNT,
    message_id: `${bulkId}-${i}`,
    bulk_id: bulkId,
    group_index: 0,
    seq: i,
    group_seq: i,
    to_number: String(41793030000 + i),
    from_addr: 'InfoSMS',
    text: 'fenced',
    sms_count: 1,
    flash: 0,
    notify_url: null,
    notify_content_type: null,
    callback_data: null,
    intermediate_report: 0,
    send_at: 0,
    validity_ends_at: Date.now() + 3_600_000,
    state: 'QUEUED',
    status_name: 'PENDING_ACCEPTED',
    error_name: null,
    provider_message_id: null,
    submitted_at: null,
    dispatch_batch: null,
    done_at: null,
    updated_at: 0,
  }));
}

async function storeBulk(repo: Repository, bulkId: string, n: number): Promise<void> {
  await repo.insertBulk(
    {
      account_id: ACCOUNT,
      bulk_id: bulkId,
      workflow_id: bulkWorkflowId(ACCOUNT, bulkId),
      status: 'PROCESSING',
      tracking_process_key: null,
      message_count: n,
      send_at: 0,
      workflow_input: '{}',
      workflow_started: 1,
      created_at: 0,
    },
    messages(bulkId, n),
  );
}

/**
 * A provider link that does not stop when its caller gives up: the request is already on the wire and lands
 * after `delayMs` whatever the caller's signal says. What it still honours is the deadline the call carries,
 * as the simulator does; that deadline is the fence.
 */
class DeafLink implements SmsProvider {
  readonly name = 'deaf-link';
  delayMs = 0;
  constructor(private readonly inner: SmsSimulator) {}
  async submit(batch: OutboundSms[], options: SubmitOptions = {}): Promise<SubmitResult[]> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    return this.inner.submit(batch, { deadline: options.deadline });
  }
  lookup(references: string[]) {
    return this.inner.lookup(references);
  }
  onDeliveryReports() {}
  async close() {}
}

describe('two attempts of one dispatch batch at once', () => {
  let db: Db;
  let repo: Repository;
  let simulator: SmsSimulator;
  beforeEach(async () => {
    db = openDatabase({ sqliteFile: ':memory:' });
    await migrateToLatest(db);
    repo = new Repository(db);
    simulator = new SmsSimulator({ deliveryDelayMs: 3_600_000, submitDelayMs: 0, failureRate: 0, rejectRate: 0 });
  });
  afterEach(async () => {
    await simulator.close();
    await db.destroy();
  });

  const attemptEnv = (attempt: number) =>
    new MockActivityEnvironment({
      attempt,
      activityId: 'batch-0-0-1',
      workflowExecution: { workflowId: bulkWorkflowId(ACCOUNT, 'b'), runId: 'run-1' },
      scheduledTimestampMs: Date.now(),
      currentAttemptScheduledTimestampMs: Date.now(),
    });

  test('the later attempt waits until the earlier one can land nothing more, then sends each message once', async () => {
    await storeBulk(repo, 'b', 400);
    const link = new DeafLink(simulator);
    // Submits take 1.5 s and do not stop when abandoned; each may take 2 s, leases reach 3 s.
    link.delayMs = 1500;
    const activities = createActivities({
      repo,
      provider: link,
      logger: silentLogger,
      leaseTiming: { submitTimeoutMs: 2000, leaseMs: 3000, clockMarginMs: 100 },
    });
    const input: SendBatchInput = { accountId: ACCOUNT, bulkId: 'b', groupIndex: 0, fromSeq: 0, toSeq: 400 };

    const first = attemptEnv(1).run(activities.sendBatch, input);
    const firstOutcome = first.then(
      (r) => ({ ok: true as const, r }),
      (e: Error) => ({ ok: false as const, e }),
    );
    // Temporal has given up on the first attempt (its worker looks dead) while 4 submits of it are on the wire.
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const second: SendBatchResult = await attemptEnv(2).run(activities.sendBatch, input);
    const waited = Date.now() - started;

    // It waited out the first attempt's lease (3 s from its start, less the 0.3 s head start) before deciding.
    expect(waited).toBeGreaterThanOrEqual(2500);
    const outcome = await firstOutcome;
    // The first attempt lost its lease and stopped before its next chunk.
    if (!outcome.ok) expect(outcome.e.name).toBe('LeaseLostError');

    const stats = simulator.stats(`${ACCOUNT}:b-`);
    expect(stats.duplicates).toBe(0);
    expect(stats.accepted).toBe(400);
    expect(second.submitted).toBe(400);
    const rows = await repo.listBulkMessages(ACCOUNT, 'b');
    expect(rows.every((m) => m.state === 'SUBMITTED' && m.status_name === 'PENDING_ENROUTE' && m.provider_message_id)).toBe(true);
  }, 30_000);

  test('a submit that would land after its deadline is refused by the provider, and the retry sends it', async () => {
    await storeBulk(repo, 'b', 100);
    const link = new DeafLink(simulator);
    // Longer than the submit timeout: the call arrives after its deadline and the provider takes none of it.
    link.delayMs = 2500;
    const activities = createActivities({
      repo,
      provider: link,
      logger: silentLogger,
      leaseTiming: { submitTimeoutMs: 1000, leaseMs: 2000, clockMarginMs: 100 },
    });
    const input: SendBatchInput = { accountId: ACCOUNT, bulkId: 'b', groupIndex: 0, fromSeq: 0, toSeq: 100 };
    await expect(attemptEnv(1).run(activities.sendBatch, input)).rejects.toThrow();
    // The messages are in doubt (SUBMITTING): the first attempt never heard back.
    expect((await repo.listBulkMessages(ACCOUNT, 'b')).every((m) => m.state === 'SUBMITTING')).toBe(true);

    link.delayMs = 0;
    const retry = await attemptEnv(2).run(activities.sendBatch, input);
    expect(retry).toMatchObject({ submitted: 100, recovered: 0 });
    expect(simulator.stats(`${ACCOUNT}:b-`)).toMatchObject({ accepted: 100, duplicates: 0 });
  }, 30_000);

  test('a refusal as duplicate of a message the provider holds makes it SUBMITTED, never REJECTED', async () => {
    await storeBulk(repo, 'b', 150);
    // The provider took the first 50 in an earlier attempt whose answer was lost, and the rows were then
    // released as never sent (the worst case: nothing in our database says they went out).
    await simulator.submit(
      messages('b', 50).map((m) => ({ reference: messageReference(ACCOUNT, m.message_id), to: m.to_number, from: 'InfoSMS', text: 'fenced', flash: false })),
    );
    const activities = createActivities({ repo, provider: simulator, logger: silentLogger });
    const result = await attemptEnv(1).run(activities.sendBatch, { accountId: ACCOUNT, bulkId: 'b', groupIndex: 0, fromSeq: 0, toSeq: 150 });

    expect(result).toMatchObject({ submitted: 150, rejected: 0 });
    const rows = await repo.listBulkMessages(ACCOUNT, 'b');
    expect(rows.filter((m) => m.state === 'FINAL')).toHaveLength(0);
    expect(rows.every((m) => m.state === 'SUBMITTED' && m.provider_message_id)).toBe(true);
    // The ids are the provider's own, from the lookup: delivery reports will match them.
    const held = await simulator.lookup(rows.slice(0, 50).map((m) => messageReference(ACCOUNT, m.message_id)));
    expect(rows.slice(0, 50).map((m) => m.provider_message_id)).toEqual(rows.slice(0, 50).map((m) => held.get(messageReference(ACCOUNT, m.message_id))));
  });

  test('cancel and expiry wait for a live attempt and do not finalize what it is submitting', async () => {
    await storeBulk(repo, 'b', 100);
    const link = new DeafLink(simulator);
    link.delayMs = 1000;
    const activities = createActivities({
      repo,
      provider: link,
      logger: silentLogger,
      leaseTiming: { submitTimeoutMs: 1500, leaseMs: 2500, clockMarginMs: 100 },
    });
    const batch = attemptEnv(1).run(activities.sendBatch, { accountId: ACCOUNT, bulkId: 'b', groupIndex: 0, fromSeq: 0, toSeq: 100 });
    const batchOutcome = batch.then(
      () => 'done',
      (e: Error) => e.name,
    );
    await new Promise((r) => setTimeout(r, 200));
    // The bulk is canceled while its submit is on the wire (as after a lost cancellation of the batch).
    const canceled = await new MockActivityEnvironment().run(activities.cancelUnsent, { accountId: ACCOUNT, bulkId: 'b' });
    await batchOutcome;

    // The submit landed: those messages were sent, so none is canceled, and none was sent twice.
    expect(canceled).toBe(0);
    expect(simulator.stats(`${ACCOUNT}:b-`)).toMatchObject({ accepted: 100, duplicates: 0 });
    const rows = await repo.listBulkMessages(ACCOUNT, 'b');
    expect(rows.every((m) => m.state === 'SUBMITTED')).toBe(true);
  }, 30_000);
});
