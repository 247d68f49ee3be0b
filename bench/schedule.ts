/**
 * npm run bench:schedule — many one-destination bulks due at one instant, on the product as `npm start` runs it
 * (embedded dev server with its default settings, worker, API, SQLite under DATA_DIR), sending to the simulator as
 * its own process on loopback.
 *
 *   1. The raw rate of the server: BENCH_BULKS plain `client.workflow.start` calls (a workflow type no worker
 *      polls), 16 at a time; then they are terminated.
 *   2. Ingest: BENCH_BULKS POST /sms/2/text/advanced, one destination each, all with the same sendAt, 16 at a time.
 *   3. Lateness of each first submit: the simulator's accept time (its own clock, in its SQLite file) minus sendAt.
 *   4. Every bulk must end FINISHED with its message accepted exactly once.
 *
 *   BENCH_BULKS=10000 npm run bench:schedule
 *   BENCH_LEAD_S=120 npm run bench:schedule      # sendAt this far after the first POST (default: from BENCH_BULKS)
 * Last line: one JSON object.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { messageReference } from '../providers/types';
import { freePort } from '../test/helpers/temporal';
import { percentile, processCpuSeconds, startSimulator } from './harness';

const EventType = temporal.api.enums.v1.EventType;
const BULKS = Number(process.env.BENCH_BULKS ?? 1000);
const CLIENTS = 16;
const LEAD_S = Number(process.env.BENCH_LEAD_S ?? Math.max(90, 60 + BULKS / 40));
/** How long after sendAt to wait for the last first submit, and then for every bulk to finish. */
const WAIT_S = Number(process.env.BENCH_WAIT_S ?? 600);
const KEY = 'bench-schedule-key-1';
const ROOT = path.join(__dirname, '..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `work(i)` for i in [0, n) on `CLIENTS` concurrent callers; returns each call's latency in ms. */
async function concurrently(n: number, work: (i: number) => Promise<void>): Promise<{ seconds: number; latencies: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await work(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (Date.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

interface Product {
  apiUrl: string;
  temporalAddress: string;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `npm start`'s process (scripts/start.ts, role all) on free ports and a fresh DATA_DIR. */
async function startProduct(simulatorUrl: string): Promise<Product> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-schedule-'));
  const port = await freePort();
  const temporalPort = await freePort();
  // BENCH_CPU_PROF_DIR: the product writes a V8 CPU profile there when it stops (node's --cpu-prof).
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', path.join(ROOT, 'scripts/start.ts'), 'all'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      TEMPORAL_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(await freePort()),
      API_KEYS: `bench:${KEY}`,
      SIMULATOR_URL: simulatorUrl,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let waited = 0; !/^API:/m.test(out); waited += 100) {
    if (child.exitCode !== null || waited > 180_000) throw new Error(`npm start did not come up:\n${out}`);
    await sleep(100);
  }
  return {
    apiUrl: `http://127.0.0.1:${port}`,
    temporalAddress: `127.0.0.1:${temporalPort}`,
    dataDir,
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      if (process.env.BENCH_KEEP_DATA) console.log(`data kept in ${dataDir}`);
      else fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const cpuSeconds = (pid: number | undefined) => processCpuSeconds(pid) ?? 0;

/** The Temporal dev server's pid: the child of the product process running `temporal`. */
function temporalPid(productPid: number): number | undefined {
  for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === productPid && stat.includes('(temporal)')) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

async function plainStarts(address: string): Promise<{ perSecond: number; p50: number; p99: number }> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const run = `plain-${Date.now()}`;
  const { seconds, latencies } = await concurrently(BULKS, async (i) => {
    await client.workflow.start('benchPlainStart', { taskQueue: 'bench-plain-no-worker', workflowId: `${run}-${i}`, args: [] });
  });
  // Terminated again so that they cost the server nothing during the bulks' burst.
  await concurrently(BULKS, async (i) => {
    await client.workflow.getHandle(`${run}-${i}`).terminate('benchmark over');
  });
  await connection.close();
  return { perSecond: BULKS / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main(): Promise<void> {
  const sim = await startSimulator();
  const product = await startProduct(sim.url);
  try {
    const tPid = temporalPid(product.child.pid!);
    const plain = await plainStarts(product.temporalAddress);
    console.log(`plain workflow starts: ${plain.perSecond.toFixed(0)}/s, p50 ${plain.p50.toFixed(0)} ms, p99 ${plain.p99.toFixed(0)} ms`);
    await sleep(2000);

    const run = `s${Date.now().toString(36)}`;
    const sendAt = Date.now() + LEAD_S * 1000;
    const sendAtIso = new Date(sendAt).toISOString();
    const cpu0 = { product: cpuSeconds(product.child.pid), temporal: cpuSeconds(tPid), simulator: cpuSeconds(sim.pid) };
    const ingest = await concurrently(BULKS, async (i) => {
      const res = await fetch(`${product.apiUrl}/sms/2/text/advanced`, {
        method: 'POST',
        headers: { authorization: `App ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          bulkId: `${run}-${i}`,
          messages: [{ from: 'Bench', text: 'Due at one instant', sendAt: sendAtIso, destinations: [{ to: String(41_790_000_000 + i), messageId: `${run}-m${i}` }] }],
        }),
      });
      if (res.status !== 200) throw new Error(`POST ${i} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    });
    const ingestRate = BULKS / ingest.seconds;
    console.log(
      `ingest: ${ingestRate.toFixed(0)} POSTs/s, p50 ${percentile(ingest.latencies, 50).toFixed(0)} ms, p99 ${percentile(ingest.latencies, 99).toFixed(0)} ms` +
        ` (ratio to plain starts ${(ingestRate / plain.perSecond).toFixed(2)}); sendAt in ${((sendAt - Date.now()) / 1000).toFixed(0)} s`,
    );
    if (Date.now() > sendAt - 5000) throw new Error(`ingest took too long for BENCH_LEAD_S=${LEAD_S}: raise it`);
    const cpu1 = { product: cpuSeconds(product.child.pid), temporal: cpuSeconds(tPid), simulator: cpuSeconds(sim.pid) };

    // Wait for every message at the simulator (or give up BENCH_WAIT_S after sendAt).
    for (;;) {
      const stats = await sim.stats(`bench:${run}-`);
      if (stats.accepted >= BULKS || Date.now() > sendAt + WAIT_S * 1000) break;
      await sleep(500);
    }
    const cpu2 = { product: cpuSeconds(product.child.pid), temporal: cpuSeconds(tPid), simulator: cpuSeconds(sim.pid) };
    const simDb = new SQLite(path.join(sim.dataDir, 'simulator.sqlite'), { readonly: true });
    const refs = new Set(Array.from({ length: BULKS }, (_, i) => messageReference('bench', `${run}-m${i}`)));
    const rows = (simDb.prepare('select reference, accepted_at, attempts from submits where reference like ?').all(`bench:${run}-%`) as Array<{
      reference: string;
      accepted_at: number | null;
      attempts: number;
    }>).filter((r) => refs.has(r.reference));
    simDb.close();
    const lateness = rows.filter((r) => r.accepted_at !== null).map((r) => (r.accepted_at! - sendAt) / 1000).sort((a, b) => a - b);
    // Where the latest one's time went: its workflow's events, relative to sendAt.
    const latest = rows.filter((r) => r.accepted_at !== null).sort((a, b) => b.accepted_at! - a.accepted_at!)[0];
    if (latest) {
      const i = Number(latest.reference.slice(latest.reference.lastIndexOf('-m') + 2));
      const connection = await Connection.connect({ address: product.temporalAddress });
      const history = await new Client({ connection }).workflow.getHandle(`bulk:bench:${run}-${i}`).fetchHistory();
      const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
      const events = (history.events ?? []).map((e) => `${EventType[e.eventType ?? 0]?.replace('EVENT_TYPE_', '')} ${((ms(e.eventTime) - sendAt) / 1000).toFixed(3)}`);
      console.log(`latest bulk ${run}-${i}, accepted ${((latest.accepted_at! - sendAt) / 1000).toFixed(3)} s late; its events (s from sendAt): ${events.join(', ')}`);
      await connection.close();
    }
    const early = lateness.filter((l) => l < 0).length;
    const duplicates = rows.filter((r) => r.attempts > 1).length;
    const lost = BULKS - lateness.length;
    console.log(
      `lateness of first submits: p50 ${percentile(lateness, 50).toFixed(3)} s, p99 ${percentile(lateness, 99).toFixed(3)} s, max ${lateness[lateness.length - 1]!.toFixed(3)} s, early ${early}; not accepted ${lost}, submitted twice ${duplicates}`,
    );

    // Every bulk must finish (its report pushed and counted) — nothing stuck.
    const orch = new SQLite(path.join(product.dataDir, 'orchestrator.sqlite'), { readonly: true });
    const statusOf = () =>
      Object.fromEntries(
        (orch.prepare("select status, count(*) as n from bulks where bulk_id like ? group by status").all(`${run}-%`) as Array<{ status: string; n: number }>).map((r) => [r.status, r.n]),
      ) as Record<string, number>;
    let statuses = statusOf();
    for (const until = Date.now() + Math.max(300, WAIT_S / 2) * 1000; (statuses.FINISHED ?? 0) < BULKS && Date.now() < until; statuses = statusOf()) await sleep(1000);
    orch.close();
    console.log(`bulk statuses: ${JSON.stringify(statuses)}`);
    const cpu = (a: typeof cpu0, b: typeof cpu0) => ({
      product: Number((b.product - a.product).toFixed(1)),
      temporal: Number((b.temporal - a.temporal).toFixed(1)),
      simulator: Number((b.simulator - a.simulator).toFixed(1)),
    });
    console.log(`CPU seconds: ingest ${JSON.stringify(cpu(cpu0, cpu1))}, until the last submit ${JSON.stringify(cpu(cpu1, cpu2))}`);
    console.log(
      JSON.stringify({
        bench: 'schedule',
        bulks: BULKS,
        clients: CLIENTS,
        plainStartsPerSecond: Number(plain.perSecond.toFixed(1)),
        plainStartP99Ms: Number(plain.p99.toFixed(0)),
        ingestPerSecond: Number(ingestRate.toFixed(1)),
        ingestP50Ms: Number(percentile(ingest.latencies, 50).toFixed(0)),
        ingestP99Ms: Number(percentile(ingest.latencies, 99).toFixed(0)),
        ingestRatio: Number((ingestRate / plain.perSecond).toFixed(2)),
        latenessP50S: Number(percentile(lateness, 50).toFixed(3)),
        latenessP99S: Number(percentile(lateness, 99).toFixed(3)),
        latenessMaxS: Number(lateness[lateness.length - 1]!.toFixed(3)),
        early,
        lost,
        duplicates,
        finished: statuses.FINISHED ?? 0,
      }),
    );
  } finally {
    await product.stop();
    sim.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
