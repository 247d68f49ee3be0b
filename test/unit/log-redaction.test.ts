import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp, redactQuerySecrets, type AppDeps } from '../../api/app';
import { ApiKeyAuthenticator } from '../../api/auth';
import { createLogger } from '../../config/logger';

test('secret-bearing query parameters are redacted, others kept', () => {
  expect(redactQuerySecrets('/v1/groups/index?access_token=sk_live_123&page=2')).toBe('/v1/groups/index?access_token=[REDACTED]&page=2');
  expect(redactQuerySecrets('/x?page=1&apiKey=abc')).toBe('/x?page=1&apiKey=[REDACTED]');
  expect(redactQuerySecrets('/sms/1/reports?bulkId=b1')).toBe('/sms/1/reports?bulkId=b1');
});

test("a key in the query string or the Authorization header never appears in the request log", async () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
  const logger = createLogger('info', sink);
  const app = createApp({
    logger,
    auth: new ApiKeyAuthenticator(new Map([['acme', 'sk_query_secret_1']])),
    health: async () => undefined,
    // Only /healthz is asked: the stores behind the dialects are built but never reached.
    reports: { db: {} },
  } as unknown as AppDeps);
  await request(app).get('/healthz?access_token=sk_query_secret_1&apiKey=sk_query_secret_1&x=1').set('Authorization', 'App sk_header_secret_2').expect(200);
  const log = lines.join('');
  expect(log).toContain('/healthz?access_token=[REDACTED]&apiKey=[REDACTED]&x=1');
  expect(log).not.toContain('sk_query_secret_1');
  expect(log).not.toContain('sk_header_secret_2');
});
