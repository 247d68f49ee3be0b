import { type Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { createActivities } from '../../activities';
import type { LeaseTiming } from '../../activities/dispatch-lease';
import type { ProviderThrottle } from '../../activities/provider-throttle';
import { type AppDeps, createApp } from '../../api/app';
import { createCampaigns } from '../../core/campaign-service';
import type { Pricing } from '../../core/pricing';
import { ApiKeyAuthenticator } from '../../api/auth';
import { BulkControlService } from '../../core/bulk-control-service';
import { CallbackGuard } from '../../core/callback-guard';
import { BulkService } from '../../core/bulk-service';
import { ReportNudger } from '../../core/report-nudger';
import { deliveryReportHandler } from '../../core/services';
import { inboundHandler } from '../../core/inbound';
import { MmsTemplates } from '../../core/mms-templates';
import { ContactStore } from '../../db/contacts';
import { OptOutStore } from '../../db/opt-outs';
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { Repository } from '../../db/repository';
import { SmsSimulator, type SimulatorOptions } from '../../providers/simulator';
import type { SmsProvider } from '../../providers/types';
import type { WorkflowTuning } from '../../workflows/definitions';
import { createBulkWorker } from '../../worker/worker';
import { createTimeSkippingEnv, type DevServerConnections, startConnectedDevServer, workflowBundle } from './temporal';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestStack {
  db: Db;
  repo: Repository;
  simulator: SmsSimulator;
  bulks: BulkService;
  control: BulkControlService;
  worker: Worker;
  client: Client;
  taskQueue: string;
  /** The clock BulkService uses; tests set it to workflow time in time-skipping runs. */
  clock: { now: number };
  /** ProTexting's MMS templates (media fetched through a guard that allows 127.0.0.1). */
  templates: MmsTemplates;
  close(): Promise<void>;
}

let queueCounter = 0;

/**
 * The real worker, activities, database and simulator against a test environment's server. `databaseUrl`
 * selects PostgreSQL; otherwise an in-memory SQLite database.
 */
export async function createTestStack(
  env: Pick<TestWorkflowEnvironment, 'nativeConnection' | 'client'>,
  options: {
    simulator?: Partial<SimulatorOptions>;
    databaseUrl?: string;
    /** Wraps the simulator, e.g. to inject failures between the provider and the database. */
    /** The provider to send through instead of the simulator; it may keep state in the stack's database. */
    provider?: (simulator: SmsSimulator, db: Db) => SmsProvider;
    tuning?: WorkflowTuning;
    webhookSecrets?: Map<string, string>;
    callbackAllow?: string[];
    /** Prices per part (core/pricing.ts) and starting balances in micro-units; absent: nothing is charged. */
    pricing?: Pricing;
    balances?: Map<string, number>;
    reportRetryMs?: number;
    /**
     * The provider delivers its own reports (e.g. an HttpSmsProvider to a simulator process): the stack listens
     * to it instead of the in-process simulator.
     */
    providerReports?: boolean;
    leaseTiming?: Partial<LeaseTiming>;
    throttle?: ProviderThrottle;
  } = {},
): Promise<TestStack> {
  const db = openDatabase({ url: options.databaseUrl, sqliteFile: ':memory:' });
  await migrateToLatest(db);
  const repo = new Repository(db);
  const callbackGuard = new CallbackGuard(options.callbackAllow ?? ['127.0.0.1']);
  const simulator = new SmsSimulator({ deliveryDelayMs: 50, submitDelayMs: 0, failureRate: 0, rejectRate: 0, ...options.simulator });
  const nudger = new ReportNudger(env.client as Client, silentLogger);
  const provider = options.provider?.(simulator, db) ?? simulator;
  (options.providerReports ? provider : simulator).onDeliveryReports(deliveryReportHandler(repo, silentLogger, (bulks) => nudger.nudge(bulks)));
  const replies: { via?: BulkService } = {};
  (options.providerReports ? provider : simulator).onInbound?.(
    inboundHandler({
      optOuts: new OptOutStore(db),
      contacts: new ContactStore(db),
      owners: TEST_INBOUND_NUMBERS,
      logger: silentLogger,
      reply: async (accountId, bulkId, from, to, text) => {
        await replies.via!.createBulk({ accountId, bulkId, messages: [{ from, text, flash: false, intermediateReport: false, destinations: [{ to }] }] });
      },
    }),
  );
  const templates = new MmsTemplates({ db, guard: callbackGuard, logger: silentLogger, providerSendsMms: provider.sendsMms === true });
  const taskQueue = `test-${process.pid}-${++queueCounter}`;
  const worker = await createBulkWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    activities: createActivities({
      repo,
      provider,
      logger: silentLogger,
      webhookSecrets: options.webhookSecrets ?? TEST_SECRETS,
      callbackGuard,
      reportRetryMs: options.reportRetryMs,
      leaseTiming: options.leaseTiming,
      throttle: options.throttle,
    }),
    workflowBundle: await workflowBundle(),
  });
  const clock = { now: Date.now() };
  const client = env.client as Client;
  const bulks = new BulkService({
    repo,
    client,
    taskQueue,
    logger: silentLogger,
    now: () => clock.now,
    // Batches are armed 1 s ahead of their due time: long enough to exercise the path, short in real time.
    tuning: { armLeadMs: [1000, 1000], ...options.tuning },
    callbackGuard: new CallbackGuard(options.callbackAllow ?? ['127.0.0.1']),
    pricing: options.pricing,
  });
  replies.via = bulks;
  if (options.balances) await repo.seedBalances(options.balances);
  const control = new BulkControlService({ repo, client, reconcile: (accountId, bulkId) => bulks.reconcileBulk(accountId, bulkId) });
  const run = worker.run();
  return {
    db,
    repo,
    simulator,
    bulks,
    control,
    worker,
    client,
    taskQueue,
    clock,
    templates,
    async close() {
      await templates.settled();
      // A test may have stopped the worker itself (a lost worker).
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await run;
      if (provider !== simulator) await provider.close();
      await simulator.close();
      await nudger.close();
      await callbackGuard.close();
      await db.destroy();
    },
  };
}

export const TEST_SECRETS = new Map([
  ['acme', 'acme-webhook-secret'],
  ['globex', 'globex-webhook-secret'],
]);

/** The accounts' own numbers (INBOUND_NUMBERS): number → account. */
export const TEST_INBOUND_NUMBERS = new Map([
  ['15550001111', 'acme'],
  ['15550002222', 'globex'],
]);

export const TEST_KEYS = new Map([
  ['acme', 'acme-secret-key-1'],
  ['globex', 'globex-secret-key-2'],
]);

/** The real Express app over a test stack, authenticated with TEST_KEYS. */
export function createTestApp(stack: TestStack, health: () => Promise<void> = async () => undefined, extra: Partial<AppDeps> = {}) {
  return createApp({
    logger: silentLogger,
    auth: new ApiKeyAuthenticator(TEST_KEYS),
    bulks: stack.bulks,
    control: stack.control,
    reports: stack.repo,
    ...createCampaigns(stack.db, stack.bulks, stack.control),
    protexting: { templates: stack.templates, inboundNumbers: TEST_INBOUND_NUMBERS },
    health,
    ...extra,
  });
}

/** Polls until `check` returns a value that is not undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type StackOptions = Parameters<typeof createTestStack>[1];

/**
 * A suite on the time-skipping server: one environment and one stack per test file, set up before the first
 * test and torn down after the last.
 */
export function timeSkippingSuite(options?: StackOptions) {
  const suite = {} as { env: TestWorkflowEnvironment; stack: TestStack };
  beforeAll(async () => {
    suite.env = await createTimeSkippingEnv();
    suite.stack = await createTestStack(suite.env, options);
  }, 120_000);
  afterAll(async () => {
    await suite.stack?.close();
    await suite.env?.teardown();
  });
  return suite;
}

/** A suite on a real dev server, with the Express app over the stack. */
export function devServerSuite(options?: StackOptions) {
  const suite = {} as { temporal: DevServerConnections; stack: TestStack; app: ReturnType<typeof createTestApp> };
  beforeAll(async () => {
    suite.temporal = await startConnectedDevServer();
    suite.stack = await createTestStack(suite.temporal, options);
    suite.app = createTestApp(suite.stack, async () => {
      await suite.temporal.connection.workflowService.getSystemInfo({});
    });
  }, 120_000);
  afterAll(async () => {
    await suite.stack?.close();
    await suite.temporal?.close();
  });
  return suite;
}
