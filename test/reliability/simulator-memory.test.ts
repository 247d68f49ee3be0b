/**
 * The simulator keeps what it accepted and the reports it owes in its own SQLite file, so the process that hosts
 * it can die without the in-doubt lookup going blind or a report going missing. Here the "crash" is a second
 * simulator opened on the same file while the first is abandoned (never closed), and, for the process form, a
 * SIGKILL of `npm run simulator`'s process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { HttpSmsProvider } from '../../providers/http-provider';
import { SmsSimulator } from '../../providers/simulator';
import { startSimulatorServer } from '../../providers/simulator-server';
import type { OutboundSms, ProviderDeliveryReport } from '../../providers/types';

const sms = (ref: string): OutboundSms => ({ reference: ref, to: '41793026727', from: 'InfoSMS', text: 'hi', flash: false });
const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sim-memory-'));

describe('the in-process simulator', () => {
  test('after a crash, a new one on the same file knows what was accepted and delivers the reports owed', async () => {
    const file = path.join(tmpDir(), 'simulator.sqlite');
    const before = new SmsSimulator({ file, deliveryDelayMs: 300, submitDelayMs: 0, failureRate: 0, rejectRate: 0 });
    const accepted = await before.submit([sms('acme:a'), sms('acme:b')]);
    // The process dies here: no close, no listener ever took a report.

    const after = new SmsSimulator({ file, deliveryDelayMs: 300, submitDelayMs: 0, failureRate: 0, rejectRate: 0 });
    const held = await after.lookup(['acme:a', 'acme:b', 'acme:never']);
    expect(Object.fromEntries(held)).toEqual({
      'acme:a': (accepted[0] as { providerMessageId: string }).providerMessageId,
      'acme:b': (accepted[1] as { providerMessageId: string }).providerMessageId,
    });
    // A reference it holds is refused as a duplicate, across the restart.
    expect(await after.submit([sms('acme:a')])).toEqual([{ reference: 'acme:a', accepted: false, status: 'REJECTED_DUPLICATE_MESSAGE_ID' }]);
    expect(after.stats('acme:')).toMatchObject({ accepted: 2, duplicates: 1 });

    const got: ProviderDeliveryReport[] = [];
    after.onDeliveryReports((r) => void got.push(...r));
    await waitFor(() => got.filter((r) => r.status === 'DELIVERED_TO_HANDSET').length === 2);
    expect(got.map((r) => `${r.reference} ${r.status}`).sort()).toEqual([
      'acme:a DELIVERED_TO_HANDSET',
      'acme:a DELIVERED_TO_OPERATOR',
      'acme:b DELIVERED_TO_HANDSET',
      'acme:b DELIVERED_TO_OPERATOR',
    ]);
    await waitFor(() => after.owedReports === 0);
    await after.close();
    await before.close();
  });

  test('a report whose listener failed is handed out again', async () => {
    const sim = new SmsSimulator({ file: path.join(tmpDir(), 's.sqlite'), deliveryDelayMs: 0, submitDelayMs: 0, failureRate: 0, rejectRate: 0 });
    await sim.submit([sms('acme:x')]);
    const leased = sim.leaseDueReports(10);
    expect(leased).toHaveLength(2);
    // Leased and not acknowledged: not handed out again until the lease runs out.
    expect(sim.leaseDueReports(10)).toHaveLength(0);
    expect(sim.leaseDueReports(10, Date.now() + 11_000)).toHaveLength(2);
    sim.acknowledgeReports(leased.map((r) => r.id));
    expect(sim.owedReports).toBe(0);
    await sim.close();
  });
});

describe('the simulator as its own process (npm run simulator)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => child?.kill('SIGKILL'));

  async function spawnSimulator(dataDir: string, port = 0): Promise<{ url: string; child: ChildProcess }> {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../../providers/simulator-server.ts')], {
      env: { ...process.env, DATA_DIR: dataDir, SIMULATOR_PORT: String(port), SIMULATOR_DELIVERY_DELAY_MS: '200', SIMULATOR_TOKEN: 'sim-token-123' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: proc.stdout! }).once('line', resolve);
      proc.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
    });
    return { url: `http://127.0.0.1:${(JSON.parse(line) as { listening: number }).listening}`, child: proc };
  }

  test('reports flow back over HTTP; a SIGKILL of the simulator loses neither what it accepted nor what it owes', async () => {
    const dataDir = tmpDir();
    const first = await spawnSimulator(dataDir);
    child = first.child;
    const port = Number(new URL(first.url).port);

    // Without the token every route is refused.
    expect((await fetch(`${first.url}/counter`)).status).toBe(401);

    const provider = new HttpSmsProvider(first.url, { token: 'sim-token-123', pullWaitMs: 200 });
    const results = await provider.submit([sms('acme:p1'), sms('acme:p2')], { deadline: Date.now() + 5000 });
    expect(results.every((r) => r.accepted)).toBe(true);
    // Killed before any report was pulled.
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await spawnSimulator(dataDir, port);
    child = second.child;
    expect(Object.keys(Object.fromEntries(await provider.lookup(['acme:p1', 'acme:p2', 'acme:p3']))).sort()).toEqual(['acme:p1', 'acme:p2']);

    const got: ProviderDeliveryReport[] = [];
    let failOnce = true;
    provider.onDeliveryReports((reports) => {
      // The first hand-over fails (our database is away): it must come again, not be lost.
      if (failOnce) {
        failOnce = false;
        throw new Error('database unavailable');
      }
      got.push(...reports);
    });
    await waitFor(() => got.filter((r) => r.status === 'DELIVERED_TO_HANDSET').length === 2, 30_000);
    const counter = (await (await fetch(`${second.url}/counter`, { headers: { authorization: 'Bearer sim-token-123' } })).json()) as { owedReports: number; accepted: number };
    expect(counter.accepted).toBe(2);
    await waitFor(async () => ((await (await fetch(`${second.url}/counter`, { headers: { authorization: 'Bearer sim-token-123' } })).json()) as { owedReports: number }).owedReports === 0);
    const stats = (await (await fetch(`${second.url}/stats?prefix=acme:`, { headers: { authorization: 'Bearer sim-token-123' } })).json()) as { accepted: number; duplicates: number };
    expect(stats).toMatchObject({ accepted: 2, duplicates: 0 });
    await provider.close();
  }, 60_000);

  test('a submit that reaches it after its deadline is refused whole (409) and nothing of it is accepted', async () => {
    const server = await startSimulatorServer({ port: 0, deliveryDelayMs: 1000, submitDelayMs: 300, failureRate: 0, rejectRate: 0 });
    const provider = new HttpSmsProvider(`http://127.0.0.1:${server.port}`);
    await expect(provider.submit([sms('acme:late')], { deadline: Date.now() + 100 })).rejects.toThrow();
    // Give the server the time to process what it had received.
    await new Promise((r) => setTimeout(r, 500));
    expect(server.simulator.hasAccepted('acme:late')).toBe(false);
    await provider.close();
    await server.close();
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
