/**
 * npm run bench:dispatch — a 100k-destination bulk through the embedded stack (dev server, worker, SQLite
 * file, API) to the simulator running as a separate process on loopback, against a plain loop feeding the same
 * simulator with the same client and chunk size.
 *
 * This machine's speed drifts by tens of percent within a minute, so plain loop and bulk alternate: each
 * round's bulk is compared with the mean of the plain loops just before and just after it, and the figures are
 * the median over the rounds. A smaller loop and bulk first warm both paths up (JIT) and are not counted. Both are timed on one clock: from the start (the loop's first submit; the API's
 * accept reply for the bulk) to the simulator's acceptance of the last message. Last line: one JSON object.
 *
 *   BENCH_MESSAGES=20000 BENCH_ROUNDS=1 npm run bench:dispatch    # a smaller run
 *   BENCH_BATCH=2000 BENCH_CONCURRENCY=4 BENCH_LANES=2 npm run bench:dispatch    # other dispatch tuning
 */
import { randomUUID } from 'node:crypto';
import { SUBMIT_CHUNK } from '../activities';
import { messageReference, type OutboundSms } from '../providers/types';
import { api, cpuMeter, numbers, runBench, type Simulator, type Stack, waitAccepted, waitDispatched, waitFinished } from './harness';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARM_UP = Math.max(1000, Math.floor(MESSAGES / 5));

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function plainLoop(sim: Simulator, stack: Stack, label: string, messages = MESSAGES): Promise<number> {
  const to = numbers(messages);
  // The bulk's messages, as the loop sends them: references shaped like the bulk's (a prefix and a generated
  // UUID, as the API gives a destination without a messageId), made before the clock starts, as the API's are.
  const references = to.map(() => messageReference(label, randomUUID()));
  const cpu = cpuMeter(sim, stack);
  const { accepted: base } = await sim.progress();
  const started = Date.now();
  for (let i = 0; i < messages; i += SUBMIT_CHUNK) {
    const batch: OutboundSms[] = to.slice(i, i + SUBMIT_CHUNK).map((n, k) => ({
      reference: references[i + k]!,
      to: n,
      from: 'Bench',
      text: 'Benchmark message',
      flash: false,
    }));
    await sim.provider.submit(batch);
  }
  const perSecond = messages / (((await waitAccepted(sim, base, messages)) - started) / 1000);
  console.log(`${label}: ${perSecond.toFixed(0)} messages/s, CPU seconds ${JSON.stringify(cpu())}`);
  return perSecond;
}

interface BulkRun {
  perSecond: number;
  acceptMs: number;
  workflowSent: number;
}

async function bulk(sim: Simulator, stack: Stack, bulkId: string, messages = MESSAGES): Promise<BulkRun> {
  const body = JSON.stringify({
    bulkId,
    messages: [{ from: 'Bench', text: 'Benchmark message', destinations: numbers(messages).map((to) => ({ to })) }],
  });
  const { accepted: base } = await sim.progress();
  let cpu = cpuMeter(sim, stack);
  const started = Date.now();
  await api(stack, 'POST', '/sms/2/text/advanced', body);
  const accepted = Date.now();
  console.log(`${bulkId}: POST of ${(body.length / 1e6).toFixed(1)} MB accepted in ${accepted - started} ms, CPU seconds ${JSON.stringify(cpu())}`);
  cpu = cpuMeter(sim, stack);
  const finished = await waitAccepted(sim, base, messages);
  const cpuSeconds = cpu();
  // The workflow's own count, once its batches have recorded their outcomes.
  const counts = await waitDispatched(stack.client, bulkId, messages);
  const perSecond = messages / ((finished - accepted) / 1000);
  console.log(`${bulkId}: dispatched at ${perSecond.toFixed(0)} messages/s, CPU seconds ${JSON.stringify(cpuSeconds)}`);
  // Its delivery reports come REPORT_DELAY_MS after acceptance; the next round starts once they are all in and
  // the workflow has closed by itself, so applying them adds nothing to a measured phase.
  const final = await waitFinished(stack.client, bulkId);
  if (final.delivered !== messages) throw new Error(`${bulkId}: ${final.delivered} of ${messages} delivered`);
  return { perSecond, acceptMs: accepted - started, workflowSent: counts.sent };
}

runBench(async (sim, stack) => {
  console.log(`warm-up: ${WARM_UP} messages by plain loop and by bulk (not counted)`);
  await plainLoop(sim, stack, 'warm-up-loop', WARM_UP);
  await bulk(sim, stack, 'warm-up', WARM_UP);
  console.log(`${ROUNDS} rounds of ${MESSAGES} messages, plain loop in chunks of ${SUBMIT_CHUNK} between bulks`);
  const baselines = [await plainLoop(sim, stack, 'loop-0')];
  const runs: BulkRun[] = [];
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const run = await bulk(sim, stack, `bench-${round}`);
    baselines.push(await plainLoop(sim, stack, `loop-${round}`));
    const around = (baselines[round - 1]! + baselines[round]!) / 2;
    ratios.push(run.perSecond / around);
    runs.push(run);
    console.log(`round ${round}: ratio ${ratios[round - 1]!.toFixed(3)}`);
  }
  // Every bulk message reference starts with the account: what the simulator holds of them, and any repeat.
  const stats = await sim.stats('bench:');
  console.log(
    JSON.stringify({
      messages: MESSAGES,
      rounds: ROUNDS,
      messagesPerSecond: Math.round(median(runs.map((r) => r.perSecond))),
      baselinePerSecond: Math.round(median(baselines)),
      ratio: Number(median(ratios).toFixed(3)),
      ratios: ratios.map((r) => Number(r.toFixed(3))),
      acceptMs: median(runs.map((r) => r.acceptMs)),
      workflowSent: Math.min(...runs.map((r) => r.workflowSent)),
      duplicates: stats.duplicates,
      lost: ROUNDS * MESSAGES + WARM_UP - stats.accepted,
    }),
  );
});
