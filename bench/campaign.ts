/**
 * npm run bench:campaign — a Routee campaign to a group of 100k personalized contacts through the embedded
 * stack (dev server, worker, SQLite file, API), the simulator a separate process on loopback.
 *
 * First the contacts are imported (one POST /contacts/my/import of 100k rows) and put into one group; then, as
 * bench:dispatch does, rounds alternate a plain loop (the same client and chunk size straight to the simulator)
 * with a campaign to the group (`Hi [~firstName], …`): each campaign's dispatch rate is compared with the mean
 * of the loops before and after it, and the median over the rounds is reported. Last line: one JSON object.
 *
 *   BENCH_CONTACTS=20000 BENCH_ROUNDS=1 npm run bench:campaign    # a smaller run
 */
import { randomUUID } from 'node:crypto';
import { SUBMIT_CHUNK } from '../activities';
import { messageReference, type OutboundSms } from '../providers/types';
import { api, cpuMeter, numbers, runBench, type Simulator, type Stack, waitAccepted, waitFinished } from './harness';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BODY = 'Hi [~firstName], your offer code is waiting';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const mobiles = () => numbers(CONTACTS).map((n) => `+${n}`);

async function plainLoop(sim: Simulator, stack: Stack, label: string): Promise<number> {
  const to = numbers(CONTACTS);
  const references = to.map(() => messageReference(label, randomUUID()));
  const { accepted: base } = await sim.progress();
  const started = Date.now();
  for (let i = 0; i < CONTACTS; i += SUBMIT_CHUNK) {
    const batch: OutboundSms[] = to.slice(i, i + SUBMIT_CHUNK).map((n, k) => ({
      reference: references[i + k]!,
      to: n,
      from: 'Bench',
      text: `Hi Contact${i + k}, your offer code is waiting`,
      flash: false,
    }));
    await sim.provider.submit(batch);
  }
  const perSecond = CONTACTS / (((await waitAccepted(sim, base, CONTACTS)) - started) / 1000);
  console.log(`${label}: ${perSecond.toFixed(0)} messages/s`);
  return perSecond;
}

async function campaign(sim: Simulator, stack: Stack, round: number): Promise<{ perSecond: number; acceptMs: number }> {
  const { accepted: base } = await sim.progress();
  let cpu = cpuMeter(sim, stack);
  const started = Date.now();
  const reply = (await api(stack, 'POST', '/sms/campaign', { from: 'Bench', body: BODY, groups: ['bench'], campaignName: `Bench round ${round}` })) as {
    trackingId: string;
    totalMessages: number;
  };
  const accepted = Date.now();
  console.log(`campaign ${round}: accepted in ${accepted - started} ms (${reply.totalMessages} messages), CPU seconds ${JSON.stringify(cpu())}`);
  cpu = cpuMeter(sim, stack);
  const finished = await waitAccepted(sim, base, CONTACTS);
  const perSecond = CONTACTS / ((finished - accepted) / 1000);
  console.log(`campaign ${round}: dispatched at ${perSecond.toFixed(0)} messages/s, CPU seconds ${JSON.stringify(cpu())}`);
  const final = await waitFinished(stack.client, reply.trackingId);
  if (final.delivered !== CONTACTS) throw new Error(`campaign ${round}: ${final.delivered} of ${CONTACTS} delivered`);
  return { perSecond, acceptMs: accepted - started };
}

runBench(async (sim, stack) => {
  const rows = mobiles().map((mobile, i) => ({ mobile, firstName: `Contact${i}` }));
  let started = Date.now();
  const imported = (await api(stack, 'POST', '/contacts/my/import', rows)) as { created: number; failed: number };
  const importMs = Date.now() - started;
  if (imported.created !== CONTACTS) throw new Error(`import created ${imported.created} of ${CONTACTS} (${imported.failed} failed)`);
  console.log(`import: ${CONTACTS} contacts in ${importMs} ms (${Math.round(CONTACTS / (importMs / 1000))} rows/s)`);

  started = Date.now();
  const ids: string[] = [];
  for (let page = 0; ids.length < CONTACTS; page++) {
    const got = (await api(stack, 'GET', `/contacts/my?page=${page}&size=1000`)) as { content: Array<{ id: string }> };
    if (got.content.length === 0) break;
    ids.push(...got.content.map((c) => c.id));
  }
  await api(stack, 'POST', '/groups/my', { name: 'bench' });
  const group = (await api(stack, 'POST', '/groups/my/bench/contacts', ids)) as { size: number };
  console.log(`group: ${group.size} contacts listed and added in ${Date.now() - started} ms`);

  const baselines = [await plainLoop(sim, stack, 'loop-0')];
  const runs: Array<{ perSecond: number; acceptMs: number }> = [];
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const run = await campaign(sim, stack, round);
    baselines.push(await plainLoop(sim, stack, `loop-${round}`));
    ratios.push(run.perSecond / ((baselines[round - 1]! + baselines[round]!) / 2));
    runs.push(run);
    console.log(`round ${round}: ratio ${ratios[round - 1]!.toFixed(3)}`);
  }
  const stats = await sim.stats('bench:');
  console.log(
    JSON.stringify({
      bench: 'campaign',
      contacts: CONTACTS,
      rounds: ROUNDS,
      importMs,
      acceptMs: median(runs.map((r) => r.acceptMs)),
      messagesPerSecond: Math.round(median(runs.map((r) => r.perSecond))),
      baselinePerSecond: Math.round(median(baselines)),
      ratio: Number(median(ratios).toFixed(3)),
      ratios: ratios.map((r) => Number(r.toFixed(3))),
      duplicates: stats.duplicates,
      lost: ROUNDS * CONTACTS - stats.accepted,
    }),
  );
});
