/**
 * `npm start` as an operator runs it: stopped by the signals systemd, Docker or a plain `kill` send, and
 * started on a port that is taken. Nothing it started may be left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TestSmsc } from '../helpers/smsc';
import { eventually } from '../helpers/stack';
import { freePort } from '../helpers/temporal';

const ROOT = path.join(__dirname, '../..');

/** Every process below `pid` (from /proc), so the test can see what a stop left behind. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry), ...descendants(Number(entry)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z';
  } catch {
    return false;
  }
};

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

async function npmStart(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string; ready: Promise<void>; exited: Promise<number | null> }> {
  // Its own process group, as a terminal's foreground job (Ctrl-C and a closed terminal signal the group).
  const child = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (!/^API:/m.test(text)) return;
      clearInterval(timer);
      resolve();
    }, 100);
    void exited.then(() => {
      clearInterval(timer);
      reject(new Error(`npm start exited:\n${text}`));
    });
  });
  return { child, output: () => text, ready, exited };
}

async function ports() {
  return { PORT: await freePort(), TEMPORAL_PORT: await freePort(), TEMPORAL_UI_PORT: await freePort() };
}

const baseEnv = () => ({ DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'lifecycle-')), API_KEYS: 'acme:acme-secret-key-1', HOST: '127.0.0.1', LOG_LEVEL: 'warn' });

// SIGTERM to npm's own pid (what `kill`, systemd and Docker send to the main process); Ctrl-C and a closed
// terminal signal the whole foreground process group.
test.each([
  ['SIGTERM to the npm process', 'SIGTERM', false],
  ['Ctrl-C (SIGINT to the process group)', 'SIGINT', true],
  ['a closed terminal (SIGHUP to the process group)', 'SIGHUP', true],
] as const)('%s stops the API, the worker and the Temporal server', async (_name, signal, group) => {
  const p = await ports();
  const run = await npmStart({ ...baseEnv(), ...Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)])) });
  await run.ready;
  expect(await listening(p.PORT)).toBe(true);
  expect(await listening(p.TEMPORAL_PORT)).toBe(true);
  const started = descendants(run.child.pid!);
  expect(started.length).toBeGreaterThanOrEqual(2);

  if (group) process.kill(-run.child.pid!, signal);
  else run.child.kill(signal);
  await run.exited;
  const until = Date.now() + 30_000;
  while (started.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  expect(started.filter(alive)).toEqual([]);
  expect(await listening(p.PORT)).toBe(false);
  expect(await listening(p.TEMPORAL_PORT)).toBe(false);
}, 90_000);

test('npm start on a port in use fails at once naming the port, and leaves nothing running', async () => {
  const p = await ports();
  const blocker = net.createServer().listen(p.PORT, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  try {
    const run = await npmStart({ ...baseEnv(), ...Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)])) });
    run.ready.catch(() => undefined);
    const code = await run.exited;
    expect(code).not.toBe(0);
    expect(run.output()).toContain(`port ${p.PORT} is already in use`);
    expect(run.output()).not.toMatch(/^API:/m);
    // The embedded Temporal server it had started is stopped again.
    expect(await listening(p.TEMPORAL_PORT)).toBe(false);
  } finally {
    blocker.close();
  }
}, 90_000);

describe('SMS_PROVIDER=smpp', () => {
  let smsc: TestSmsc;
  beforeAll(async () => {
    smsc = await TestSmsc.start();
  }, 60_000);
  afterAll(async () => {
    await smsc?.kill();
  });

  const smppEnv = (password: string) => ({ SMS_PROVIDER: 'smpp', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: smsc.systemId, SMPP_PASSWORD: password });

  test('a bind refused for bad credentials stops npm start with the reason, and leaves nothing running', async () => {
    const p = await ports();
    const run = await npmStart({ ...baseEnv(), ...smppEnv('wrongpw'), ...Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)])) });
    run.ready.catch(() => undefined);
    const code = await run.exited;
    expect(code).not.toBe(0);
    expect(run.output()).toMatch(/startup failed: SMPP: the SMSC refused the bind: ESME_RINVPASWD .*check SMPP_SYSTEM_ID and SMPP_PASSWORD/);
    expect(run.output()).not.toMatch(/^API:/m);
    expect(await listening(p.TEMPORAL_PORT)).toBe(false);
  }, 90_000);

  test('/healthz follows the bind: 503 while the SMSC is away, 200 once bound again; a stop unbinds cleanly', async () => {
    const p = await ports();
    const run = await npmStart({ ...baseEnv(), ...smppEnv(smsc.password), ...Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)])) });
    await run.ready;
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${p.PORT}/healthz`);
      return { status: res.status, body: (await res.json()) as { reason?: string } };
    };
    expect((await health()).status).toBe(200);
    await smsc.kill();
    const down = await eventually(async () => {
      const h = await health();
      return h.status === 503 ? h : undefined;
    });
    expect(down.body.reason).toMatch(/SMPP bind is down/);
    await smsc.run();
    await eventually(async () => (await health()).status === 200, 30_000);
    const started = descendants(run.child.pid!);
    run.child.kill('SIGTERM');
    await run.exited;
    await eventually(async () => !started.some(alive), 30_000);
    // The SMSC saw an unbind before the connection closed (not just a dropped socket).
    expect(smsc.log()).toMatch(/STATE UNBOUND BIND_TRX\n(.*\n)*CLOSED BIND_TRX/);
  }, 120_000);
});
