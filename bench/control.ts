/**
 * npm run bench:control — pause a 100k-destination bulk while it dispatches at full speed, 20 times. For each
 * run: the acknowledgment latency of PUT /sms/1/bulks/status {PAUSED}, and how many submits reached the
 * simulator after the acknowledgment (target 0). Each bulk is then resumed to completion, to check that no
 * message was sent twice or lost. Last line: one JSON object.
 *
 *   BENCH_RUNS=5 BENCH_MESSAGES=20000 npm run bench:control
 */
import { api, numbers, percentile, runBench, waitDispatched } from './harness';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
/**
 * Pause once this many messages of the run's bulk reached the simulator: well into full-speed dispatch, and
 * not on a batch boundary (where nothing is in flight and a pause is trivially fast).
 */
const PAUSE_AFTER = Math.min(12_345, Math.floor(MESSAGES / 5) + 345);

runBench(async (sim, stack) => {
  const submits = async () => (await sim.progress()).totalSubmits;
  const latencies: number[] = [];
  let submitsAfterAck = 0;
  let duplicates = 0;
  let lost = 0;
  for (let run = 1; run <= RUNS; run++) {
    const bulkId = `ctl-${run}`;
    const base = await submits();
    await api(stack, 'POST', '/sms/2/text/advanced', {
      bulkId,
      messages: [
        {
          from: 'Bench',
          text: 'Control benchmark',
          destinations: numbers(MESSAGES).map((to, i) => ({ to, messageId: `${bulkId}-${i}` })),
        },
      ],
    });
    while ((await submits()) - base < PAUSE_AFTER) await new Promise((r) => setTimeout(r, 5));

    const t0 = performance.now();
    await api(stack, 'PUT', `/sms/1/bulks/status?bulkId=${bulkId}`, { status: 'PAUSED' });
    const ackMs = performance.now() - t0;
    const atAck = await submits();
    await new Promise((r) => setTimeout(r, 1000));
    const after = (await submits()) - atAck;
    latencies.push(ackMs);
    submitsAfterAck += after;

    await api(stack, 'PUT', `/sms/1/bulks/status?bulkId=${bulkId}`, { status: 'PENDING' });
    await waitDispatched(stack.client, bulkId, MESSAGES);
    const stats = await sim.stats(`bench:${bulkId}-`);
    duplicates += stats.duplicates;
    lost += MESSAGES - stats.accepted;
    console.log(
      `run ${run}: paused after ${atAck - base} submits, ack ${ackMs.toFixed(0)} ms, ${after} submits after ack, ` +
        `${MESSAGES - stats.accepted} lost`,
    );
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      runs: RUNS,
      messagesPerBulk: MESSAGES,
      ackP50Ms: Math.round(percentile(sorted, 50)),
      ackP99Ms: Math.round(percentile(sorted, 99)),
      ackMaxMs: Math.round(sorted[sorted.length - 1]!),
      submitsAfterAck,
      duplicates,
      lost,
    }),
  );
});
