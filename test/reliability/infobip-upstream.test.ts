/**
 * SMS_PROVIDER=infobip against a real Infobip-compatible server: a second instance of this product (its own
 * database, worker and simulator) serves the upstream API. The chain must end with each message delivered once
 * upstream and every report back at the first instance's notifyUrl — also when the first answer of the upstream
 * is lost (the retry finds the messages in the upstream's logs and does not send them again).
 */
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bulkWorkflowId } from '../../core/bulk-service';
import { InfobipUpstreamProvider } from '../../providers/infobip-upstream';
import type { DeliveryReportListener, OutboundSms, SmsProvider, SubmitOptions } from '../../providers/types';
import { startReceiver } from '../helpers/receiver';
import { deliveryReportHandler } from '../../core/services';
import { createTestApp, createTestStack, eventually, silentLogger, type TestStack } from '../helpers/stack';
import { type DevServerConnections, startConnectedDevServer } from '../helpers/temporal';

/** The upstream's answer to the first submit never arrives (it did arrive upstream). */
class LostFirstAnswer implements SmsProvider {
  readonly name = 'lost-first-answer';
  lost = 0;
  constructor(private readonly inner: InfobipUpstreamProvider) {}
  async submit(messages: OutboundSms[], options?: SubmitOptions) {
    const results = await this.inner.submit(messages, options);
    if (this.lost++ === 0) throw new Error('the answer was lost on the way back');
    return results;
  }
  lookup(references: string[]) {
    return this.inner.lookup(references);
  }
  onDeliveryReports(listener: DeliveryReportListener) {
    this.inner.onDeliveryReports(listener);
  }
  close() {
    return this.inner.close();
  }
}

let temporal: DevServerConnections;
let upstream: TestStack;
let server: Server;
let ours: TestStack;
let wrapper: LostFirstAnswer;

beforeAll(async () => {
  temporal = await startConnectedDevServer();
  upstream = await createTestStack(temporal, { simulator: { deliveryDelayMs: 100 } });
  server = createTestApp(upstream).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ours = await createTestStack(temporal, {
    provider: () => (wrapper = new LostFirstAnswer(new InfobipUpstreamProvider(url, 'acme-secret-key-1', { pullIntervalMs: 200 }))),
    providerReports: true,
    // A lost answer leaves its messages in doubt until the attempt's lease has run out: short ones here.
    leaseTiming: { submitTimeoutMs: 1500, leaseMs: 2500, clockMarginMs: 100 },
  });
}, 120_000);

afterAll(async () => {
  await ours?.close();
  await new Promise((r) => server?.close(r));
  await upstream?.close();
  await temporal?.close();
});

test('each message delivered once upstream, every report back at our notifyUrl, a lost answer resolved by lookup', async () => {
  const receiver = await startReceiver();
  try {
    const destinations = Array.from({ length: 250 }, (_, i) => ({ to: String(41793050000 + i), messageId: `up-${i}` }));
    await ours.bulks.createBulk({
      accountId: 'globex',
      bulkId: 'chain',
      messages: [{ from: 'Chain', text: 'Through the upstream', flash: false, intermediateReport: false, notifyUrl: receiver.url, destinations }],
    });
    const counts = await ours.client.workflow.getHandle(bulkWorkflowId('globex', 'chain')).result();
    expect(wrapper.lost).toBeGreaterThan(1);
    expect(counts).toMatchObject({ total: 250, sent: 250, delivered: 250 });
    // Upstream: our references are its messageIds (account "acme" there), each accepted once by its simulator.
    expect(upstream.simulator.stats('acme:globex:up-')).toMatchObject({ accepted: 250, duplicates: 0 });
    // Every report reached our client, once per message, delivered.
    const reports = await eventually(async () => {
      const r = receiver.acceptedJsonReports();
      return r.length >= 250 ? r : undefined;
    });
    expect(reports).toHaveLength(250);
    expect(new Set(reports.map((r) => r.messageId))).toEqual(new Set(destinations.map((d) => d.messageId)));
    expect(reports.every((r) => (r.status as { name: string }).name === 'DELIVERED_TO_HANDSET')).toBe(true);
  } finally {
    await receiver.close();
  }
}, 90_000);

test('reports pushed by the upstream to our guarded route (INFOBIP_NOTIFY_URL) come back the same way; a wrong token is refused', async () => {
  // Our API must be listening before the provider is made: the provider hands its URL to the upstream.
  const ourServer = http.createServer();
  ourServer.listen(0, '127.0.0.1');
  await new Promise((r) => ourServer.once('listening', r));
  const ourUrl = `http://127.0.0.1:${(ourServer.address() as AddressInfo).port}`;
  const token = 'push-token-0123456789';
  const upstreamUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let pushed = 0;
  const pushing = await createTestStack(temporal, {
    provider: () => new InfobipUpstreamProvider(upstreamUrl, 'acme-secret-key-1', { notifyUrl: `${ourUrl}/provider/infobip/reports?token=${token}`, pullIntervalMs: 60_000 }),
    providerReports: true,
  });
  const apply = deliveryReportHandler(pushing.repo, silentLogger);
  ourServer.on(
    'request',
    createTestApp(pushing, undefined, {
      upstreamReports: {
        token,
        apply: async (reports) => {
          pushed += reports.length;
          await apply(reports);
        },
      },
    }),
  );
  const receiver = await startReceiver();
  try {
    const destinations = Array.from({ length: 40 }, (_, i) => ({ to: String(41793070000 + i), messageId: `push-${i}` }));
    await pushing.bulks.createBulk({
      accountId: 'globex',
      bulkId: 'pushed',
      messages: [{ from: 'Chain', text: 'Pushed back', flash: false, intermediateReport: false, notifyUrl: receiver.url, destinations }],
    });
    const counts = await pushing.client.workflow.getHandle(bulkWorkflowId('globex', 'pushed')).result();
    expect(counts).toMatchObject({ total: 40, sent: 40, delivered: 40 });
    // Every report came by push (the pull waits a minute here), and reached our client once per message.
    expect(pushed).toBeGreaterThanOrEqual(40);
    const reports = await eventually(async () => (receiver.acceptedJsonReports().length >= 40 ? receiver.acceptedJsonReports() : undefined));
    expect(new Set(reports.map((r) => r.messageId))).toEqual(new Set(destinations.map((d) => d.messageId)));
    expect(upstream.simulator.stats('acme:globex:push-')).toMatchObject({ accepted: 40, duplicates: 0 });
    const refused = await fetch(`${ourUrl}/provider/infobip/reports?token=wrong-token-0000000`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"results":[]}' });
    expect(refused.status).toBe(401);
  } finally {
    await receiver.close();
    await pushing.close();
    ourServer.closeAllConnections();
    await new Promise((r) => ourServer.close(r));
  }
}, 90_000);

