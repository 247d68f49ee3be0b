/**
 * npm run bench:dispatch — a 100k-destination bulk through the embedded stack (dev server, worker, SQLite
 * file, API) to the simulator running as a separate process on loopback, against a plain loop feeding the same
 * simulator with the same client and chunk size. Last line: one JSON object with the figures.
 *
 *   BENCH_MESSAGES=20000 npm run bench:dispatch    # a smaller run
 */
import { SUBMIT_CHUNK } from '../activities';
import type { OutboundSms } from '../providers/types';
import { api, numbers, runBench, type Simulator, waitDispatched } from './harness';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);

async function plainLoop(sim: Simulator): Promise<number> {
  const to = numbers(MESSAGES);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i += SUBMIT_CHUNK) {
    const batch: OutboundSms[] = to.slice(i, i + SUBMIT_CHUNK).map((n, k) => ({
      reference: `baseline:${i + k}`,
      to: n,
      from: 'Bench',
      text: 'Benchmark message',
      flash: false,
    }));
    await sim.provider.submit(batch);
  }
  return MESSAGES / ((performance.now() - started) / 1000);
}

runBench(async (sim, stack) => {
  console.log(`plain loop: ${MESSAGES} messages in chunks of ${SUBMIT_CHUNK} to the simulator process…`);
  const baselinePerSecond = await plainLoop(sim);
  console.log(`plain loop: ${baselinePerSecond.toFixed(0)} messages/s`);

  const body = JSON.stringify({
    bulkId: 'bench-100k',
    messages: [{ from: 'Bench', text: 'Benchmark message', destinations: numbers(MESSAGES).map((to) => ({ to })) }],
  });
  console.log(`bulk: POST ${(body.length / 1e6).toFixed(1)} MB, ${MESSAGES} destinations…`);
  const started = performance.now();
  await api(stack, 'POST', '/sms/2/text/advanced', body);
  const accepted = performance.now();
  const counts = await waitDispatched(stack.client, 'bench-100k', MESSAGES);
  const finished = performance.now();
  const dispatchSeconds = (finished - accepted) / 1000;
  const messagesPerSecond = MESSAGES / dispatchSeconds;

  const stats = await sim.stats('bench:');
  const figures = {
    messages: MESSAGES,
    messagesPerSecond: Math.round(messagesPerSecond),
    endToEndPerSecond: Math.round(MESSAGES / ((finished - started) / 1000)),
    acceptMs: Math.round(accepted - started),
    baselinePerSecond: Math.round(baselinePerSecond),
    ratio: Number((messagesPerSecond / baselinePerSecond).toFixed(3)),
    workflowSent: counts.sent,
    duplicates: stats.duplicates,
    lost: MESSAGES - stats.accepted,
  };
  console.log(`bulk: accepted in ${figures.acceptMs} ms, dispatched in ${dispatchSeconds.toFixed(1)} s`);
  console.log(JSON.stringify(figures));
});
