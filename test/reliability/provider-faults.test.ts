/**
 * Whole bulks on a real Temporal dev server (real time: heartbeat timeouts are the server's own) against a slow
 * provider, and against the simulator reached over HTTP, whose delivery reports come back the way they would
 * from another process.
 */
import { bulkWorkflowId } from '../../core/bulk-service';
import { HttpSmsProvider } from '../../providers/http-provider';
import { startSimulatorServer, type SimulatorServer } from '../../providers/simulator-server';
import { createTestStack, eventually, type TestStack } from '../helpers/stack';
import { type DevServerConnections, startConnectedDevServer } from '../helpers/temporal';

let temporal: DevServerConnections;

beforeAll(async () => {
  temporal = await startConnectedDevServer();
}, 120_000);

afterAll(async () => {
  await temporal?.close();
});

const numbers = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ to: String(41793040000 + i), messageId: `${prefix}-${i}` }));

describe('a provider that answers each submit after 12 s (longer than the 10 s heartbeat timeout)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack(temporal, { simulator: { submitDelayMs: 12_000, deliveryDelayMs: 200 } });
  });
  afterAll(() => stack?.close());

  test('gets every message once, and none is reported rejected', async () => {
    await stack.bulks.createBulk({
      accountId: 'acme',
      bulkId: 'slow',
      messages: [{ text: 'Slow link', flash: false, intermediateReport: false, destinations: numbers('slow', 400) }],
    });
    const counts = await stack.client.workflow.getHandle(bulkWorkflowId('acme', 'slow')).result();

    expect(counts).toMatchObject({ total: 400, sent: 400, rejected: 0, delivered: 400 });
    expect(stack.simulator.stats('acme:slow-')).toMatchObject({ accepted: 400, duplicates: 0 });
    const rows = await stack.repo.listBulkMessages('acme', 'slow');
    expect(rows.filter((r) => r.status_name !== 'DELIVERED_TO_HANDSET')).toEqual([]);
  }, 90_000);
});

describe('the simulator over HTTP (as `npm run simulator` serves it)', () => {
  let stack: TestStack;
  let server: SimulatorServer;
  beforeAll(async () => {
    server = await startSimulatorServer({ port: 0, token: 'sim-token-123', deliveryDelayMs: 300, submitDelayMs: 0, failureRate: 0.25, rejectRate: 0 });
    stack = await createTestStack(temporal, {
      provider: () => new HttpSmsProvider(`http://127.0.0.1:${server.port}`, { token: 'sim-token-123', pullWaitMs: 200 }),
      providerReports: true,
    });
  });
  afterAll(async () => {
    await stack?.close();
    await server?.close();
  });

  test('a handset message told to the simulator process comes to the app: STOP opts the number out, once', async () => {
    const tell = (text: string) =>
      fetch(`http://127.0.0.1:${server.port}/inbound`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sim-token-123' },
        body: JSON.stringify({ from: '+41793049999', to: '15550001111', text }),
      });
    expect((await tell('STOP')).status).toBe(200);
    expect((await tell('hello')).status).toBe(200);
    const rows = await eventually(async () => {
      const r = await stack.db.selectFrom('inbound_messages').selectAll().where('from_number', '=', '41793049999').execute();
      return r.length === 2 ? r : undefined;
    });
    expect(rows.map((r) => `${r.account_id} ${r.keyword ?? '-'}`).sort()).toEqual(['acme -', 'acme STOP']);
    expect(await stack.db.selectFrom('opt_outs').select(['account_id', 'source']).where('number', '=', '41793049999').execute()).toEqual([{ account_id: 'acme', source: 'MO:STOP' }]);
    // Taken once: acknowledged, so the simulator holds nothing more for the app.
    await eventually(async () => server.simulator.owedInbound === 0);
    expect((await fetch(`http://127.0.0.1:${server.port}/inbound`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
  }, 30_000);

  test('its delivery reports come back and the bulk finishes', async () => {
    await stack.bulks.createBulk({
      accountId: 'acme',
      bulkId: 'remote',
      messages: [{ text: 'Over HTTP', flash: false, intermediateReport: false, destinations: numbers('remote', 2000) }],
    });
    const handle = stack.client.workflow.getHandle(bulkWorkflowId('acme', 'remote'));
    const counts = await handle.result();

    expect(counts.sent).toBe(2000);
    expect(counts.delivered + counts.failed).toBe(2000);
    expect(counts.failed).toBeGreaterThan(0);
    expect(server.simulator.stats('acme:remote-')).toMatchObject({ accepted: 2000, duplicates: 0 });
    expect(server.simulator.owedReports).toBe(0);
    const rows = await stack.repo.listBulkMessages('acme', 'remote');
    expect(rows.filter((r) => r.state !== 'FINAL')).toEqual([]);
    expect((await stack.repo.getBulk('acme', 'remote'))?.status).toBe('FINISHED');
  }, 60_000);
});
