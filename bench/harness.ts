/** What the benchmarks share: the simulator in its own process, and the embedded stack in this one. */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import pino from 'pino';
import { createActivities } from '../activities';
import { createApp } from '../api/app';
import { createCampaigns } from '../core/campaign-service';
import { ApiKeyAuthenticator } from '../api/auth';
import { BulkControlService } from '../core/bulk-control-service';
import { BulkService, bulkWorkflowId } from '../core/bulk-service';
import { ReportNudger } from '../core/report-nudger';
import { deliveryReportHandler } from '../core/services';
import { bulkStatusQuery, type BulkCounts, type WorkflowTuning } from '../workflows/definitions';
import { migrateToLatest, openDatabase } from '../db/database';
import { Repository } from '../db/repository';
import { HttpSmsProvider } from '../providers/http-provider';
import { startDevServer } from '../temporal/dev-server';
import { createBulkWorker } from '../worker/worker';
import { freePort } from '../test/helpers/temporal';

export const BENCH_KEY = 'bench-key-123';

export interface Simulator {
  url: string;
  pid: number;
  /** Where it keeps its SQLite file (simulator.sqlite): a benchmark may read the accept times there. */
  dataDir: string;
  provider: HttpSmsProvider;
  /**
   * Messages handed to submit so far (duplicates included), messages accepted (all callers), and the
   * wall-clock time (epoch ms) of the latest acceptance.
   */
  progress(): Promise<{ totalSubmits: number; accepted: number; lastAcceptAt: number }>;
  stats(prefix: string): Promise<{ accepted: number; duplicates: number }>;
  stop(): void;
}

/**
 * Reports come this long after acceptance (BENCH_REPORT_DELAY_MS): after the round that sent the messages was
 * measured, so applying them adds no noise to it; each round then waits for its bulk to finish.
 */
export const REPORT_DELAY_MS = Number(process.env.BENCH_REPORT_DELAY_MS ?? 15_000);

export async function startSimulator(): Promise<Simulator> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sim-'));
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, '../providers/simulator-server.ts'), '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DATA_DIR: dataDir, SIMULATOR_DELIVERY_DELAY_MS: String(REPORT_DELAY_MS) },
    },
  );
  child.once('exit', () => fs.rmSync(dataDir, { recursive: true, force: true }));
  const line = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve));
  const url = `http://127.0.0.1:${(JSON.parse(line) as { listening: number }).listening}`;
  return {
    url,
    pid: child.pid!,
    dataDir,
    provider: new HttpSmsProvider(url, { pullWaitMs: 1000 }),
    progress: async () =>
      (await (await fetch(`${url}/counter`)).json()) as { totalSubmits: number; accepted: number; lastAcceptAt: number },
    stats: async (prefix) => (await (await fetch(`${url}/stats?prefix=${encodeURIComponent(prefix)}`)).json()) as never,
    stop: () => child.kill('SIGTERM'),
  };
}

/**
 * BENCH_BATCH / BENCH_CONCURRENCY override the workflow's dispatch batch size and batches in flight, BENCH_LANES
 * the submit calls each batch keeps in flight (tuning runs).
 */
function benchTuning(): WorkflowTuning | undefined {
  const batchSize = process.env.BENCH_BATCH ? Number(process.env.BENCH_BATCH) : undefined;
  const concurrency = process.env.BENCH_CONCURRENCY ? Number(process.env.BENCH_CONCURRENCY) : undefined;
  return batchSize || concurrency ? { batchSize, concurrency } : undefined;
}

export interface Stack {
  apiUrl: string;
  serverPid: number | undefined;
  client: Client;
  stop(): Promise<void>;
}

/** Dev server, SQLite file, worker and API, as `npm start` runs them, with the HTTP provider to `sim`. */
export async function startStack(sim: Simulator): Promise<Stack> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const logger = pino({ level: 'warn' });
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is not set: run the benchmark through npm run bench:…');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const server = await startDevServer({ cliPath, port: await freePort() });
  const db = openDatabase({ sqliteFile: path.join(dir, 'orchestrator.sqlite'), sqliteSynchronous: process.env.SQLITE_SYNCHRONOUS === 'normal' ? 'normal' : 'full' });
  await migrateToLatest(db);
  const repo = new Repository(db);
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection });
  // As in a worker process: the simulator's delivery reports are applied and nudge their bulks.
  const nudger = new ReportNudger(client, logger);
  sim.provider.onDeliveryReports(deliveryReportHandler(repo, logger, (bulks) => nudger.nudge(bulks)));
  const worker = await createBulkWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue: 'bench',
    activities: createActivities({
      repo,
      provider: sim.provider,
      logger,
      submitLanes: process.env.BENCH_LANES ? Number(process.env.BENCH_LANES) : undefined,
    }),
  });
  const run = worker.run();
  const bulks = new BulkService({ repo, client, taskQueue: 'bench', logger, tuning: benchTuning() });
  const control = new BulkControlService({ repo, client });
  const app = createApp({
    logger,
    auth: new ApiKeyAuthenticator(new Map([['bench', BENCH_KEY]])),
    bulks,
    control,
    reports: repo,
    ...createCampaigns(repo.db, bulks, control),
    health: async () => {},
  });
  const http: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => http.once('listening', r));
  return {
    apiUrl: `http://127.0.0.1:${(http.address() as { port: number }).port}`,
    serverPid: server.process?.pid,
    client,
    async stop() {
      http.close();
      worker.shutdown();
      await run;
      await sim.provider.close();
      await nudger.close();
      await nativeConnection.close();
      await connection.close();
      await db.destroy();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function api(stack: Stack, method: string, pathAndQuery: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${stack.apiUrl}${pathAndQuery}`, {
    method,
    headers: { authorization: `App ${BENCH_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${pathAndQuery} failed: ${res.status} ${await res.text()}`);
  return res.json();
}

/** CPU seconds (user + system) a process has used so far, from /proc; undefined where there is no /proc. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds each process of the benchmark used between two calls: this process (API, worker, activities,
 * SQLite), the simulator and the Temporal dev server. It shows where a run's time went on a shared machine.
 */
export function cpuMeter(sim: Simulator, stack: Stack): () => Record<string, number | undefined> {
  const read = () => ({
    orchestrator: process.cpuUsage(),
    simulator: processCpuSeconds(sim.pid),
    temporal: processCpuSeconds(stack.serverPid),
  });
  const start = read();
  return () => {
    const end = read();
    const round = (v: number | undefined) => (v === undefined ? undefined : Number(v.toFixed(2)));
    const usage = process.cpuUsage(start.orchestrator);
    return {
      orchestrator: round((usage.user + usage.system) / 1e6),
      simulator: round(end.simulator === undefined ? undefined : end.simulator - start.simulator!),
      temporal: round(end.temporal === undefined ? undefined : end.temporal - start.temporal!),
    };
  };
}

export function numbers(n: number): string[] {
  return Array.from({ length: n }, (_, i) => String(41_790_000_000 + i));
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Resolves when every message of the bulk was handed to the provider. The workflow itself stays open after
 * that, until the delivery reports (REPORT_DELAY_MS later) have come: see waitFinished.
 */
export async function waitDispatched(client: Client, bulkId: string, total: number, intervalMs = 100): Promise<BulkCounts> {
  const handle = client.workflow.getHandle(bulkWorkflowId('bench', bulkId));
  for (;;) {
    const { counts } = await handle.query(bulkStatusQuery);
    if (counts.sent + counts.rejected >= total) return counts;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with the bulk's final counts once its workflow has closed (every report in). */
export async function waitFinished(client: Client, bulkId: string): Promise<BulkCounts> {
  return (await client.workflow.getHandle(bulkWorkflowId('bench', bulkId)).result()) as BulkCounts;
}

/**
 * Resolves with the simulator's time of its last acceptance once `count` more messages than `base` were
 * accepted. Polled slowly: the end time comes from the sink's own clock, so polling adds no error and little load.
 */
export async function waitAccepted(sim: Simulator, base: number, count: number): Promise<number> {
  for (;;) {
    const { accepted, lastAcceptAt } = await sim.progress();
    if (accepted - base >= count) return lastAcceptAt;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs a benchmark body against a fresh simulator and stack, tears both down, and exits non-zero on failure. */
export function runBench(body: (sim: Simulator, stack: Stack) => Promise<void>): void {
  (async () => {
    const sim = await startSimulator();
    const stack = await startStack(sim);
    try {
      await body(sim, stack);
    } finally {
      await stack.stop();
      sim.stop();
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
