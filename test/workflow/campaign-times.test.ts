/**
 * Campaign timing on the time-skipping server, read from the real event histories: quiet hours held across a
 * daylight-saving change (the end of the quiet night is 08:00 on the recipient's new clock, not the old one), and
 * reminders that go their minutes before and after the campaign, each once.
 */
import { OptOutStore } from '../../db/opt-outs';
import { DateTime } from 'luxon';
import { CampaignService } from '../../core/campaign-service';
import { bulkWorkflowId } from '../../core/bulk-service';
import { CampaignStore } from '../../db/campaigns';
import { ContactStore } from '../../db/contacts';
import { sendBatchCalls } from '../helpers/history';
import { timeSkippingSuite } from '../helpers/stack';

const suite = timeSkippingSuite();

function campaignService(): CampaignService {
  return new CampaignService({
    contacts: new ContactStore(suite.stack.db),
    optOuts: new OptOutStore(suite.stack.db),
    campaigns: new CampaignStore(suite.stack.db),
    bulks: suite.stack.bulks,
    control: suite.stack.control,
    now: () => suite.stack.clock.now,
  });
}

/** The first instant after `from` at which the zone's UTC offset changes (found hour by hour, then to the minute). */
function nextOffsetChange(from: number, zone: string): number {
  const offsetAt = (t: number) => DateTime.fromMillis(t, { zone }).offset;
  let t = from;
  while (offsetAt(t + 3_600_000) === offsetAt(from)) t += 3_600_000;
  while (offsetAt(t) === offsetAt(from)) t += 60_000;
  return t;
}

/** Completed sends of one bulk that submitted something, at workflow time. */
async function sendTimes(bulkId: string): Promise<number[]> {
  const handle = suite.stack.client.workflow.getHandle(bulkWorkflowId('acme', bulkId));
  await handle.result();
  return (await sendBatchCalls(suite.stack.client, handle)).filter((c) => c.result.submitted > 0).map((c) => c.at);
}

test('a recipient held through the night of a daylight-saving change gets the message at 08:00 of the new clock', async () => {
  const now = await suite.env.currentTimeMs();
  suite.stack.clock.now = now;
  const zone = 'Europe/Athens';
  const change = nextOffsetChange(now + 86_400_000, zone);
  // Two and a half hours before the change: 00:30 or 01:30 local, deep in the quiet night.
  const sendAt = change - 2.5 * 3_600_000;
  const quietEnd = DateTime.fromMillis(change, { zone }).set({ hour: 8, minute: 0, second: 0, millisecond: 0 }).toMillis();
  const offsetBefore = DateTime.fromMillis(sendAt, { zone }).offset;
  const offsetAfter = DateTime.fromMillis(quietEnd, { zone }).offset;
  expect(offsetAfter).not.toBe(offsetBefore);
  // What a fixed offset taken at send time would have said; the product must not do that.
  const naiveEnd = quietEnd + (offsetAfter - offsetBefore) * 60_000;

  const created = await campaignService().create({
    accountId: 'acme',
    to: ['+306948530930'],
    contacts: [],
    groups: [],
    from: 'Shop',
    body: 'Good morning',
    sendAt,
    flash: false,
    respectQuietHours: true,
  });
  expect(created.request.quietHoursReport).toEqual({ GR: 1 });
  const [row] = await suite.stack.repo.listBulkMessages('acme', created.bulkId);
  expect(row!.send_at).toBe(quietEnd);

  const times = await sendTimes(created.bulkId);
  expect(times).toHaveLength(1);
  expect(times[0]).toBeGreaterThanOrEqual(quietEnd);
  expect(times[0]! - quietEnd).toBeLessThan(60_000);
  expect(Math.abs(naiveEnd - quietEnd)).toBe(3_600_000);
  expect(DateTime.fromMillis(times[0]!, { zone }).hour).toBe(8);
  expect(suite.stack.simulator.stats('acme:')).toMatchObject({ duplicates: 0 });
});

test('reminders go once each, their minutes before and after the campaign; the campaign goes at its time', async () => {
  const now = await suite.env.currentTimeMs();
  suite.stack.clock.now = now;
  const sendAt = now + 86_400_000;
  const created = await campaignService().create({
    accountId: 'acme',
    to: ['+41793026780'],
    contacts: [],
    groups: [],
    from: 'Shop',
    body: 'Doors open',
    sendAt,
    flash: false,
    reminder: { minutesBefore: 45, minutesAfter: 20, to: ['+41793026781', '+41793026782'] },
  });
  // One result at a time: awaiting the three results at once hung this test on the time-skipping server 1.38.0
  // (its time lock reported "Unbalanced lock and unlock calls" and running activities timed out).
  const before = await sendTimes(`${created.bulkId}~before`);
  const campaign = await sendTimes(created.bulkId);
  const after = await sendTimes(`${created.bulkId}~after`);
  const near = (times: number[], at: number) => {
    expect(times).toHaveLength(1);
    expect(times[0]).toBeGreaterThanOrEqual(at);
    expect(times[0]! - at).toBeLessThan(60_000);
  };
  near(campaign, sendAt);
  near(before, sendAt - 45 * 60_000);
  near(after, sendAt + 20 * 60_000);
  const reminded = await suite.stack.repo.listBulkMessages('acme', `${created.bulkId}~after`);
  expect(reminded.map((m) => [m.to_number, m.text, m.status_name]).sort()).toEqual([
    ['41793026781', 'Doors open', expect.any(String)],
    ['41793026782', 'Doors open', expect.any(String)],
  ]);
  expect(reminded.every((m) => m.provider_message_id)).toBe(true);
  expect(suite.stack.simulator.stats('acme:')).toMatchObject({ duplicates: 0 });
});
