import { type Kysely, type Migration, type MigrationProvider, sql, SqliteAdapter } from 'kysely';

/**
 * Migrations for SQLite and PostgreSQL alike: only column types both understand (text, integer, bigint).
 * Append new entries; never edit one that has shipped.
 */
const migrations: Record<string, Migration> = {
  '0001_bulks_and_messages': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('bulks')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('bulk_id', 'text', (c) => c.notNull())
        .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('tracking_process_key', 'text')
        .addColumn('message_count', 'integer', (c) => c.notNull())
        // First send time; the workflow owns it while running (reschedules) and writes the final value back.
        .addColumn('send_at', 'bigint', (c) => c.notNull())
        .addColumn('workflow_input', 'text', (c) => c.notNull())
        .addColumn('workflow_started', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('bulks_pk', ['account_id', 'bulk_id'])
        .execute();
      await db.schema
        .createTable('messages')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('bulk_id', 'text', (c) => c.notNull())
        .addColumn('group_index', 'integer', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        // Position within the schedule group: dispatch batches are ranges of it, so several run at once.
        .addColumn('group_seq', 'integer', (c) => c.notNull())
        .addColumn('to_number', 'text', (c) => c.notNull())
        .addColumn('from_addr', 'text')
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('sms_count', 'integer', (c) => c.notNull())
        .addColumn('flash', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('notify_url', 'text')
        .addColumn('notify_content_type', 'text')
        .addColumn('callback_data', 'text')
        .addColumn('intermediate_report', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('send_at', 'bigint', (c) => c.notNull())
        .addColumn('validity_ends_at', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('status_name', 'text', (c) => c.notNull())
        .addColumn('error_name', 'text')
        .addColumn('provider_message_id', 'text')
        .addColumn('submitted_at', 'bigint')
        // Which sendBatch activity submitted the message, so a retried activity reports exactly what it (and
        // its failed attempts) sent.
        .addColumn('dispatch_batch', 'text')
        .addColumn('done_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('messages_pk', ['account_id', 'message_id'])
        .execute();
      await db.schema
        .createIndex('messages_dispatch_idx')
        .on('messages')
        .columns(['account_id', 'bulk_id', 'group_index', 'group_seq'])
        .execute();
      await db.schema.createIndex('bulks_unstarted_idx').on('bulks').columns(['workflow_started', 'created_at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table messages`.execute(db);
      await sql`drop table bulks`.execute(db);
    },
  },
  '0002_reports': {
    // The report outbox: one row per status a client must hear about. Rows with push = 1 go to the message's
    // notifyUrl (retried with backoff); the others wait to be pulled once from GET /sms/1/reports.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('reports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('bulk_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('status_name', 'text', (c) => c.notNull())
        .addColumn('final', 'integer', (c) => c.notNull())
        .addColumn('push', 'integer', (c) => c.notNull())
        .addColumn('done_at', 'bigint', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('delivered_at', 'bigint')
        .addColumn('gave_up_at', 'bigint')
        .addColumn('pulled_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('reports_push_idx')
        .on('reports')
        .columns(['account_id', 'bulk_id', 'push', 'delivered_at', 'gave_up_at', 'next_attempt_at'])
        .execute();
      await db.schema.createIndex('reports_pull_idx').on('reports').columns(['account_id', 'push', 'pulled_at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table reports`.execute(db);
    },
  },
  '0003_dispatch_leases': {
    // Fencing for dispatch batches (activities/dispatch-lease.ts): one row per activity attempt that may submit
    // messages of a range. Its submits all end by lease_until; a later attempt over an overlapping range revokes
    // it and waits until then before it asks the provider what is in doubt.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('dispatch_leases')
        .addColumn('holder', 'text', (c) => c.primaryKey())
        .addColumn('batch', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('bulk_id', 'text', (c) => c.notNull())
        .addColumn('group_index', 'integer', (c) => c.notNull())
        .addColumn('from_seq', 'integer', (c) => c.notNull())
        .addColumn('to_seq', 'integer', (c) => c.notNull())
        .addColumn('lease_until', 'bigint', (c) => c.notNull())
        .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('dispatch_leases_bulk_idx').on('dispatch_leases').columns(['account_id', 'bulk_id', 'group_index']).execute();
      await db.schema.createIndex('dispatch_leases_batch_idx').on('dispatch_leases').columns(['batch']).execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table dispatch_leases`.execute(db);
    },
  },
  '0004_armed_batches': {
    // Batches started ahead of their due time (workflows/bulk-workflow.ts, "armed"): which of them went off at
    // their due time and which a pause, cancel or reschedule disarmed first. One row per batch, the first writer
    // wins: a batch that finds itself disarmed sends nothing, and a disarm that finds the batch fired waits for it.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('armed_batches')
        .addColumn('batch', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('bulk_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('armed_batches_at_idx').on('armed_batches').columns(['at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table armed_batches`.execute(db);
    },
  },
  '0005_contacts_groups_campaigns': {
    // Contacts, labels and groups of an account (db/contacts.ts), and campaigns: a Routee trackingId and the
    // bulk that sends it (an update of a scheduled campaign replaces the bulk, the trackingId stays).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('contacts')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('mobile', 'text', (c) => c.notNull())
        .addColumn('first_name', 'text')
        .addColumn('last_name', 'text')
        .addColumn('email', 'text')
        .addColumn('vip', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('country', 'text')
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('blacklist', 'text', (c) => c.notNull())
        .addColumn('opt_in', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('contacts_pk', ['account_id', 'contact_id'])
        .addUniqueConstraint('contacts_mobile_uq', ['account_id', 'mobile'])
        .execute();
      await db.schema.createIndex('contacts_created_idx').on('contacts').columns(['account_id', 'created_at']).execute();
      await db.schema
        .createTable('contact_labels')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('contact_labels_pk', ['account_id', 'name'])
        .execute();
      await db.schema
        .createTable('contact_groups')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('group_id', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('contact_groups_pk', ['account_id', 'group_id'])
        .addUniqueConstraint('contact_groups_name_uq', ['account_id', 'name'])
        .execute();
      await db.schema
        .createTable('group_members')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('group_id', 'integer', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('group_members_pk', ['account_id', 'group_id', 'contact_id'])
        .execute();
      await db.schema.createIndex('group_members_contact_idx').on('group_members').columns(['account_id', 'contact_id']).execute();
      await db.schema
        .createTable('campaigns')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('tracking_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('bulk_id', 'text', (c) => c.notNull())
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('analysis', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('campaigns_pk', ['account_id', 'tracking_id'])
        .addUniqueConstraint('campaigns_name_uq', ['account_id', 'name'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['campaigns', 'group_members', 'contact_groups', 'contact_labels', 'contacts']) await sql.raw(`drop table ${t}`).execute(db);
    },
  },
  '0006_campaign_callbacks': {
    // Routee's campaignCallback: where a campaign's progress is told, and how far it was told.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('campaign_callbacks')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('bulk_id', 'text', (c) => c.notNull())
        .addColumn('tracking_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('strategy', 'text', (c) => c.notNull())
        .addColumn('notified', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('gave_up', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('campaign_callbacks_pk', ['account_id', 'bulk_id'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table campaign_callbacks`.execute(db);
    },
  },
  '0007_balances': {
    // Prepaid balances (micro-units) and what each message is charged; absent balance = unlimited account.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('account_balances')
        .addColumn('account_id', 'text', (c) => c.primaryKey())
        .addColumn('balance_micros', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('messages').addColumn('price_micros', 'bigint').execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table account_balances`.execute(db);
      await sql`alter table messages drop column price_micros`.execute(db);
    },
  },
  '0008_campaigns_updated_idx': {
    // The campaign reconciler reads only campaigns written in its recent window.
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('campaigns_updated_idx').on('campaigns').columns(['updated_at']).execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex('campaigns_updated_idx').execute();
    },
  },
  '0009_inbound_opt_outs_mms': {
    // Opt-outs checked at submit, mobile-originated messages, double opt-in requests, MMS templates, and the
    // campaigns' numbers (ProTexting addresses campaigns by an integer).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('opt_outs')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('number', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('opt_outs_pk', ['account_id', 'number'])
        .execute();
      await db.schema.createIndex('opt_outs_at_idx').on('opt_outs').columns(['account_id', 'at']).execute();
      await db.schema
        .createTable('inbound_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text')
        .addColumn('from_number', 'text', (c) => c.notNull())
        .addColumn('to_number', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('keyword', 'text')
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('inbound_messages_account_idx').on('inbound_messages').columns(['account_id', 'received_at']).execute();
      await db.schema
        .createTable('opt_in_requests')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('number', 'text', (c) => c.notNull())
        .addColumn('group_ids', 'text', (c) => c.notNull())
        .addColumn('confirm_message', 'text')
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('opt_in_requests_pk', ['account_id', 'number'])
        .execute();
      await db.schema
        .createTable('mms_templates')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('template_id', 'integer', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('status_id', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('media_type', 'text')
        .addColumn('size_bytes', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('mms_templates_pk', ['account_id', 'template_id'])
        .execute();
      await db.schema.alterTable('campaigns').addColumn('number', 'integer').execute();
      await db.schema.alterTable('contact_groups').addColumn('note', 'text').execute();
      await db.schema.alterTable('messages').addColumn('mms', 'text').execute();
      await db.schema.createIndex('campaigns_number_uq').on('campaigns').columns(['account_id', 'number']).unique().execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex('campaigns_number_uq').execute();
      await sql`alter table campaigns drop column number`.execute(db);
      await sql`alter table contact_groups drop column note`.execute(db);
      await sql`alter table messages drop column mms`.execute(db);
      for (const t of ['mms_templates', 'opt_in_requests', 'inbound_messages', 'opt_outs']) await sql.raw(`drop table ${t}`).execute(db);
    },
  },
  '0010_smpp_journal_language': {
    // The SMPP transport's journal (what was put on the wire, what the SMSC answered and reported, per part) and
    // each message's national language tables (languageCode), which the SMPP encoder needs at send time.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('smpp_messages')
        .addColumn('reference', 'text', (c) => c.primaryKey())
        .addColumn('parts', 'integer', (c) => c.notNull())
        .addColumn('concat_ref', 'integer', (c) => c.notNull())
        .addColumn('to_number', 'text', (c) => c.notNull())
        .addColumn('validity_ends_at', 'bigint')
        .addColumn('status', 'text')
        .addColumn('error', 'text')
        .addColumn('done_at', 'bigint')
        .addColumn('reported', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      // Partial indexes: only the few rows the sweep looks for are in them, so the hot path barely maintains them.
      await db.schema
        .createIndex('smpp_messages_unreported_idx')
        .on('smpp_messages')
        .column('reference')
        .where(sql<boolean>`reported = 0 and status is not null`)
        .execute();
      await db.schema.createIndex('smpp_messages_created_idx').on('smpp_messages').column('created_at').execute();
      // SQLite: WITHOUT ROWID, so the primary key is the table (one B-tree to write per part, not two).
      const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
      await db.schema
        .createTable('smpp_parts')
        .addColumn('reference', 'text', (c) => c.notNull())
        .addColumn('part_no', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('smsc_id', 'text')
        .addColumn('umr', 'integer', (c) => c.notNull())
        .addColumn('to_number', 'text', (c) => c.notNull())
        .addColumn('sent_at', 'bigint', (c) => c.notNull())
        .addColumn('receipt_status', 'text')
        .addColumn('error', 'text')
        .addPrimaryKeyConstraint('smpp_parts_pk', ['reference', 'part_no'])
        .$call((b) => (sqlite ? b.modifyEnd(sql`without rowid`) : b))
        .execute();
      // Partial indexes, so the hot path (insert as sending, then accepted) touches as few as it can: the SMSC's id
      // only once known; parts in flight or in doubt (by state and user_message_reference) only while they are.
      await db.schema.createIndex('smpp_parts_smsc_id_idx').on('smpp_parts').column('smsc_id').where(sql<boolean>`smsc_id is not null`).execute();
      await db.schema
        .createIndex('smpp_parts_open_idx')
        .on('smpp_parts')
        .columns(['state', 'umr'])
        .where(sql<boolean>`state in ('sending', 'unconfirmed')`)
        .execute();
      await db.schema.alterTable('messages').addColumn('language_code', 'text').execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`alter table messages drop column language_code`.execute(db);
      for (const t of ['smpp_parts', 'smpp_messages']) await sql.raw(`drop table ${t}`).execute(db);
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
