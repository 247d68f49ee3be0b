/**
 * Short versions of the crash scenarios (`npm run test:chaos` runs them at 100k messages): real processes,
 * SIGKILLed and restarted, a Temporal dev server on a file, PostgreSQL restarted. Each asserts the promise:
 * every message accepted by the provider exactly once, final, with its report, and every bulk FINISHED.
 */
import { TestSmsc } from '../helpers/smsc';
import { appKills, type ChaosFigures, postgresRestart, smppWorkerKills, temporalKill, workerKills } from './chaos';

const SHORT = { messages: 20_000, submitDelayMs: 200, killAfterMs: [500, 3000] as [number, number] };
const log = (line: string) => {
  if (process.env.CHAOS_LOG) process.stderr.write(`[chaos] ${line}\n`);
};

function expectPromiseKept(f: ChaosFigures): void {
  // Printed so that a CI log shows the figures of the run.
  process.stdout.write(`${JSON.stringify(f)}\n`);
  expect(f).toMatchObject({ duplicates: 0, lost: 0, notFinal: 0, withoutReport: 0, unfinishedBulks: 0 });
  expect(f.accepted).toBe(f.messages);
  // At least one fault fell in the middle of the dispatch, where it can do harm.
  expect(f.killsDuringDispatch).toBeGreaterThanOrEqual(1);
}

test('worker process SIGKILLed 3 times during a dispatch to the simulator process', async () => {
  expectPromiseKept(await workerKills({ ...SHORT, kills: 3, log }));
}, 600_000);

test('the all-in-one process (in-process simulator) SIGKILLed 2 times during a dispatch', async () => {
  expectPromiseKept(await appKills({ ...SHORT, kills: 2, log }));
}, 600_000);

test('the Temporal server SIGKILLed while 50 bulks are scheduled and one dispatches, restarted on its file', async () => {
  expectPromiseKept(await temporalKill({ ...SHORT, kills: 1, scheduled: 50, log }));
}, 600_000);

test('PostgreSQL restarted during a dispatch', async () => {
  expectPromiseKept(await postgresRestart({ ...SHORT, kills: 1, log }));
}, 600_000);

test('SMPP: the worker SIGKILLed 2 times while it submits to the test SMSC', async () => {
  const smsc = await TestSmsc.start({ receiptDelayMs: 100 });
  try {
    const window = 10;
    const f = await smppWorkerKills({ messages: 20_000, kills: 2, killAfterMs: [200, 1500], smsc, window, log });
    process.stdout.write(`${JSON.stringify(f)}\n`);
    // Never twice at the SMSC; every message final with its report; the bulk FINISHED.
    expect(f).toMatchObject({ duplicates: 0, notFinal: 0, withoutReport: 0, unfinishedBulks: 0 });
    expect(f.killsDuringDispatch).toBeGreaterThanOrEqual(1);
    // Delivered exactly when the SMSC took it; the rest were in doubt at a kill and are reported as such.
    expect(f.delivered).toBe(f.accepted);
    expect(f.delivered + f.expiredUnknown).toBe(f.messages);
    // In doubt per kill: the window on the wire, the rows journaled ahead of it (4 windows), and the acceptances
    // not yet written (up to 20 ms of submits).
    expect(f.expiredUnknown).toBeLessThanOrEqual(f.kills * (5 * window + 100));
  } finally {
    await smsc.kill();
  }
}, 600_000);
