/**
 * Crash scenarios against the product as it is deployed: real processes (`scripts/start.ts worker|api|all`,
 * `providers/simulator-server.ts`), a real Temporal dev server on a file, SQLite or PostgreSQL, killed with
 * SIGKILL at random moments and restarted. Each scenario returns its figures; the caller asserts on them.
 * `npm run test:chaos` runs the full sizes (test/chaos/run.ts); `npm test` runs short ones (chaos.test.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import SQLite from 'better-sqlite3';
import { Client as PgClient } from 'pg';
import { startDevServer } from '../../temporal/dev-server';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import type { TestSmsc } from '../helpers/smsc';
import { freePort } from '../helpers/temporal';

const ROOT = path.join(__dirname, '../..');
const ACCOUNT = 'chaos';
const API_KEY = 'chaos-api-key-0123456789';
const SIM_TOKEN = 'chaos-simulator-token';

export interface ChaosFigures {
  scenario: string;
  messages: number;
  bulks: number;
  kills: number;
  /** Of those, kills that fell before the provider held every message of the bulk. */
  killsDuringDispatch: number;
  /** Messages the simulator holds (accepted once each is the goal). */
  accepted: number;
  /** Submits that repeated a reference already submitted. */
  duplicates: number;
  /** Messages of the bulks the simulator never accepted. */
  lost: number;
  /** Messages whose stored state is not FINAL. */
  notFinal: number;
  /** Messages without a final report in the outbox. */
  withoutReport: number;
  /** Bulks whose stored status is not FINISHED. */
  unfinishedBulks: number;
  seconds: number;
}

export interface ChaosOptions {
  messages: number;
  kills: number;
  /** Latency of every submit call, so that the dispatch lasts long enough to be cut several times. */
  submitDelayMs?: number;
  /** A kill falls this long (uniformly random within) after the killed process became ready. */
  killAfterMs?: [number, number];
  log?: (line: string) => void;
}

const random = (min: number, max: number) => min + Math.random() * (max - min);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One child process of the product, restartable. */
class Role {
  child: ChildProcess | undefined;
  output: string[] = [];
  /** Set when the process exited without being told to (a crash of ours, not a kill of the scenario's). */
  died: string | undefined;
  constructor(
    private readonly name: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly readyLine: RegExp,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', ...this.args], { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const lines = readline.createInterface({ input: child.stdout! });
    readline.createInterface({ input: child.stderr! }).on('line', (l) => this.keep(l));
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${this.name} exited (${code}) before it was ready:\n${this.output.slice(-20).join('\n')}`));
      child.once('exit', onExit);
      lines.on('line', (l) => {
        this.keep(l);
        if (this.readyLine.test(l)) {
          child.off('exit', onExit);
          child.once('exit', (code, signal) => {
            if (this.child === child && !this.killing) this.died ??= `${this.name} exited by itself (${code ?? signal}):\n${this.output.slice(-30).join('\n')}`;
          });
          resolve();
        }
      });
    });
  }

  private keep(line: string): void {
    this.output.push(line);
    if (this.output.length > 200) this.output.shift();
  }

  private killing = false;

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    this.killing = true;
    child.kill(signal);
    await exited;
    this.killing = false;
  }
}

interface Deployment {
  dir: string;
  /** The SMSC of an SMPP deployment (the provider then). */
  smsc?: TestSmsc;
  temporalPort: number;
  apiUrl: string;
  roles: Role[];
  pg?: TestPostgres;
  databaseUrl?: string;
  simulatorUrl?: string;
  restartTemporal(afterMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Temporal on a file, optionally PostgreSQL and the simulator as its own process, then the given roles.
 * `separate`: one API and one worker process; otherwise one `all` process (with the in-process simulator).
 */
async function deploy(opts: { separate: boolean; postgres?: boolean; submitDelayMs: number; smpp?: { smsc: TestSmsc; env: NodeJS.ProcessEnv } }): Promise<Deployment> {
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is not set: run through npm test or npm run test:chaos');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-'));
  const temporalPort = await freePort();
  const dbFile = path.join(dir, 'temporal.sqlite');
  let temporal = await startDevServer({ cliPath, port: temporalPort, dbFile });
  const pg = opts.postgres ? await startTestPostgres() : undefined;
  const apiPort = await freePort();
  const common: NodeJS.ProcessEnv = {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: 'chaos',
    DATA_DIR: path.join(dir, 'data'),
    API_KEYS: `${ACCOUNT}:${API_KEY}`,
    WEBHOOK_SECRETS: `${ACCOUNT}:chaos-webhook-secret`,
    PORT: String(apiPort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    // Short submit deadlines: a retried batch waits out the lease (timeout + 10 s) before its lookup.
    PROVIDER_SUBMIT_TIMEOUT_MS: '5000',
    SIMULATOR_DELIVERY_DELAY_MS: '2000',
    SIMULATOR_SUBMIT_DELAY_MS: String(opts.submitDelayMs),
    ...(pg ? { DATABASE_URL: pg.url } : {}),
    ...(opts.smpp?.env ?? {}),
  };
  const roles: Role[] = [];
  let simulatorUrl: string | undefined;
  const teardown = async () => {
    for (const r of [...roles].reverse()) await r.kill('SIGTERM');
    await temporal.stop();
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (opts.separate && opts.smpp) {
      const api = new Role('api', ['scripts/start.ts', 'api'], common, /^API:/);
      const worker = new Role('worker', ['scripts/start.ts', 'worker'], common, /^Worker:/);
      roles.push(api, worker);
      await Promise.all([api.start(), worker.start()]);
    } else if (opts.separate) {
      const simPort = await freePort();
      const sim = new Role('simulator', ['providers/simulator-server.ts'], { ...common, DATA_DIR: path.join(dir, 'simulator'), SIMULATOR_PORT: String(simPort), SIMULATOR_TOKEN: SIM_TOKEN }, /"listening"/);
      await sim.start();
      roles.push(sim);
      simulatorUrl = `http://127.0.0.1:${simPort}`;
      const withSim = { ...common, SIMULATOR_URL: simulatorUrl, SIMULATOR_TOKEN: SIM_TOKEN };
      const api = new Role('api', ['scripts/start.ts', 'api'], withSim, /^API:/);
      const worker = new Role('worker', ['scripts/start.ts', 'worker'], withSim, /^Worker:/);
      roles.push(api, worker);
      await Promise.all([api.start(), worker.start()]);
    } else {
      const all = new Role('all', ['scripts/start.ts', 'all'], common, /^API:/);
      roles.push(all);
      await all.start();
    }
  } catch (err) {
    await teardown();
    throw err;
  }
  return {
    dir,
    smsc: opts.smpp?.smsc,
    temporalPort,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    roles,
    pg,
    databaseUrl: pg?.url,
    simulatorUrl,
    async restartTemporal(afterMs: number) {
      temporal.process?.kill('SIGKILL');
      await new Promise((r) => temporal.process?.once('exit', r));
      await sleep(afterMs);
      temporal = await startDevServer({ cliPath, port: temporalPort, dbFile });
    },
    stop: teardown,
  };
}

async function api(d: Deployment, method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${d.apiUrl}${pathAndQuery}`, {
    method,
    headers: { authorization: `App ${API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

async function postBulk(d: Deployment, bulkId: string, messages: number, sendAt?: string): Promise<void> {
  const destinations = Array.from({ length: messages }, (_, i) => ({ to: String(41_790_000_000 + i), messageId: `${bulkId}-${i}` }));
  const res = await api(d, 'POST', '/sms/2/text/advanced', { bulkId, messages: [{ from: 'Chaos', text: 'Chaos test', destinations, ...(sendAt ? { sendAt } : {}) }] });
  if (res.status !== 200) throw new Error(`POST ${bulkId} answered ${res.status}: ${JSON.stringify(res.json)}`);
}

/** Stored state of the bulks, straight from the database the processes share. */
async function storedFigures(d: Deployment, bulkIds: string[]): Promise<{ notFinal: number; withoutReport: number; unfinishedBulks: number }> {
  // `bulks` is the placeholder list of the bulk ids (after the account's placeholder).
  const queries = (account: string, bulks: string) => ({
    notFinal: `select count(*) as n from messages where account_id = ${account} and bulk_id in (${bulks}) and state <> 'FINAL'`,
    // NOT IN over one subquery (hashed once), not a correlated NOT EXISTS: reports has no index on message_id.
    withoutReport: `select count(*) as n from messages where account_id = ${account} and bulk_id in (${bulks}) and message_id not in (select message_id from reports where account_id = ${account} and bulk_id in (${bulks}) and final = 1)`,
    unfinishedBulks: `select count(*) as n from bulks where account_id = ${account} and bulk_id in (${bulks}) and status <> 'FINISHED'`,
  });
  if (d.databaseUrl) {
    const pg = new PgClient({ connectionString: d.databaseUrl });
    await pg.connect();
    try {
      const q = queries('$1', bulkIds.map((_, i) => `$${i + 2}`).join(','));
      // PostgreSQL numbers its parameters, so one list serves every placeholder of a query.
      const one = async (text: string) => Number((await pg.query<{ n: string }>(text, [ACCOUNT, ...bulkIds])).rows[0]!.n);
      return { notFinal: await one(q.notFinal), withoutReport: await one(q.withoutReport), unfinishedBulks: await one(q.unfinishedBulks) };
    } finally {
      await pg.end();
    }
  }
  const db = new SQLite(path.join(d.dir, 'data', 'orchestrator.sqlite'), { readonly: true });
  try {
    const q = queries('?', bulkIds.map(() => '?').join(','));
    // SQLite's ? placeholders are positional: the account and the list repeat as often as the query names them.
    const one = (text: string) => {
      const uses = (text.match(/\?/g) ?? []).length / (1 + bulkIds.length);
      return (db.prepare(text).get(...Array.from({ length: uses }, () => [ACCOUNT, ...bulkIds]).flat()) as { n: number }).n;
    };
    return { notFinal: one(q.notFinal), withoutReport: one(q.withoutReport), unfinishedBulks: one(q.unfinishedBulks) };
  } finally {
    db.close();
  }
}

/** What the provider holds of the bulks: from the simulator process, or the in-process simulator's file. */
async function providerFigures(d: Deployment, bulkIds: string[]): Promise<{ accepted: number; duplicates: number }> {
  let accepted = 0;
  let duplicates = 0;
  if (d.smsc) {
    // One bulk per SMPP scenario: its destinations are the SMSC's whole journal.
    const tos = d.smsc.accepted().map((a) => a.to);
    return { accepted: new Set(tos).size, duplicates: tos.length - new Set(tos).size };
  }
  for (const bulkId of bulkIds) {
    const prefix = `${ACCOUNT}:${bulkId}-`;
    if (d.simulatorUrl) {
      const res = await fetch(`${d.simulatorUrl}/stats?prefix=${encodeURIComponent(prefix)}`, { headers: { authorization: `Bearer ${SIM_TOKEN}` } });
      const s = (await res.json()) as { accepted: number; duplicates: number };
      accepted += s.accepted;
      duplicates += s.duplicates;
    } else {
      const db = new SQLite(path.join(d.dir, 'data', 'simulator.sqlite'), { readonly: true });
      const s = db
        .prepare('select count(provider_id) as accepted, coalesce(sum(attempts - 1), 0) as duplicates from submits where reference >= ? and reference < ?')
        .get(prefix, `${prefix}\uffff`) as { accepted: number; duplicates: number };
      db.close();
      accepted += s.accepted;
      duplicates += s.duplicates;
    }
  }
  return { accepted, duplicates };
}

/** Waits until every bulk reads FINISHED through the API (which may be down meanwhile). */
async function waitFinished(d: Deployment, bulkIds: string[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  const open = new Set(bulkIds);
  while (open.size > 0) {
    const died = d.roles.find((r) => r.died)?.died;
    if (died) throw new Error(died);
    if (Date.now() > until) throw new Error(`bulks not FINISHED within ${timeoutMs} ms: ${[...open].slice(0, 5).join(', ')}`);
    for (const bulkId of [...open]) {
      try {
        const res = await api(d, 'GET', `/sms/1/bulks/status?bulkId=${encodeURIComponent(bulkId)}`);
        if (res.status === 200 && (res.json as { status: string }).status === 'FINISHED') open.delete(bulkId);
      } catch {
        // The API process is down or restarting: try again.
      }
    }
    await sleep(500);
  }
}

async function figures(
  d: Deployment,
  scenario: string,
  bulkIds: string[],
  messages: number,
  kills: number,
  killsDuringDispatch: number,
  started: number,
): Promise<ChaosFigures> {
  // Pushes and final writes of the last reports land shortly after the status flips.
  const provider = await providerFigures(d, bulkIds);
  const stored = await storedFigures(d, bulkIds);
  return {
    scenario,
    messages,
    bulks: bulkIds.length,
    kills,
    killsDuringDispatch,
    accepted: provider.accepted,
    duplicates: provider.duplicates,
    lost: messages - provider.accepted,
    ...stored,
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

/** How many messages of the bulk the provider holds so far. */
async function acceptedSoFar(d: Deployment, bulkId: string): Promise<number> {
  try {
    return (await providerFigures(d, [bulkId])).accepted;
  } catch {
    return NaN;
  }
}

/** Resolves once the provider holds more than `since` messages of the bulk (or all of them). */
async function waitForProgress(d: Deployment, bulkId: string, since: number, total: number, timeoutMs = 180_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await acceptedSoFar(d, bulkId);
    if (accepted > since || accepted >= total) return;
    const died = d.roles.find((r) => r.died)?.died;
    if (died) throw new Error(died);
    if (Date.now() > until) throw new Error(`no progress past ${since} within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/**
 * Applies `fault` `opts.kills` times, each at a random moment once the provider took something since the last
 * one. Returns how many faults fell while the bulk was still being dispatched.
 */
async function faultRepeatedly(d: Deployment, bulkId: string, opts: ChaosOptions, name: string, fault: () => Promise<void>): Promise<number> {
  const [min, max] = opts.killAfterMs ?? [1000, 5000];
  let duringDispatch = 0;
  let atLast = -1;
  for (let k = 1; k <= opts.kills; k++) {
    await waitForProgress(d, bulkId, atLast, opts.messages);
    await sleep(random(min, max));
    atLast = await acceptedSoFar(d, bulkId);
    if (atLast < opts.messages) duringDispatch++;
    opts.log?.(`${name} ${k}/${opts.kills} with ${atLast} of ${opts.messages} accepted`);
    await fault();
  }
  return duringDispatch;
}

/** SIGKILL of a role, restarted at once. */
const killAndRestart = (role: Role) => async () => {
  await role.kill('SIGKILL');
  await role.start();
};

/**
 * The worker process is killed during a dispatch to the simulator in its own process; the API process stays
 * up. Every message must be accepted exactly once and end final with its report, the bulk FINISHED.
 */
export async function workerKills(opts: ChaosOptions): Promise<ChaosFigures> {
  const d = await deploy({ separate: true, submitDelayMs: opts.submitDelayMs ?? 100 });
  try {
    const started = Date.now();
    await postBulk(d, 'worker-kills', opts.messages);
    // roles: simulator, api, worker
    const during = await faultRepeatedly(d, 'worker-kills', opts, 'worker SIGKILL', killAndRestart(d.roles[2]!));
    await waitFinished(d, ['worker-kills'], 15 * 60_000);
    return await figures(d, 'worker SIGKILL (simulator in its own process)', ['worker-kills'], opts.messages, opts.kills, during, started);
  } finally {
    await d.stop();
  }
}

/** `npm start`'s process itself (API, worker and the in-process simulator) is killed and restarted. */
export async function appKills(opts: ChaosOptions): Promise<ChaosFigures> {
  const d = await deploy({ separate: false, submitDelayMs: opts.submitDelayMs ?? 100 });
  try {
    const started = Date.now();
    await postBulk(d, 'app-kills', opts.messages);
    const during = await faultRepeatedly(d, 'app-kills', opts, 'all-in-one SIGKILL', killAndRestart(d.roles[0]!));
    await waitFinished(d, ['app-kills'], 15 * 60_000);
    return await figures(d, 'all-in-one SIGKILL (in-process simulator)', ['app-kills'], opts.messages, opts.kills, during, started);
  } finally {
    await d.stop();
  }
}

/**
 * The Temporal server is killed while `scheduled` bulks wait for their sendAt and one bulk dispatches, and
 * restarted on the same file after a pause. Every bulk must fire; nothing lost or doubled.
 */
export async function temporalKill(opts: ChaosOptions & { scheduled: number }): Promise<ChaosFigures> {
  const d = await deploy({ separate: true, submitDelayMs: opts.submitDelayMs ?? 100 });
  try {
    const started = Date.now();
    const sendAt = new Date(Date.now() + 20_000).toISOString();
    const scheduled = Array.from({ length: opts.scheduled }, (_, i) => `sched-${i}`);
    for (const bulkId of scheduled) await postBulk(d, bulkId, 1, sendAt);
    await postBulk(d, 'dispatching', opts.messages);
    const during = await faultRepeatedly(d, 'dispatching', opts, 'Temporal server SIGKILL', () => d.restartTemporal(3000));
    const all = [...scheduled, 'dispatching'];
    await waitFinished(d, all, 15 * 60_000);
    return await figures(d, 'Temporal server SIGKILL and restart', all, opts.messages + opts.scheduled, opts.kills, during, started);
  } finally {
    await d.stop();
  }
}

/** PostgreSQL is restarted (immediate shutdown) during a dispatch; worker and API stay up. */
export async function postgresRestart(opts: ChaosOptions): Promise<ChaosFigures> {
  const d = await deploy({ separate: true, postgres: true, submitDelayMs: opts.submitDelayMs ?? 100 });
  try {
    const started = Date.now();
    await postBulk(d, 'pg-restart', opts.messages);
    const during = await faultRepeatedly(d, 'pg-restart', opts, 'PostgreSQL restart', () => d.pg!.restart(2000));
    await waitFinished(d, ['pg-restart'], 15 * 60_000);
    return await figures(d, 'PostgreSQL restart', ['pg-restart'], opts.messages, opts.kills, during, started);
  } finally {
    await d.stop();
  }
}

/** Messages of the bulks by final status, from the stored messages. */
async function statusCounts(d: Deployment, bulkId: string): Promise<Map<string, number>> {
  const db = new SQLite(path.join(d.dir, 'data', 'orchestrator.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('select status_name as s, count(*) as n from messages where account_id = ? and bulk_id = ? group by status_name').all(ACCOUNT, bulkId) as Array<{ s: string; n: number }>;
    return new Map(rows.map((r) => [r.s, r.n]));
  } finally {
    db.close();
  }
}

/**
 * SMS_PROVIDER=smpp: the worker process is killed while it submits over SMPP to the test SMSC, and restarted. The journal must keep every destination at most once at the
 * SMSC; a part in doubt (written, unanswered at the kill, or journaled ahead and never written) is never sent
 * again and ends EXPIRED_DLR_UNKNOWN unless a receipt found it; everything else is delivered; all final.
 */
export async function smppWorkerKills(opts: ChaosOptions & { smsc: TestSmsc; window: number; inDoubtWaitS?: number }): Promise<ChaosFigures & { delivered: number; expiredUnknown: number; inDoubt: number }> {
  const env = {
    SMS_PROVIDER: 'smpp',
    SMPP_HOST: '127.0.0.1',
    SMPP_PORT: String(opts.smsc.port),
    SMPP_SYSTEM_ID: opts.smsc.systemId,
    SMPP_PASSWORD: opts.smsc.password,
    SMPP_WINDOW: String(opts.window),
    // Long enough for the SMSC to redeliver the receipts it owes to the restarted worker under a loaded machine
    // (and, at full size, for them to come through the backlog of receipts ahead of them).
    SMPP_IN_DOUBT_WAIT_S: String(opts.inDoubtWaitS ?? 30),
  };
  const d = await deploy({ separate: true, submitDelayMs: 0, smpp: { smsc: opts.smsc, env } });
  try {
    const started = Date.now();
    await postBulk(d, 'smpp-kills', opts.messages);
    // roles: api, worker
    const during = await faultRepeatedly(d, 'smpp-kills', opts, 'worker SIGKILL (SMPP)', killAndRestart(d.roles[1]!));
    await waitFinished(d, ['smpp-kills'], 10 * 60_000);
    const f = await figures(d, 'worker SIGKILL (SMPP to the test SMSC)', ['smpp-kills'], opts.messages, opts.kills, during, started);
    const statuses = await statusCounts(d, 'smpp-kills');
    const db = new SQLite(path.join(d.dir, 'data', 'orchestrator.sqlite'), { readonly: true });
    const inDoubt = (db.prepare("select count(*) as n from smpp_parts where state in ('sending', 'unconfirmed')").get() as { n: number }).n;
    db.close();
    return { ...f, delivered: statuses.get('DELIVERED_TO_HANDSET') ?? 0, expiredUnknown: statuses.get('EXPIRED_DLR_UNKNOWN') ?? 0, inDoubt };
  } finally {
    await d.stop();
  }
}
