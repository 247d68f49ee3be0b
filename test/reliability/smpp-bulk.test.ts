/**
 * Bulks sent end to end over SMPP: workflow, send activity, the SMPP transport, the jsmpp SMSC, receipts back as
 * reports, pushes to the client's notifyUrl. The SMSC is killed mid-bulk and comes back: every message reaches
 * it at most once, none is lost, and every one is reported. A STOP sent from a handset opts its number out.
 */
import { bulkWorkflowId } from '../../core/bulk-service';
import { SmppProvider } from '../../providers/smpp/provider';
import { startReceiver } from '../helpers/receiver';
import { TestSmsc } from '../helpers/smsc';
import { createTestStack, eventually, type TestStack } from '../helpers/stack';
import { type DevServerConnections, startConnectedDevServer } from '../helpers/temporal';
import { OptOutStore } from '../../db/opt-outs';
import { resultOrDiagnosis } from '../helpers/diagnose';

let temporal: DevServerConnections;
let smsc: TestSmsc;
let stack: TestStack;
let provider: SmppProvider;

beforeAll(async () => {
  [temporal, smsc] = await Promise.all([startConnectedDevServer(), TestSmsc.start({ receiptDelayMs: 200, rejectPrefix: '99', undeliverablePrefix: '4479' })]);
  stack = await createTestStack(temporal, {
    provider: (_simulator, db) =>
      (provider = new SmppProvider({
        db,
        ...smsc.bindOptions(),
        window: 8,
        responseTimeoutMs: 1500,
        reconnectMinMs: 100,
        reconnectMaxMs: 500,
        sweepIntervalMs: 200,
        // SMPP_IN_DOUBT=report (the default), with a shorter wait than the default for a receipt that would settle a
        // part in doubt (long enough for a restarted SMSC to send what it owes on a loaded machine).
        inDoubtWaitMs: 15_000,
      })),
    providerReports: true,
    // A dropped link leaves a batch's attempt in doubt until its lease has run out: short ones here.
    leaseTiming: { submitTimeoutMs: 1500, leaseMs: 2500, clockMarginMs: 100 },
    tuning: { batchSize: 100 },
  });
  await provider.start();
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await smsc?.kill();
  await temporal?.close();
});

test('a bulk over SMPP with the SMSC killed and restarted mid-send: each message at most once at the SMSC, every one reported to notifyUrl', async () => {
  const receiver = await startReceiver();
  try {
    const destinations = Array.from({ length: 600 }, (_, i) => ({ to: String(41793100000 + i), messageId: `s-${i}` }));
    await stack.bulks.createBulk({
      accountId: 'acme',
      bulkId: 'smpp-kill',
      messages: [{ from: 'InfoSMS', text: 'Over SMPP, through a crash', flash: false, intermediateReport: false, notifyUrl: receiver.url, destinations }],
    });
    await eventually(async () => smsc.accepted().length >= 100, 30_000);
    await smsc.kill();
    const atKill = smsc.accepted().length;
    expect(atKill).toBeLessThan(600);
    await new Promise((r) => setTimeout(r, 1500));
    await smsc.run();

    const counts = await resultOrDiagnosis(temporal.client.workflow.getHandle(bulkWorkflowId('acme', 'smpp-kill')), 90_000);
    expect(counts).toMatchObject({ total: 600, sent: 600 });
    const accepted = smsc.accepted();
    // At most once: no destination twice at the SMSC.
    expect(new Set(accepted.map((a) => a.to)).size).toBe(accepted.length);
    // Only what was on the wire at the kill (at most the window) can be missing at the SMSC.
    expect(accepted.length).toBeGreaterThanOrEqual(600 - 8);
    // Every message ends with one final report at the client: delivered when the SMSC took it (an in-doubt part it
    // took is found by its echoed reference); EXPIRED_DLR_UNKNOWN for a part in doubt that it never took.
    const reports = await eventually(async () => {
      const r = receiver.acceptedJsonReports();
      return new Set(r.map((x) => x.messageId)).size >= 600 ? r : undefined;
    }, 60_000);
    expect(new Set(reports.map((r) => r.messageId))).toEqual(new Set(destinations.map((d) => d.messageId)));
    const atSmsc = new Set(accepted.map((a) => a.to));
    for (const r of reports) {
      const to = destinations.find((d) => d.messageId === r.messageId)!.to;
      expect([r.messageId, (r.status as { name: string }).name]).toEqual([r.messageId, atSmsc.has(to) ? 'DELIVERED_TO_HANDSET' : 'EXPIRED_DLR_UNKNOWN']);
    }
  } finally {
    await receiver.close();
  }
}, 150_000);

test('a STOP from a handset over SMPP opts the number out of the account that owns the number it was sent to', async () => {
  smsc.injectMo('41793109999', '15550001111', 'STOP');
  const optOuts = new OptOutStore(stack.db);
  await eventually(async () => (await optOuts.optedOut('acme', ['41793109999'])).size === 1, 20_000);
  expect((await optOuts.optedOut('globex', ['41793109999'])).size).toBe(0);
}, 30_000);

test("a refusal and an undeliverable receipt reach the client's report with the SMPP words in error.description", async () => {
  const receiver = await startReceiver();
  try {
    await stack.bulks.createBulk({
      accountId: 'acme',
      bulkId: 'smpp-errors',
      messages: [
        {
          from: 'InfoSMS',
          text: 'Errors',
          flash: false,
          intermediateReport: false,
          notifyUrl: receiver.url,
          destinations: [
            { to: '99123456', messageId: 'refused' },
            { to: '447900000001', messageId: 'undeliverable' },
          ],
        },
      ],
    });
    const reports = await eventually(async () => (receiver.acceptedJsonReports().length >= 2 ? receiver.acceptedJsonReports() : undefined), 30_000);
    const byId = new Map(reports.map((r) => [r.messageId, r as { status: { name: string }; error: { description: string; permanent: boolean } }]));
    expect(byId.get('refused')!.status.name).toBe('REJECTED_INVALID_DESTINATION');
    expect(byId.get('refused')!.error.description).toBe('Invalid destination address (ESME_RINVDSTADR (0x0000000b) on submit_sm)');
    expect(byId.get('undeliverable')!.status.name).toBe('UNDELIVERABLE_NOT_DELIVERED');
    expect(byId.get('undeliverable')!.error.description).toMatch(/\(stat:UNDELIV err:001\)$/);
  } finally {
    await receiver.close();
  }
}, 60_000);
