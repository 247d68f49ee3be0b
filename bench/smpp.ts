/**
 * npm run bench:smpp — messages per second through the product's SMPP transport (journal on SQLite in a temp
 * DATA_DIR, windowed submit_sm, receipts taken and turned into reports) to the loopback test SMSC (jsmpp), next
 * to a plain loop of the same npm `smpp` library with the same window against the same SMSC (no journal, receipts
 * just acknowledged). Each side runs BENCH_ROUNDS times, alternating, on a fresh SMSC; best round of each counts.
 * Last line: one JSON object.
 *
 *   BENCH_MESSAGES=20000 BENCH_WINDOW=10 npm run bench:smpp
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import smpp, { type PDU } from 'smpp';
import { migrateToLatest, openDatabase } from '../db/database';
import { SmppProvider } from '../providers/smpp/provider';
import type { OutboundSms } from '../providers/types';
import { TestSmsc } from '../test/helpers/smsc';
import { processCpuSeconds } from './harness';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** Messages per submit() call: what one send activity hands the provider at a time. */
const CHUNK = Number(process.env.BENCH_CHUNK ?? 1000);
const TEXT = 'Benchmark message over SMPP';
/** `BENCH_SIDES=product` runs only the product (to profile it); the ratio needs both. */
const SIDES = (process.env.BENCH_SIDES ?? 'plain,product').split(',') as Array<'plain' | 'product'>;

async function plainLoop(smsc: TestSmsc): Promise<number> {
  const session = smpp.connect({ url: `smpp://127.0.0.1:${smsc.port}` });
  await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  session.on('deliver_sm', (pdu: PDU) => session.send(pdu.response()));
  session.on('enquire_link', (pdu: PDU) => session.send(pdu.response()));
  await new Promise<void>((resolve, reject) =>
    session.send(new smpp.PDU('bind_transceiver', { system_id: smsc.systemId, password: smsc.password }), (r) => (r.command_status === 0 ? resolve() : reject(new Error('bind')))),
  );
  const body = Buffer.from(TEXT, 'latin1');
  const started = performance.now();
  let next = 0;
  let done = 0;
  await new Promise<void>((resolve) => {
    const sendOne = () => {
      const i = next++;
      if (i >= MESSAGES) return;
      const pdu = new smpp.PDU('submit_sm', {
        source_addr_ton: 5,
        source_addr: 'Bench',
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: String(41_790_000_000 + i),
        registered_delivery: 1,
        data_coding: 0,
        short_message: body,
      });
      session.send(pdu, (resp: PDU) => {
        if (resp.command_status !== 0) throw new Error(`submit refused: ${resp.command_status}`);
        if (++done === MESSAGES) resolve();
        else sendOne();
      });
    };
    for (let k = 0; k < WINDOW; k++) sendOne();
  });
  const seconds = (performance.now() - started) / 1000;
  session.destroy();
  return MESSAGES / seconds;
}

async function product(smsc: TestSmsc): Promise<{ rate: number; reportsWithinRun: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smpp-'));
  const db = openDatabase({ sqliteFile: path.join(dir, 'orchestrator.sqlite'), sqliteSynchronous: process.env.SQLITE_SYNCHRONOUS === 'normal' ? 'normal' : 'full' });
  await migrateToLatest(db);
  const provider = new SmppProvider({ db, ...smsc.bindOptions(), window: WINDOW });
  let reports = 0;
  provider.onDeliveryReports((r) => void (reports += r.length));
  await provider.start();
  const validityEndsAt = Date.now() + 3_600_000;
  const messages: OutboundSms[] = Array.from({ length: MESSAGES }, (_, i) => ({
    reference: `bench:m${i}`,
    to: String(41_790_000_000 + i),
    from: 'Bench',
    text: TEXT,
    flash: false,
    validityEndsAt,
  }));
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i += CHUNK) {
    const results = await provider.submit(messages.slice(i, i + CHUNK));
    if (!results.every((r) => r.accepted)) throw new Error('a submit was refused');
  }
  const seconds = (performance.now() - started) / 1000;
  await provider.close();
  await db.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
  return { rate: MESSAGES / seconds, reportsWithinRun: reports };
}

(async () => {
  const plain: number[] = [];
  const ours: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of SIDES) {
      const smsc = await TestSmsc.start({ receiptDelayMs: 50 });
      const cpu = () => ({ here: processCpuSeconds(process.pid) ?? 0, smsc: processCpuSeconds(smsc.pid) ?? 0 });
      const before = cpu();
      try {
        if (side === 'plain') {
          plain.push(await plainLoop(smsc));
          console.log(`round ${round + 1} plain loop:  ${plain.at(-1)!.toFixed(0)} msg/s`);
        } else {
          const r = await product(smsc);
          ours.push(r.rate);
          console.log(`round ${round + 1} product:     ${r.rate.toFixed(0)} msg/s (reports taken meanwhile: ${r.reportsWithinRun})`);
        }
        const after = cpu();
        console.log(`  CPU seconds: this process ${(after.here - before.here).toFixed(2)}, SMSC ${(after.smsc - before.smsc).toFixed(2)}`);
        if (smsc.accepted().length !== MESSAGES) throw new Error(`the SMSC accepted ${smsc.accepted().length} of ${MESSAGES}`);
      } finally {
        await smsc.kill();
      }
    }
  }
  const best = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
  const result = {
    bench: 'smpp',
    messages: MESSAGES,
    window: WINDOW,
    chunk: CHUNK,
    plainLoopPerSecond: Math.round(best(plain)),
    productPerSecond: Math.round(best(ours)),
    ratio: Number((best(ours) / best(plain)).toFixed(2)),
  };
  console.log(JSON.stringify(result));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
