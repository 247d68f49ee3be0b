/**
 * SMS_PROVIDER=infobip against a real Infobip-compatible server: a second instance of this product (its own
 * database, worker and simulator) serves the upstream API. The chain must end with each message delivered once
 * upstream and every report back at the first instance's notifyUrl — also when the first answer of the upstream
 * is lost (the retry finds the messages in the upstream's logs and does not send them again).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bulkWorkflowId } from '../../core/bulk-service';
import { InfobipUpstreamProvider } from '../../providers/infobip-upstream';
import type { DeliveryReportListener, OutboundSms, SmsProvider, SubmitOptions } from '../../providers/types';
import { startReceiver } from '../helpers/receiver';
import { createTestApp, createTestStack, eventually, type TestStack } from '../helpers/stack';
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
