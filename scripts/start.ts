/**
 * The one composition root of every process role:
 *   `npm start`       (role all)    the whole embedded stack in one foreground process: Temporal dev server
 *                                   (unless TEMPORAL_ADDRESS points at a cluster), the worker, and the API;
 *   `npm run worker`  (role worker) the Temporal worker: bulk workflows, send and report activities, the
 *                                   provider and its delivery reports;
 *   `npm run api`     (role api)    the HTTP API and the reconciler of bulks whose workflow never started.
 * Any number of workers and API processes may run against one Temporal server and one database; none of them
 * starts a Temporal server. Ctrl-C (SIGINT) or SIGTERM stops a process and what it started.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createApp } from '../api/app';
import { createCampaigns } from '../core/campaign-service';
import { MmsTemplates } from '../core/mms-templates';
import { ProviderThrottle } from '../activities/provider-throttle';
import type { ReplySender } from '../core/inbound';
import { parseBalances, Pricing } from '../core/pricing';
import { ApiKeyAuthenticator } from '../api/auth';
import { AccountRateLimiter } from '../api/rate-limit';
import { ConfigError, loadConfig, type Config } from '../config/env';
import { createLogger, PinoTemporalLogger } from '../config/logger';
import { loadOrGenerateSecrets } from '../config/secrets';
import { BulkControlService } from '../core/bulk-control-service';
import { BulkService } from '../core/bulk-service';
import { CallbackGuard } from '../core/callback-guard';
import { ReportNudger } from '../core/report-nudger';
import { createServices, deliveryReportHandler } from '../core/services';
import { SmppProvider } from '../providers/smpp/provider';
import { registerSearchAttributes } from '../temporal/register-search-attributes';
import { startDevServer, startDownloadedDevServer, type DevServer } from '../temporal/dev-server';
import { createBulkWorker } from '../worker/worker';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

type Role = 'all' | 'api' | 'worker';

function readRole(): Role {
  const role = process.argv[2] ?? 'all';
  if (role !== 'all' && role !== 'api' && role !== 'worker') {
    process.stderr.write(`unknown role "${role}": expected all, api or worker\n`);
    process.exit(1);
  }
  return role;
}

async function main(): Promise<void> {
  const role = readRole();
  const config = readConfig();
  const runsWorker = role !== 'api';
  const runsApi = role !== 'worker';
  const logger = createLogger(config.LOG_LEVEL);
  Runtime.install({ logger: new PinoTemporalLogger(logger.child({ component: 'temporal-sdk' })) });
  fs.mkdirSync(config.dataDir, { recursive: true });

  const apiKeys = loadOrGenerateSecrets({
    configured: config.API_KEYS,
    dataDir: config.dataDir,
    fileName: 'api-keys.json',
    accounts: ['default'],
    prefix: 'sk_',
  });

  const webhookSecrets = loadOrGenerateSecrets({
    configured: config.WEBHOOK_SECRETS,
    dataDir: config.dataDir,
    fileName: 'webhook-secrets.json',
    accounts: [...apiKeys.values.keys()],
    prefix: 'whsec_',
  });
  const callbackGuard = new CallbackGuard(config.CALLBACK_ALLOW_HOSTS);
  // Bad prices or balances stop the start with the reason, before anything listens.
  const pricing = Pricing.parse(config.SMS_PRICES);
  const balances = parseBalances(config.ACCOUNT_BALANCES);

  const stops: Array<() => Promise<unknown>> = [() => callbackGuard.close()];
  let stopping = false;
  const shutdown = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A stop that hangs (a worker draining a long activity) must not keep the process, and what it started, alive.
    setTimeout(() => process.exit(code || 1), 60_000).unref();
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, 'error during shutdown');
      }
    }
    logger.info('stopped');
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
  // npm runs this under `sh -c`, and a shell that is sent SIGTERM exits without passing it on: this process would
  // be re-parented and keep running, with the Temporal server it started. So a parent that went away is a stop too.
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid !== parent) void shutdown('parent-exited');
  }, 500);
  parentWatch.unref();
  stops.push(async () => clearInterval(parentWatch));
  try {
    await startRole();
  } catch (err) {
    // What did start (the Temporal server above all) is stopped before the process exits with the reason.
    process.stderr.write(`startup failed: ${(err as Error).message}\n`);
    await shutdown('startup-failed', 1);
  }

  async function startRole(): Promise<void> {

    let devServer: DevServer | undefined;
    if (config.embeddedTemporal && role === 'all') {
      devServer = await (config.TEMPORAL_CLI_PATH ? startDevServer : startDownloadedDevServer)({
        cliPath: config.TEMPORAL_CLI_PATH ?? '',
        port: config.TEMPORAL_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        dbFile: `${config.dataDir}/temporal.sqlite`,
        sqliteSynchronous: config.SQLITE_SYNCHRONOUS,
        namespace: config.TEMPORAL_NAMESPACE,
        logger: logger.child({ component: 'temporal-server' }),
      });
      stops.push(() => devServer!.stop());
    }

    const connection = await Connection.connect({ address: config.temporalAddress });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    if (!devServer) await registerSearchAttributes(connection, config.TEMPORAL_NAMESPACE);

    // Delivery reports nudge their bulk's workflow, which then pushes them within about a second.
    const nudger = new ReportNudger(client, logger);
    stops.push(() => nudger.close());
    // Confirmations of double opt-ins (a YES that came in) go as one-message bulks, through the same durable path.
    const replies: { via?: BulkService } = {};
    const reply: ReplySender = async (accountId, bulkId, from, to, text) => {
      if (!replies.via) throw new Error('not started yet');
      await replies.via.createBulk({ accountId, bulkId, messages: [{ from, text, flash: false, intermediateReport: false, destinations: [{ to }] }] });
    };
    const services = await createServices(config, logger, runsWorker ? { reportsApplied: (bulks) => nudger.nudge(bulks), reply } : undefined);
    replies.via = new BulkService({ repo: services.repo, client, taskQueue: config.TEMPORAL_TASK_QUEUE, logger, callbackGuard, pricing });
    stops.push(() => services.close());

    if (runsWorker) {
      const nativeConnection = await NativeConnection.connect({ address: config.temporalAddress });
      // PostgreSQL: one budget for every worker of the cluster; SQLite: for the workers of this machine.
      const throttle = config.PROVIDER_MAX_TPS
        ? await ProviderThrottle.open(config.PROVIDER_MAX_TPS, { databaseUrl: config.DATABASE_URL, sqliteFile: path.join(config.dataDir, 'provider-throttle.sqlite') }, services.provider!.name)
        : undefined;
      if (throttle) stops.push(() => throttle.stop());
      stops.push(() => nativeConnection.close());
      const worker = await createBulkWorker({
        connection: nativeConnection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        activities: createActivities({
          repo: services.repo,
          provider: services.provider!,
          logger,
          webhookSecrets: webhookSecrets.values,
          callbackGuard,
          reportRetryMs: config.REPORT_RETRY_HOURS * 3_600_000,
          leaseTiming: { submitTimeoutMs: config.PROVIDER_SUBMIT_TIMEOUT_MS, leaseMs: config.PROVIDER_SUBMIT_TIMEOUT_MS + 10_000 },
          throttle,
        }),
      });
      const workerRun = worker.run();
      stops.push(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await workerRun;
      });
      workerRun.catch((err) => {
        logger.fatal({ err }, 'worker stopped unexpectedly');
        void shutdown('worker-failure');
      });
    }

    let server: Server | undefined;
    if (runsApi) {
      await services.repo.seedBalances(balances);
      const bulks = new BulkService({
        repo: services.repo,
        client,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        logger,
        callbackGuard,
        pricing,
      });
      const rateLimit = AccountRateLimiter.parse(config.RATE_LIMIT);
      const limiter = rateLimit
        ? // SQLite: a file of its own beside the product's, so a long bulk insert never holds a request's count up.
          await AccountRateLimiter.open(rateLimit, { databaseUrl: config.DATABASE_URL, sqliteFile: path.join(config.dataDir, 'rate-limits.sqlite') })
        : undefined;
      if (limiter) stops.push(() => limiter.stop());
      const control = new BulkControlService({ repo: services.repo, client, reconcile: (accountId, bulkId) => bulks.reconcileBulk(accountId, bulkId) });
      const campaignDeps = createCampaigns(services.db, bulks, control);
      // MMS media is fetched under the callbacks' rules (CALLBACK_ALLOW_HOSTS); only the simulator sends MMS so far.
      const templates = new MmsTemplates({ db: services.db, guard: callbackGuard, logger, providerSendsMms: config.SMS_PROVIDER === 'simulator' });
      stops.push(() => templates.settled());
      // Safe in several API processes at once: a workflow id is started once (the others see it started).
      const reconcile = async () => {
        await bulks.reconcileUnstarted().catch((err) => logger.error({ err }, 'reconciling unstarted bulks failed'));
        await bulks.reconcileClosed().catch((err) => logger.error({ err }, 'reconciling abnormally closed bulks failed'));
        await campaignDeps.campaigns
          .reconcileOrphans()
          .then((n) => n > 0 && logger.warn({ campaigns: n }, 'cleaned up after campaign creates or updates that died midway'))
          .catch((err) => logger.error({ err }, 'reconciling campaigns without a bulk failed'));
        await templates.resumeUnprocessed().catch((err) => logger.error({ err }, 'resuming unprocessed MMS templates failed'));
      };
      // One pass at a time, and none after a stop began: a stop waits for the pass in flight before the database
      // and the Temporal connection it uses are closed.
      let reconciling: Promise<void> | undefined;
      const reconcileOnce = () => {
        if (!stopping && !reconciling) reconciling = reconcile().finally(() => (reconciling = undefined));
      };
      reconcileOnce();
      const reconcileTimer = setInterval(reconcileOnce, 30_000);
      stops.push(async () => {
        clearInterval(reconcileTimer);
        await reconciling;
      });

      const app = createApp({
        logger,
        auth: new ApiKeyAuthenticator(apiKeys.values, limiter),
        bulks,
        control,
        reports: services.repo,
        ...campaignDeps,
        protexting: { templates, inboundNumbers: config.INBOUND_NUMBERS ?? new Map() },
        ...(config.SMS_PROVIDER === 'infobip' && config.INFOBIP_NOTIFY_TOKEN
          ? { upstreamReports: { token: config.INFOBIP_NOTIFY_TOKEN, apply: deliveryReportHandler(services.repo, logger, (bulks) => nudger.nudge(bulks)) } }
          : {}),
        health: async () => {
          await services.pingDatabase();
          await connection.workflowService.getSystemInfo({});
          // In the all-in-one process the API also answers for the worker's SMPP bind.
          if (services.provider instanceof SmppProvider && !services.provider.bound) throw new Error('the SMPP bind is down (reconnecting)');
        },
      });
      server = await new Promise<Server>((resolve, reject) => {
        // Not app.listen: Express 5 hands a listen error to its callback, which would look like success (the
        // API URL printed, nothing listening).
        const s = createServer(app);
        s.once('error', (err: NodeJS.ErrnoException) =>
          reject(err.code === 'EADDRINUSE' ? new Error(`port ${config.PORT} is already in use (PORT)`) : err),
        );
        s.listen(config.PORT, config.HOST, () => resolve(s));
      });
      stops.push(() => new Promise<void>((resolve) => server!.close(() => resolve())));
    }

    const showSecrets = process.stdout.isTTY === true;
    const lines = [
      role === 'worker'
        ? `Worker:      task queue ${config.TEMPORAL_TASK_QUEUE}, provider ${services.provider!.name}`
        : `API:         http://localhost:${config.PORT}`,
      devServer
        ? `Temporal UI: http://localhost:${config.TEMPORAL_UI_PORT}`
        : `Temporal:    ${config.temporalAddress} (namespace ${config.TEMPORAL_NAMESPACE})`,
      // Generated secrets are shown on an interactive terminal only: piped stdout is where JSON log lines go, and
      // from there into log storage. Otherwise the line says where they are kept (owner-only files in DATA_DIR).
      ...apiKeys.generated.map((account) =>
        showSecrets
          ? `API key generated for account "${account}": ${apiKeys.values.get(account)}`
          : `API key generated for account "${account}": kept in ${apiKeys.file} (not printed: stdout is not a terminal)`,
      ),
      ...webhookSecrets.generated.map((account) =>
        showSecrets
          ? `Webhook secret generated for account "${account}" (X-Signature HMAC key): ${webhookSecrets.values.get(account)}`
          : `Webhook secret generated for account "${account}": kept in ${webhookSecrets.file} (not printed: stdout is not a terminal)`,
      ),
      ...(apiKeys.file && apiKeys.generated.length === 0 ? [`API keys:    ${apiKeys.file}`] : []),
    ];
    // Printed to the terminal, not the log: generated secrets must not end up in log storage.
    process.stdout.write(`\n${lines.join('\n')}\n\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`startup failed: ${(err as Error).message}\n`);
  process.exit(1);
});
