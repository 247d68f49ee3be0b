/**
 * npm run bench:reports — applies delivery reports for a stored 100k-message bulk (half with a notifyUrl, so
 * half the reports are queued for push) the way the provider's report handler does, in the batches a provider
 * hands over, and prints reports per second. SQLite file by default; DATABASE_URL=postgres://… for PostgreSQL.
 * Last line: one JSON object.
 *
 *   BENCH_MESSAGES=20000 BENCH_HANDOVER=1000 npm run bench:reports
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isPostgresUrl, migrateToLatest, openDatabase } from '../db/database';
import { type DeliveryReportUpdate, type NewMessage, Repository } from '../db/repository';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
/** Reports per call of the handler (the simulator hands over whatever fell due since its last tick). */
const HANDOVER = Number(process.env.BENCH_HANDOVER ?? 5000);

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-reports-'));
  const url = process.env.DATABASE_URL;
  const db = openDatabase(isPostgresUrl(url) ? { url } : { sqliteFile: path.join(dir, 'orchestrator.sqlite') });
  try {
    await migrateToLatest(db);
    const repo = new Repository(db);
    const now = Date.now();
    const bulkId = `reports-${now}`;
    const messages: NewMessage[] = Array.from({ length: MESSAGES }, (_, i) => ({
      account_id: 'bench',
      message_id: `${bulkId}-${i}`,
      bulk_id: bulkId,
      group_index: 0,
      seq: i,
      group_seq: i,
      to_number: String(41_790_000_000 + i),
      from_addr: 'Bench',
      text: 'Benchmark message',
      sms_count: 1,
      flash: 0,
      notify_url: i % 2 === 0 ? 'https://hooks.example.com/dlr' : null,
      notify_content_type: null,
      callback_data: null,
      intermediate_report: 0,
      send_at: now,
      validity_ends_at: now + 3_600_000,
      state: 'SUBMITTED',
      status_name: 'PENDING_ENROUTE',
      error_name: null,
      provider_message_id: `p-${i}`,
      submitted_at: now,
      dispatch_batch: null,
      done_at: null,
      updated_at: now,
    }));
    await repo.insertBulk(
      { account_id: 'bench', bulk_id: bulkId, workflow_id: `bench:${bulkId}`, status: 'PROCESSING', tracking_process_key: null, message_count: MESSAGES, send_at: now, workflow_input: '{}', workflow_started: 1, created_at: now },
      messages,
    );
    const reports: DeliveryReportUpdate[] = messages.map((m, i) => ({
      accountId: 'bench',
      messageId: m.message_id,
      statusName: 'DELIVERED_TO_HANDSET',
      final: true,
      doneAt: now + 1000 + i,
    }));
    const cpu = process.cpuUsage();
    const started = Date.now();
    let applied = 0;
    for (let i = 0; i < reports.length; i += HANDOVER) applied += (await repo.applyDeliveryReports(reports.slice(i, i + HANDOVER))).applied;
    const ms = Date.now() - started;
    const used = process.cpuUsage(cpu);
    const progress = await repo.reportProgress('bench', bulkId);
    console.log(
      JSON.stringify({
        database: isPostgresUrl(url) ? 'postgres' : 'sqlite',
        reports: MESSAGES,
        applied,
        reportsPerSecond: Math.round(MESSAGES / (ms / 1000)),
        cpuSeconds: Number(((used.user + used.system) / 1e6).toFixed(2)),
        notFinal: progress.notFinal,
        pushesQueued: progress.pending,
      }),
    );
  } finally {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
