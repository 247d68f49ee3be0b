/**
 * `npm run test:chaos`: the crash scenarios at full size, one after the other; prints each one's figures as a
 * JSON line and exits non-zero when any promise was broken. CHAOS_MESSAGES (default 100,000), CHAOS_KILLS (5),
 * CHAOS_SCENARIOS (comma list of worker,app,temporal,postgres,smpp; default all) choose what runs.
 */
import { TestSmsc } from '../helpers/smsc';
import { appKills, type ChaosFigures, postgresRestart, smppWorkerKills, temporalKill, workerKills } from './chaos';

const messages = Number(process.env.CHAOS_MESSAGES ?? 100_000);
const kills = Number(process.env.CHAOS_KILLS ?? 5);
const wanted = new Set((process.env.CHAOS_SCENARIOS ?? 'worker,app,temporal,postgres,smpp').split(',').map((s) => s.trim()));
const SMPP_WINDOW = 10;
/** Parts a kill can leave in doubt: the window on the wire, 4 windows journaled ahead, acceptances not yet written. */
const IN_DOUBT_PER_KILL = 5 * SMPP_WINDOW + 100;
const log = (line: string) => process.stderr.write(`[chaos] ${line}\n`);

const scenarios: Array<[string, () => Promise<ChaosFigures>]> = [
  ['worker', () => workerKills({ messages, kills, log })],
  ['app', () => appKills({ messages, kills, log })],
  ['temporal', () => temporalKill({ messages, kills: Math.min(kills, 2), scheduled: 200, log })],
  ['postgres', () => postgresRestart({ messages, kills: Math.min(kills, 3), log })],
  [
    'smpp',
    async () => {
      const smsc = await TestSmsc.start({ receiptDelayMs: 100 });
      try {
        return await smppWorkerKills({ messages, kills, smsc, window: SMPP_WINDOW, inDoubtWaitS: 180, log });
      } finally {
        await smsc.kill();
      }
    },
  ],
];

/** The promises a run must keep; the names of those it broke. */
export function broken(f: ChaosFigures): string[] {
  const out: string[] = [];
  if (f.duplicates !== 0) out.push(`${f.duplicates} duplicate submits`);
  if ('expiredUnknown' in f) {
    // SMPP: a part in doubt at a kill is never sent again; it must end EXPIRED_DLR_UNKNOWN, and only such parts.
    const smpp = f as ChaosFigures & { delivered: number; expiredUnknown: number };
    if (smpp.delivered !== f.accepted) out.push(`${f.accepted - smpp.delivered} taken by the SMSC but not delivered`);
    if (smpp.delivered + smpp.expiredUnknown !== f.messages) out.push(`${f.messages - smpp.delivered - smpp.expiredUnknown} neither delivered nor EXPIRED_DLR_UNKNOWN`);
    if (smpp.expiredUnknown > f.kills * IN_DOUBT_PER_KILL) out.push(`${smpp.expiredUnknown} in doubt, more than ${f.kills} kills can leave`);
  } else if (f.lost !== 0) out.push(`${f.lost} messages never accepted`);
  if (f.notFinal !== 0) out.push(`${f.notFinal} messages not final`);
  if (f.withoutReport !== 0) out.push(`${f.withoutReport} messages without a final report`);
  if (f.unfinishedBulks !== 0) out.push(`${f.unfinishedBulks} bulks not FINISHED`);
  return out;
}

(async () => {
  let failed = false;
  for (const [name, run] of scenarios) {
    if (!wanted.has(name)) continue;
    log(`scenario ${name}: ${messages} messages, up to ${kills} faults`);
    const figures = await run();
    const problems = broken(figures);
    failed ||= problems.length > 0;
    console.log(JSON.stringify({ ...figures, ok: problems.length === 0, problems }));
  }
  process.exit(failed ? 1 : 0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
