/**
 * Quiet hours on the time-skipping server: one campaign, two recipients in different zones. Each is held by
 * its own local clock (Athens quiet at 14:30, Zurich open at 13:30), and the bulk sends each once, at its time.
 */
import { OptOutStore } from '../../db/opt-outs';
import { DateTime } from 'luxon';
import { CampaignService } from '../../core/campaign-service';
import { bulkWorkflowId } from '../../core/bulk-service';
import { CampaignStore } from '../../db/campaigns';
import { ContactStore } from '../../db/contacts';
import { quietEndsAt } from '../../domain/quiet-hours';
import { sendBatchCalls } from '../helpers/history';
import { timeSkippingSuite } from '../helpers/stack';

const suite = timeSkippingSuite();

test('each recipient is held to the end of its own quiet period; the campaign reports what it held', async () => {
  const now = await suite.env.currentTimeMs();
  suite.stack.clock.now = now;
  const day = new Date(now + 86_400_000).toISOString().slice(0, 10);
  const sendAt = Date.parse(`${day}T12:30:00Z`);
  // 14:30 or 15:30 in Athens (quiet until 17:00 there), 13:30 or 14:30 in Zurich (open in winter, quiet in summer).
  const athensEnd = DateTime.fromMillis(sendAt, { zone: 'Europe/Athens' }).set({ hour: 17, minute: 0, second: 0, millisecond: 0 }).toMillis();
  const zurichEnd = quietEndsAt(sendAt, 'Europe/Zurich') ?? sendAt;
  const campaigns = new CampaignService({
    contacts: new ContactStore(suite.stack.db),
    optOuts: new OptOutStore(suite.stack.db),
    campaigns: new CampaignStore(suite.stack.db),
    bulks: suite.stack.bulks,
    control: suite.stack.control,
    now: () => suite.stack.clock.now,
  });
  const created = await campaigns.create({
    accountId: 'acme',
    to: ['+306948530920', '+41793026727'],
    contacts: [],
    groups: [],
    from: 'Shop',
    body: 'Quiet please',
    sendAt,
    flash: false,
    respectQuietHours: true,
  });
  expect(created.request.quietHoursReport).toEqual(zurichEnd > sendAt ? { GR: 1, CH: 1 } : { GR: 1 });
  const handle = suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', created.bulkId));
  expect(await handle.result()).toMatchObject({ total: 2, sent: 2 });

  const rows = await suite.stack.repo.listBulkMessages('acme', created.bulkId);
  const groupOf = Object.fromEntries(rows.map((r) => [r.to_number, r.group_index]));
  const calls = await sendBatchCalls(suite.stack.client, handle);
  const sentAt = (to: string) => calls.filter((c) => c.input.groupIndex === groupOf[to] && c.result.submitted > 0).map((c) => c.at);
  const [greek] = sentAt('306948530920');
  const [swiss] = sentAt('41793026727');
  expect(sentAt('306948530920')).toHaveLength(1);
  expect(sentAt('41793026727')).toHaveLength(1);
  expect(greek).toBeGreaterThanOrEqual(athensEnd);
  expect(greek! - athensEnd).toBeLessThan(60_000);
  expect(swiss).toBeGreaterThanOrEqual(zurichEnd);
  expect(swiss! - zurichEnd).toBeLessThan(60_000);
  expect(greek).not.toBe(swiss);
  expect(suite.stack.simulator.stats('acme:')).toMatchObject({ duplicates: 0 });
});

