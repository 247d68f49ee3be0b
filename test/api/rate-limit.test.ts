/**
 * The per-account request limit, on SQLite and on PostgreSQL: two app instances, each with its own limiter and
 * its own connection to one database (as two `npm run api` processes would have), share one budget per account.
 * Every authenticated reply carries X-Rate-Limit-*, errors included; over the limit, 429 in the dialect's body.
 * The routes used here read the database only, so no Temporal server is involved.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { sql } from 'kysely';
import { ApiKeyAuthenticator } from '../../api/auth';
import { createApp } from '../../api/app';
import { AccountRateLimiter } from '../../api/rate-limit';
import type { BulkControlService } from '../../core/bulk-control-service';
import type { BulkService } from '../../core/bulk-service';
import { createCampaigns } from '../../core/campaign-service';
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { Repository } from '../../db/repository';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { silentLogger, TEST_KEYS } from '../helpers/stack';

let pg: TestPostgres;
let dir: string;
beforeAll(async () => {
  pg = await startTestPostgres();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rate-limit-'));
}, 120_000);
afterAll(async () => {
  await pg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ACME = 'Bearer acme-secret-key-1';
const GLOBEX = 'Bearer globex-secret-key-2';

function app(db: Db, limiter: AccountRateLimiter): Express {
  // Bulk sending is not reached by these routes (nothing here creates or steers a bulk).
  const bulks = {} as BulkService;
  const control = {} as BulkControlService;
  return createApp({
    logger: silentLogger,
    auth: new ApiKeyAuthenticator(TEST_KEYS, limiter),
    bulks,
    control,
    reports: new Repository(db),
    ...createCampaigns(db, bulks, control),
    health: async () => undefined,
  });
}

describe.each(['sqlite', 'postgres'] as const)('on %s', (kind) => {
  const opened: Array<{ db: Db; limiter: AccountRateLimiter }> = [];
  let apps: Express[];

  beforeAll(async () => {
    let store: { databaseUrl?: string; sqliteFile?: string };
    if (kind === 'sqlite') {
      store = { sqliteFile: path.join(dir, 'rate-limits.sqlite') };
    } else {
      const admin = openDatabase({ url: pg.url });
      await sql.raw('create database ratelimit').execute(admin);
      await admin.destroy();
      store = { databaseUrl: pg.url.replace(/\/postgres$/, '/ratelimit') };
    }
    for (let i = 0; i < 2; i++) {
      const db = openDatabase({ url: store.databaseUrl, sqliteFile: store.sqliteFile ? path.join(dir, 'orchestrator.sqlite') : undefined });
      await migrateToLatest(db);
      opened.push({ db, limiter: await AccountRateLimiter.open({ points: 5, seconds: 60 }, store) });
    }
    apps = opened.map((o) => app(o.db, o.limiter));
  });
  afterAll(async () => {
    for (const o of opened) {
      await o.limiter.stop();
      await o.db.destroy();
    }
  });

  test('one budget per account across both instances; headers on every reply; 429 in each dialect’s body', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      // The three dialects' routes in turn (ProTexting's with its access_token): a request through any takes one.
      const target = request(apps[i % 2]!);
      const res = await (i % 3 === 2
        ? target.get('/v1/groups/index?access_token=acme-secret-key-1')
        : target.get(i % 3 ? '/sms/1/reports' : '/groups/my').set('Authorization', ACME)
      ).expect(200);
      expect(res.headers['x-rate-limit-limit']).toBe('5');
      const reset = Number(res.headers['x-rate-limit-reset']);
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
      remaining.push(Number(res.headers['x-rate-limit-remaining']));
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);

    // Routee's body, Infobip's and ProTexting's, from either instance.
    const routee = await request(apps[0]!).get('/groups/my').set('Authorization', ACME).expect(429);
    expect(routee.body).toEqual({ code: '429000000', developerMessage: expect.stringMatching(/at most 5 per 60 s/) });
    expect(routee.headers['x-rate-limit-remaining']).toBe('0');
    expect(Number(routee.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const infobip = await request(apps[1]!).get('/sms/1/reports').set('Authorization', 'App acme-secret-key-1').expect(429);
    expect(infobip.body.requestError.serviceException.messageId).toBe('TOO_MANY_REQUESTS');
    expect(infobip.headers['x-rate-limit-limit']).toBe('5');
    const protexting = await request(apps[0]!).get('/v1/groups/index?access_token=acme-secret-key-1').set('Accept', 'application/json').expect(429);
    expect(protexting.body).toEqual({ name: 'Too Many Requests', message: expect.stringMatching(/at most 5 per 60 s/), code: 0, status: 429 });
    expect(protexting.headers['x-rate-limit-remaining']).toBe('0');

    // Another account has its own budget.
    const other = await request(apps[1]!).get('/groups/my').set('Authorization', GLOBEX).expect(200);
    expect(other.headers['x-rate-limit-remaining']).toBe('4');
  });

  test('a caller without a valid key is limited by its address, and its 401 carries the headers too', async () => {
    const codes: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 6; i++) {
      last = await request(apps[i % 2]!).get('/groups/my').set('Authorization', 'Bearer wrong-key');
      expect(last.headers['x-rate-limit-limit']).toBe('5');
      codes.push(last.status);
    }
    expect(codes).toEqual([401, 401, 401, 401, 401, 429]);
    expect(last!.headers['x-rate-limit-remaining']).toBe('0');
  });
});

test('RATE_LIMIT is <requests>/<seconds> or off', () => {
  expect(AccountRateLimiter.parse('20000/60')).toEqual({ points: 20000, seconds: 60 });
  expect(AccountRateLimiter.parse('off')).toBeUndefined();
  expect(() => AccountRateLimiter.parse('0/60')).toThrow(/RATE_LIMIT/);
  expect(() => AccountRateLimiter.parse('lots')).toThrow(/RATE_LIMIT/);
});
