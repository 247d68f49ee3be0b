/**
 * The provider-wide cap (PROVIDER_MAX_TPS): two throttles on one store, as two worker processes would have, share
 * one budget — on SQLite and on PostgreSQL — and a bulk sent through the real worker keeps to it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { ProviderThrottle } from '../../activities/provider-throttle';
import { bulkWorkflowId } from '../../core/bulk-service';
import { openDatabase } from '../../db/database';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { createTestStack } from '../helpers/stack';
import { type DevServerConnections, startConnectedDevServer } from '../helpers/temporal';

let pg: TestPostgres;
let dir: string;
beforeAll(async () => {
  pg = await startTestPostgres();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'throttle-'));
}, 120_000);
afterAll(async () => {
  await pg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const CAP = 200;

describe.each(['sqlite', 'postgres'] as const)('on %s', (kind) => {
  test('two workers take from one budget: together they stay at the cap, and both get their share', async () => {
    let store: { databaseUrl?: string; sqliteFile?: string };
    if (kind === 'sqlite') store = { sqliteFile: path.join(dir, 'throttle.sqlite') };
    else {
      const admin = openDatabase({ url: pg.url });
      await sql.raw('create database throttle').execute(admin);
      await admin.destroy();
      store = { databaseUrl: pg.url.replace(/\/postgres$/, '/throttle') };
    }
    const workers = [await ProviderThrottle.open(CAP, store, 'sim'), await ProviderThrottle.open(CAP, store, 'sim')];
    try {
      const taken = [0, 0];
      const started = Date.now();
      const runFor = 2500;
      // Four lanes per worker, chunks of 50, as fast as the cap lets them.
      await Promise.all(
        workers.flatMap((w, i) =>
          Array.from({ length: 4 }, async () => {
            while (Date.now() - started < runFor) {
              await w.acquire(50);
              taken[i]! += 50;
            }
          }),
        ),
      );
      const seconds = (Date.now() - started) / 1000;
      const total = taken[0]! + taken[1]!;
      // Fixed one-second windows: at most one window's worth more than the cap for the time taken (the last window
      // may be cut short), never the two caps two separate limiters would allow.
      expect(total).toBeLessThanOrEqual(CAP * (Math.ceil(seconds) + 1));
      expect(total).toBeLessThan(2 * CAP * seconds);
      expect(total).toBeGreaterThanOrEqual(CAP * Math.floor(seconds));
      expect(Math.min(...taken)).toBeGreaterThan(0);
    } finally {
      for (const w of workers) await w.stop();
    }
  }, 30_000);
});

describe('a bulk through the real worker', () => {
  let temporal: DevServerConnections;
  beforeAll(async () => {
    temporal = await startConnectedDevServer();
  }, 120_000);
  afterAll(async () => {
    await temporal?.close();
  });

  test(`600 messages at a cap of ${CAP}/s reach the provider over three one-second windows, not at once`, async () => {
    const throttle = await ProviderThrottle.open(CAP, { sqliteFile: path.join(dir, 'bulk-throttle.sqlite') }, 'sim');
    const stack = await createTestStack(temporal, { throttle });
    try {
      const destinations = Array.from({ length: 600 }, (_, i) => ({ to: String(41793060000 + i), messageId: `cap-${i}` }));
      await stack.bulks.createBulk({ accountId: 'acme', bulkId: 'capped', messages: [{ text: 'Capped', flash: false, intermediateReport: false, destinations }] });
      const counts = await stack.client.workflow.getHandle(bulkWorkflowId('acme', 'capped')).result();
      expect(counts).toMatchObject({ total: 600, sent: 600 });
      const times = destinations.map((d) => stack.simulator.acceptedAt(`acme:${d.messageId}`)!).sort((a, b) => a - b);
      // Three windows' worth: the first 200 at once, the last 200 no sooner than two windows later.
      expect(times[599]! - times[0]!).toBeGreaterThanOrEqual(1500);
      expect(stack.simulator.stats('acme:cap-')).toMatchObject({ accepted: 600, duplicates: 0 });
    } finally {
      await stack.close();
      await throttle.stop();
    }
  }, 60_000);
});
