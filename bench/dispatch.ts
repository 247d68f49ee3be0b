/**
 * npm run bench:dispatch — a 100k-destination bulk through the embedded stack (dev server, worker, SQLite
 * file, API) to the simulator running as a separate process on loopback, against a plain loop feeding the same
 * simulator with the same client and batch size. Last line: one JSON object with the figures.
 *
 *   BENCH_MESSAGES=20000 npm run bench:dispatch    # a smaller run
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import pino from 'pino';
import { createActivities } from '../activities';
import { createApp } from '../api/app';
import { ApiKeyAuthenticator } from '../api/auth';
import { BulkControlService } from '../core/bulk-control-service';
import { BulkService, bulkWorkflowId } from '../core/bulk-service';
import { migrateToLatest, openDatabase } from '../db/database';
import { Repository } from '../db/repository';
import { HttpSmsProvider } from '../providers/http-provider';
import type { OutboundSms } from '../providers/types';
import { startDevServer } from '../temporal/dev-server';
import { createBulkWorker } from '../worker/worker';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const CHUNK = 100; // the same as the sendBatch activity's provider chunk

async function startSimulator(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../providers/simulator-server.ts'), '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SIMULATOR_DELIVERY_DELAY_MS: '1000' },
  });
  const line = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve));
  const { listening } = JSON.parse(line) as { listening: number };
  return { url: `http://127.0.0.1:${listening}`, child };
}

function numbers(n: number): string[] {
  return Array.from({ length: n }, (_, i) => String(41_790_000_000 + i));
}

async function plainLoop(provider: HttpSmsProvider): Promise<number> {
  const to = numbers(MESSAGES);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i += CHUNK) {
    const batch: OutboundSms[] = to.slice(i, i + CHUNK).map((n, k) => ({
      reference: `baseline:${i + k}`,
      to: n,
      from: 'Bench',
      text: 'Benchmark message',
      flash: false,
    }));
    await provider.submit(batch);
  }
  return MESSAGES / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const logger = pino({ level: 'warn' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-dispatch-'));
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is not set: run `npm run bench:dispatch`');

  const sim = await startSimulator();
  const provider = new HttpSmsProvider(sim.url);
  const server = await startDevServer({ cliPath, port: 17_233 + Math.floor(Math.random() * 1000) });
  const db = openDatabase({ sqliteFile: path.join(dir, 'orchestrator.sqlite') });
  await migrateToLatest(db);
  const repo = new Repository(db);
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection });
  const worker = await createBulkWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue: 'bench',
    activities: createActivities({ repo, provider, logger }),
  });
  const run = worker.run();
  const bulks = new BulkService({ repo, client, taskQueue: 'bench', logger });
  const app = createApp({ logger, auth: new ApiKeyAuthenticator(new Map([['bench', 'bench-key-123']])), bulks, control: new BulkControlService({ repo, client }), health: async () => {} });
  const http = app.listen(0, '127.0.0.1');
  await new Promise((r) => http.once('listening', r));
  const apiUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;

  try {
    console.log(`plain loop: ${MESSAGES} messages in chunks of ${CHUNK} to the simulator process…`);
    const baselinePerSecond = await plainLoop(provider);
    console.log(`plain loop: ${baselinePerSecond.toFixed(0)} messages/s`);

    const body = JSON.stringify({
      bulkId: 'bench-100k',
      messages: [{ from: 'Bench', text: 'Benchmark message', destinations: numbers(MESSAGES).map((to) => ({ to })) }],
    });
    console.log(`bulk: POST ${(body.length / 1e6).toFixed(1)} MB, ${MESSAGES} destinations…`);
    const started = performance.now();
    const res = await fetch(`${apiUrl}/sms/2/text/advanced`, {
      method: 'POST',
      headers: { authorization: 'App bench-key-123', 'content-type': 'application/json' },
      body,
    });
    if (!res.ok) throw new Error(`POST failed: ${res.status} ${await res.text()}`);
    const accepted = performance.now();
    const counts = await client.workflow.getHandle(bulkWorkflowId('bench', 'bench-100k')).result();
    const finished = performance.now();
    const dispatchSeconds = (finished - accepted) / 1000;
    const messagesPerSecond = MESSAGES / dispatchSeconds;
    const endToEndPerSecond = MESSAGES / ((finished - started) / 1000);

    const stats = (await (await fetch(`${sim.url}/stats?prefix=bench:`)).json()) as { accepted: number; duplicates: number };
    const figures = {
      messages: MESSAGES,
      messagesPerSecond: Math.round(messagesPerSecond),
      endToEndPerSecond: Math.round(endToEndPerSecond),
      acceptMs: Math.round(accepted - started),
      baselinePerSecond: Math.round(baselinePerSecond),
      ratio: Number((messagesPerSecond / baselinePerSecond).toFixed(3)),
      workflowSent: counts.sent,
      duplicates: stats.duplicates,
      lost: MESSAGES - stats.accepted,
    };
    console.log(`bulk: accepted in ${figures.acceptMs} ms, dispatched in ${dispatchSeconds.toFixed(1)} s`);
    console.log(JSON.stringify(figures));
  } finally {
    http.close();
    worker.shutdown();
    await run;
    await nativeConnection.close();
    await connection.close();
    await db.destroy();
    await server.stop();
    sim.child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
