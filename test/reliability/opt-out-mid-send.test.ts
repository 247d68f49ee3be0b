/**
 * A STOP that comes in while a bulk is being sent: the batch in flight learns of it within a fraction of a second,
 * and no later message of it reaches that number (real dev server and simulator). A gate holds every submit after
 * the first until the STOP is in, so the moment of the STOP within the send is certain rather than raced.
 */
import { bulkWorkflowId } from '../../core/bulk-service';
import type { SmsSimulator } from '../../providers/simulator';
import type { OutboundSms, SmsProvider, SubmitOptions } from '../../providers/types';
import { devServerSuite, eventually, TEST_INBOUND_NUMBERS } from '../helpers/stack';

class GatedProvider implements SmsProvider {
  readonly name = 'gated';
  private calls = 0;
  private release!: () => void;
  private readonly gate = new Promise<void>((r) => (this.release = r));
  constructor(private readonly inner: SmsSimulator) {}
  async submit(messages: OutboundSms[], options?: SubmitOptions) {
    if (this.calls++ > 0) await this.gate;
    return this.inner.submit(messages, options);
  }
  open() {
    this.release();
  }
  lookup(references: string[]) {
    return this.inner.lookup(references);
  }
  onDeliveryReports() {}
  async close() {}
}

let gated: GatedProvider;
// One batch for the whole bulk: its chunks go in order, so the target's second message is among the last to go.
const suite = devServerSuite({ provider: (sim) => (gated = new GatedProvider(sim)), tuning: { batchSize: 10_000 } });
const ACME_NUMBER = [...TEST_INBOUND_NUMBERS].find(([, account]) => account === 'acme')![0];
const TARGET = '41793049999';

test('a STOP mid-send stops the rest to that number (REJECTED_DND); everyone else still gets theirs, once', async () => {
  const destinations = Array.from({ length: 3000 }, (_, i) => ({ to: i === 0 || i === 2999 ? TARGET : String(41793040000 + i), messageId: `mid-${i}` }));
  await suite.stack.bulks.createBulk({ accountId: 'acme', bulkId: 'mid-stop', messages: [{ from: ACME_NUMBER, text: 'Mid-send', flash: false, intermediateReport: false, destinations }] });
  // The first call went through (the target's first message with it); the others wait at the gate.
  await eventually(async () => suite.stack.simulator.hasAccepted('acme:mid-0'), 15_000);
  suite.stack.simulator.deliverInbound({ from: TARGET, to: ACME_NUMBER, text: 'STOP' });
  await eventually(async () => (await suite.stack.db.selectFrom('opt_outs').selectAll().where('number', '=', TARGET).executeTakeFirst()) ?? undefined);
  // Longer than a batch waits before it looks for new opt-outs again.
  await new Promise((r) => setTimeout(r, 400));
  gated.open();

  const counts = await suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', 'mid-stop')).result();
  const rows = await suite.stack.repo.listBulkMessages('acme', 'mid-stop');
  expect(rows.find((r) => r.message_id === 'mid-2999')).toMatchObject({ status_name: 'REJECTED_DND', provider_message_id: null });
  expect(suite.stack.simulator.hasAccepted('acme:mid-2999')).toBe(false);
  expect(rows.filter((r) => r.status_name === 'REJECTED_DND').map((r) => r.message_id)).toEqual(['mid-2999']);
  expect(counts).toMatchObject({ total: 3000, sent: 2999, rejected: 1 });
  expect(suite.stack.simulator.stats('acme:mid-')).toMatchObject({ accepted: 2999, duplicates: 0 });
}, 60_000);
