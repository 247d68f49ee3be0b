import { randomBytes, randomUUID } from 'node:crypto';
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Logger } from '../config/logger';
import { CallbackGuard, CallbackRefusedError } from './callback-guard';
import type { Pricing } from './pricing';
import { type NewMessage, type Repository } from '../db/repository';
import { type BulkStatus, FINAL_BULK_STATUSES, MAX_SCHEDULE_AHEAD_MS } from '../domain/bulk-control';
import type { DeliveryWindow } from '../domain/delivery-window';
import { countSmsParts, type LanguageCode } from '../domain/encoding';
import { STATUSES, type MessageStatus } from '../domain/status';
import { type Transliteration, transliterate } from '../domain/transliteration';
import { describeWindow, formatCount, formatInstant, isoInstant, toMillis } from '../domain/labels';
import { validityEndsAt } from '../domain/validity';
import { AccountIdKey, BulkIdKey, BulkStatusKey, CampaignNameKey, SendAtKey } from '../temporal/search-attributes';
import { ARMED_DISPATCH_VERSION, type BulkWorkflowInput, firstTaskDelayMs, type ScheduleGroup, type SendingSpeedLimit, type WorkflowTuning } from '../workflows/definitions';

/** The dialect-neutral command every router translates its request into. */
export interface CreateBulkCommand {
  accountId: string;
  bulkId?: string;
  campaignName?: string;
  trackingProcessKey?: string;
  speedLimit?: SendingSpeedLimit;
  messages: Array<{
    from?: string;
    text: string;
    transliteration?: Transliteration;
    /** National language tables the text may be sent with (GSM-7 instead of UCS-2; see domain/encoding). */
    languageCode?: LanguageCode;
    flash: boolean;
    destinations: Array<{ to: string; messageId?: string }>;
    notifyUrl?: string;
    notifyContentType?: string;
    callbackData?: string;
    /** An MMS: its subject and media (the provider must send MMS; see SmsProvider.sendsMms). */
    mms?: { subject?: string; mediaUrl: string };
    intermediateReport: boolean;
    validityPeriodMinutes?: number;
    /** Epoch millis; absent or past means now. */
    sendAt?: number;
    window?: DeliveryWindow;
  }>;
}

export interface CreatedBulk {
  bulkId: string;
  trackingProcessKey?: string;
  messages: Array<{ to: string; messageId: string; status: MessageStatus; smsCount: number }>;
}

export class BulkRejectedError extends Error {
  override name = 'BulkRejectedError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

export class WorkflowStartError extends Error {
  override name = 'WorkflowStartError';
}


export function bulkWorkflowId(accountId: string, bulkId: string): string {
  return `bulk:${accountId}:${bulkId}`;
}

export interface BulkServiceDeps {
  repo: Repository;
  client: Client;
  taskQueue: string;
  logger: Logger;
  now?: () => number;
  tuning?: WorkflowTuning;
  /** Refuses notifyUrls that lead into private networks; absent means no URL is allowed anywhere private. */
  callbackGuard?: CallbackGuard;
  /** Prices per part by destination (SMS_PRICES); absent: nothing is charged. */
  pricing?: Pricing;
}

export class BulkService {
  private readonly now: () => number;
  constructor(private readonly deps: BulkServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Stores the bulk, then starts its workflow. The database row is written first with workflow_started = 0:
   * if the process dies before the start is confirmed, the reconciler starts it later, so an accepted bulk is
   * never lost; if the start fails outright, the rows are removed and the client gets an error.
   */
  async createBulk(cmd: CreateBulkCommand): Promise<CreatedBulk> {
    const { repo, client, taskQueue, logger } = this.deps;
    const now = this.now();
    const bulkId = cmd.bulkId ?? randomUUID();
    // A bulkId already taken is refused by insertBulk (BulkAlreadyExistsError): no read for it first.

    const checked = new Set<string>();
    for (const [i, m] of cmd.messages.entries()) {
      if (!m.notifyUrl || checked.has(m.notifyUrl)) continue;
      checked.add(m.notifyUrl);
      await this.checkNotifyUrl(m.notifyUrl, `messages[${i}].notifyUrl`);
    }

    const groups = new Map<string, ScheduleGroup>();
    const rows: NewMessage[] = [];
    const reply: CreatedBulk['messages'] = [];
    cmd.messages.forEach((m, i) => {
      if (m.sendAt !== undefined && m.sendAt > now + MAX_SCHEDULE_AHEAD_MS) {
        throw new BulkRejectedError('sendAt must be at most 180 days ahead', `messages[${i}].sendAt`);
      }
      const sendAt = Math.max(m.sendAt ?? now, now);
      const validUntil = validityEndsAt(sendAt, m.validityPeriodMinutes);
      const key = JSON.stringify([sendAt, validUntil, m.window ?? null]);
      let group = groups.get(key);
      if (!group) {
        group = { index: groups.size, sendAt, validityEndsAt: validUntil, window: m.window, messageCount: 0 };
        groups.set(key, group);
      }
      const text = transliterate(m.text, m.transliteration);
      const smsCount = countSmsParts(text, m.languageCode).parts;
      for (const d of m.destinations) {
        const messageId = d.messageId ?? randomUUID();
        rows.push({
          account_id: cmd.accountId,
          message_id: messageId,
          bulk_id: bulkId,
          group_index: group.index,
          seq: rows.length,
          group_seq: group.messageCount++,
          to_number: d.to,
          price_micros: this.deps.pricing ? smsCount * this.deps.pricing.partPriceMicros(d.to) : null,
          from_addr: m.from ?? null,
          text,
          sms_count: smsCount,
          flash: m.flash ? 1 : 0,
          notify_url: m.notifyUrl ?? null,
          notify_content_type: m.notifyContentType ?? null,
          callback_data: m.callbackData ?? null,
          mms: m.mms ? JSON.stringify(m.mms) : null,
          language_code: m.languageCode ?? null,
          intermediate_report: m.intermediateReport ? 1 : 0,
          send_at: sendAt,
          validity_ends_at: validUntil,
          state: 'QUEUED',
          status_name: 'PENDING_ACCEPTED',
          error_name: null,
          provider_message_id: null,
          submitted_at: null,
          done_at: null,
          updated_at: now,
        });
        reply.push({ to: d.to, messageId, status: STATUSES.PENDING_ACCEPTED, smsCount });
      }
    });

    const input: BulkWorkflowInput = {
      accountId: cmd.accountId,
      bulkId,
      dispatchVersion: ARMED_DISPATCH_VERSION,
      groups: [...groups.values()].map((g) => ({ ...g, sendAt: isoInstant(g.sendAt), validityEndsAt: isoInstant(g.validityEndsAt) })),
      speedLimit: cmd.speedLimit,
      ...(this.deps.tuning ? { tuning: this.deps.tuning } : {}),
    };
    const ui = describeBulk(cmd, bulkId, [...groups.values()], rows.length);
    const workflowId = bulkWorkflowId(cmd.accountId, bulkId);
    await repo.insertBulk(
      {
        account_id: cmd.accountId,
        bulk_id: bulkId,
        workflow_id: workflowId,
        status: 'PENDING',
        tracking_process_key: cmd.trackingProcessKey ?? null,
        message_count: rows.length,
        send_at: Math.min(...[...groups.values()].map((g) => g.sendAt)),
        workflow_input: JSON.stringify({ input, campaignName: cmd.campaignName, ui }),
        workflow_started: 0,
        created_at: now,
      },
      rows,
    );

    try {
      await startBulkWorkflow(client, taskQueue, input, cmd.campaignName, ui, { startDelayMs: firstTaskDelayMs(input, now) });
    } catch (err) {
      logger.error({ err, bulkId, accountId: cmd.accountId }, 'could not start bulk workflow; removing the bulk');
      await repo.deleteBulk(cmd.accountId, bulkId);
      throw new WorkflowStartError('the bulk could not be scheduled; nothing was sent, retry later');
    }
    // Not awaited: the bulk is safe once its workflow started. Should the mark be lost (a crash now), the
    // reconciler finds the bulk unmarked, its start is refused as a duplicate, and it marks it then.
    repo.markWorkflowStarted(cmd.accountId, bulkId).catch((err: unknown) => logger.warn({ err, bulkId }, 'could not mark the bulk started; the reconciler will'));
    return { bulkId, trackingProcessKey: cmd.trackingProcessKey, messages: reply };
  }

  /** Refuses a URL reports would be pushed to when it leads into a private network (BulkRejectedError). */
  async checkNotifyUrl(url: string, field: string): Promise<void> {
    try {
      await (this.deps.callbackGuard ?? new CallbackGuard([])).check(url);
    } catch (err) {
      if (err instanceof CallbackRefusedError) throw new BulkRejectedError(`${field.split('.').pop()} ${err.message}`, field);
      throw err;
    }
  }

  /** Starts workflows of bulks stored before a crash cut their start short. Safe to run from many workers. */
  async reconcileUnstarted(olderThanMs = 30_000): Promise<number> {
    const { repo, client, taskQueue, logger } = this.deps;
    const stale = await repo.unstartedBulks(this.now() - olderThanMs);
    for (const bulk of stale) {
      const { input, campaignName, ui } = JSON.parse(bulk.workflow_input) as StoredWorkflowInput;
      try {
        // Never a second run: the first start may have gone through before its process died, and the bulk may
        // have run and closed since; "already started" covers both (and another API process doing the same).
        await startBulkWorkflow(client, taskQueue, input, campaignName, ui, {
          reusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          startDelayMs: firstTaskDelayMs(input, this.now()),
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      await repo.markWorkflowStarted(bulk.account_id, bulk.bulk_id);
      logger.warn({ bulkId: bulk.bulk_id, accountId: bulk.account_id }, 'started workflow of a bulk left unstarted');
    }
    return stale.length;
  }

  /**
   * Finishes bulks whose workflow run was terminated, timed out or failed (an operator's Terminate in the UI, a
   * run timeout, a bug): their stored state says PENDING or PROCESSING, and nothing would ever change it. For
   * each, a new run of the bulk's workflow takes over (`recovery` input): it cancels what was never handed to
   * the provider (REJECTED_CANCELED, reported and pushed), awaits the reports of what was, and closes CANCELED.
   * Found through visibility (the run's BulkStatus search attribute is left non-final by such an end). Safe in
   * several API processes at once: a workflow id runs once at a time, the others see it started.
   */
  async reconcileClosed(limit = 100): Promise<number> {
    const statuses = ['PENDING', 'PAUSED', 'PROCESSING'].map((s) => `'${s}'`).join(', ');
    const ends = ABNORMAL_END_NAMES.map((s) => `'${s}'`).join(', ');
    const query = `WorkflowType = 'bulkWorkflow' AND ExecutionStatus IN (${ends}) AND ${BulkStatusKey.name} IN (${statuses})`;
    let taken = 0;
    let seen = 0;
    for await (const wf of this.deps.client.workflow.list({ query, pageSize: limit })) {
      if (++seen > limit) break;
      const accountId = wf.typedSearchAttributes.get(AccountIdKey);
      const bulkId = wf.typedSearchAttributes.get(BulkIdKey);
      if (!accountId || !bulkId) continue;
      if (await this.reconcileBulk(accountId, bulkId)) taken++;
    }
    return taken;
  }

  /**
   * Takes over one bulk if its latest run ended abnormally and its stored state is not final; true when a
   * recovery run was started. The API calls it when it meets such a bulk, so the client need not wait for the
   * periodic pass.
   */
  async reconcileBulk(accountId: string, bulkId: string): Promise<boolean> {
    const { repo, client, taskQueue, logger } = this.deps;
    const row = await repo.getBulk(accountId, bulkId);
    if (!row || row.workflow_started === 0 || FINAL_BULK_STATUSES.has(row.status as BulkStatus)) return false;
    const latest = await client.workflow.getHandle(bulkWorkflowId(accountId, bulkId)).describe();
    if (!ABNORMAL_ENDS.has(latest.status.name)) return false;
    const { input, campaignName, ui } = JSON.parse(row.workflow_input) as StoredWorkflowInput;
    const recovery = { reason: `previous run ${latest.status.name.toLowerCase().replace('_', ' ')}`, closedRunId: latest.runId };
    try {
      await startBulkWorkflow(client, taskQueue, { ...input, recovery }, campaignName, ui && { summary: `${ui.summary} (recovered)`, details: ui.details });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
      throw err;
    }
    logger.warn({ accountId, bulkId, ...recovery }, 'bulk workflow ended abnormally; a recovery run finishes the bulk');
    return true;
  }
}

/** How a bulk's run can end without the bulk's own logic having finished it (describe()'s status names). */
export const ABNORMAL_ENDS: ReadonlySet<string> = new Set(['TERMINATED', 'TIMED_OUT', 'FAILED', 'CANCELLED']);
/** Visibility names of the same (ExecutionStatus values). */
const ABNORMAL_END_NAMES = ['Terminated', 'TimedOut', 'Failed', 'Canceled'];

/** The workflow's summary (one line) and details (markdown) in the Temporal UI. */
export interface BulkDescription {
  summary: string;
  details: string;
}

/** What bulks.workflow_input holds: what is needed to start (or restart) the bulk's workflow. */
interface StoredWorkflowInput {
  input: BulkWorkflowInput;
  campaignName?: string;
  ui?: BulkDescription;
}

function describeBulk(cmd: CreateBulkCommand, bulkId: string, groups: ScheduleGroup[], recipients: number): BulkDescription {
  const senders = [...new Set(cmd.messages.map((m) => m.from ?? '(default sender)'))];
  const first = Math.min(...groups.map((g) => g.sendAt));
  const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;
  const summary = `${bulkId}: ${plural(recipients, 'message')} from ${senders.slice(0, 2).join(', ')}${senders.length > 2 ? '…' : ''}, first send ${formatInstant(first)}`;
  const lines = [
    `**Bulk** ${bulkId} · **account** ${cmd.accountId}${cmd.campaignName ? ` · **campaign** ${cmd.campaignName}` : ''}`,
    `**Sender${senders.length > 1 ? 's' : ''}** ${senders.join(', ')} · **recipients** ${formatCount(recipients)}`,
    ...groups.map(
      (g) =>
        `**Schedule ${g.index + 1}** (${plural(g.messageCount, 'message')}): send at ${isoInstant(g.sendAt)} · window ${describeWindow(g.window)} · validity ends ${isoInstant(g.validityEndsAt)}`,
    ),
    ...(cmd.speedLimit ? [`**Speed limit** ${formatCount(cmd.speedLimit.amount)} per ${cmd.speedLimit.timeUnit.toLowerCase()}`] : []),
  ];
  return { summary: summary.slice(0, 400), details: lines.join('\n\n') };
}

export function newTrackingProcessKey(): string {
  return randomBytes(16).toString('hex').toUpperCase();
}

async function startBulkWorkflow(
  client: Client,
  taskQueue: string,
  input: BulkWorkflowInput,
  campaignName: string | undefined,
  ui: BulkDescription | undefined,
  { reusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE, startDelayMs = 0 }: { reusePolicy?: WorkflowIdReusePolicy; startDelayMs?: number } = {},
): Promise<void> {
  const firstSendAt = Math.min(...input.groups.map((g) => toMillis(g.sendAt)));
  await client.workflow.start('bulkWorkflow', {
    taskQueue,
    // Its first workflow task waits until shortly before it is due (firstTaskDelayMs), off the ingest path.
    ...(startDelayMs > 0 ? { startDelay: startDelayMs } : {}),
    workflowId: bulkWorkflowId(input.accountId, input.bulkId),
    args: [input],
    // The database row is the duplicate guard for bulkIds; a second start of the same live workflow is an error.
    workflowIdReusePolicy: reusePolicy,
    // What the Temporal UI shows of the bulk in its list and at the top of its page.
    ...(ui ? { staticSummary: ui.summary, staticDetails: ui.details } : {}),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
    typedSearchAttributes: [
      { key: BulkIdKey, value: input.bulkId },
      { key: AccountIdKey, value: input.accountId },
      { key: BulkStatusKey, value: 'PENDING' },
      { key: SendAtKey, value: new Date(firstSendAt) },
      ...(campaignName ? [{ key: CampaignNameKey, value: campaignName }] : []),
    ],
  });
}
