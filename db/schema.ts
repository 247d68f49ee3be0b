import type { ColumnType } from 'kysely';

/** Times are epoch milliseconds: one representation for SQLite and PostgreSQL (bigint, parsed to number). */
type Millis = number;

export interface BulkTable {
  account_id: string;
  bulk_id: string;
  workflow_id: string;
  /** Last status the workflow wrote; the workflow is the authority, this copy serves lists and reconciliation. */
  status: string;
  tracking_process_key: string | null;
  message_count: number;
  send_at: Millis;
  /** JSON of the workflow input, so an accepted bulk whose workflow never started can be started later. */
  workflow_input: string;
  workflow_started: number;
  created_at: Millis;
}

export interface MessageTable {
  account_id: string;
  message_id: string;
  bulk_id: string;
  group_index: number;
  seq: number;
  group_seq: number;
  to_number: string;
  from_addr: string | null;
  text: string;
  sms_count: number;
  flash: number;
  notify_url: string | null;
  notify_content_type: string | null;
  callback_data: string | null;
  intermediate_report: number;
  /** JSON {subject, mediaUrl} of an MMS (ProTexting); null for an SMS. */
  mms: ColumnType<string | null, string | null | undefined, string | null>;
  /** National language tables the text may use (TR, ES, PT: Infobip's languageCode); null: the default alphabet. */
  language_code: ColumnType<string | null, string | null | undefined, string | null>;
  send_at: Millis;
  validity_ends_at: Millis;
  /** Dispatch state: QUEUED → SUBMITTING → SUBMITTED → FINAL (or QUEUED → FINAL when expired/canceled). */
  state: ColumnType<DispatchState, DispatchState, DispatchState>;
  status_name: string;
  error_name: string | null;
  provider_message_id: string | null;
  submitted_at: Millis | null;
  dispatch_batch: string | null;
  done_at: Millis | null;
  updated_at: Millis;
  /**
   * What the message costs its account (micro-units; parts × price of its destination), taken from the
   * balance when the bulk was accepted and given back (set to 0) when it ends without reaching the provider.
   * Null: no pricing configured. Optional on insert: rows of bulks stored before balances existed have none.
   */
  price_micros: ColumnType<number | null, number | null | undefined, number | null>;
}

export type DispatchState = 'QUEUED' | 'SUBMITTING' | 'SUBMITTED' | 'FINAL';


export interface ReportTable {
  /** account:messageId:status — stable, so receivers can de-duplicate at-least-once pushes. */
  id: string;
  account_id: string;
  bulk_id: string;
  message_id: string;
  status_name: string;
  final: number;
  push: number;
  done_at: Millis;
  attempts: number;
  next_attempt_at: Millis;
  delivered_at: Millis | null;
  gave_up_at: Millis | null;
  pulled_at: Millis | null;
}

/** One dispatch attempt's right to submit the messages of a range (see db/dispatch-leases.ts). */
/** A batch started ahead of its due time: FIRED at its due time, or DISARMED before it (db/armed-batches.ts). */
export interface ArmedBatchTable {
  /** `<runId>/<activityId>`, as messages.dispatch_batch. */
  batch: string;
  account_id: string;
  bulk_id: string;
  state: 'FIRED' | 'DISARMED';
  at: Millis;
}

export interface DispatchLeaseTable {
  /** `<runId>/<activityId>#<attempt>`. */
  holder: string;
  /** `<runId>/<activityId>`, as messages.dispatch_batch. */
  batch: string;
  account_id: string;
  bulk_id: string;
  group_index: number;
  from_seq: number;
  to_seq: number;
  /** Every submit of the holder ends (answered, or abandoned with the provider told so) by this time. */
  lease_until: Millis;
  /** Set when a later attempt took over: the holder may no longer extend its lease. */
  revoked: number;
}

/** A contact of an account (db/contacts.ts). labels: JSON object name → value; blacklist: JSON array of services. */
export interface ContactTable {
  account_id: string;
  contact_id: string;
  /** E.164 with '+'; unique per account. */
  mobile: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  vip: number;
  country: string | null;
  labels: string;
  blacklist: string;
  /** SINGLE | DOUBLE_CONFIRMED | OPTED_OUT */
  opt_in: string;
  created_at: Millis;
  updated_at: Millis;
}

/** A custom contact label an account defined (the built-in ones are not stored). */
export interface ContactLabelTable {
  account_id: string;
  name: string;
  /** Text | Number */
  type: string;
}

/** A group of contacts: a name unique per account (Routee) and a number (ProTexting). */
export interface ContactGroupTable {
  account_id: string;
  group_id: number;
  name: string;
  created_at: Millis;
  /** ProTexting's fnote. */
  note: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface GroupMemberTable {
  account_id: string;
  group_id: number;
  contact_id: string;
}

/** A campaign (Routee's trackingId) and the bulk that sends it now; request and analysis are JSON. */
export interface CampaignTable {
  account_id: string;
  tracking_id: string;
  /** Unique per account when present. */
  name: string | null;
  bulk_id: string;
  request: string;
  analysis: string;
  created_at: Millis;
  updated_at: Millis;
  /** The campaign's number in its account (ProTexting's integer Id); absent for Routee's. */
  number: ColumnType<number | null, number | null | undefined, number | null>;
}

/** A campaign's progress callback (Routee campaignCallback), one per bulk that sends the campaign. */
export interface CampaignCallbackTable {
  account_id: string;
  bulk_id: string;
  tracking_id: string;
  name: string | null;
  url: string;
  /** OnChange (every fifth of the messages final) | OnCompletion (once, all final). */
  strategy: string;
  /** Fifths of the messages final that were last told (0–5); 5 = the completion was told. */
  notified: number;
  attempts: number;
  next_attempt_at: Millis;
  gave_up: number;
}

export interface AccountBalanceTable {
  account_id: string;
  balance_micros: number;
  updated_at: Millis;
}

export interface Database {
  bulks: BulkTable;
  messages: MessageTable;
  reports: ReportTable;
  dispatch_leases: DispatchLeaseTable;
  armed_batches: ArmedBatchTable;
  contacts: ContactTable;
  contact_labels: ContactLabelTable;
  contact_groups: ContactGroupTable;
  group_members: GroupMemberTable;
  campaigns: CampaignTable;
  campaign_callbacks: CampaignCallbackTable;
  account_balances: AccountBalanceTable;
  opt_outs: OptOutTable;
  inbound_messages: InboundMessageTable;
  opt_in_requests: OptInRequestTable;
  mms_templates: MmsTemplateTable;
  smpp_messages: SmppMessageTable;
  smpp_parts: SmppPartTable;
}

/** One message given to the SMPP transport (providers/smpp): its parts, and its outcome once the SMSC told it. */
export interface SmppMessageTable {
  /** account:messageId. */
  reference: string;
  parts: number;
  /** The concatenation reference its parts share (UDH or sar_msg_ref_num), kept so a retried part matches. */
  concat_ref: number;
  to_number: string;
  validity_ends_at: Millis | null;
  /** Final status (Infobip name) once every part has one; null while any is open. */
  status: string | null;
  error: string | null;
  done_at: Millis | null;
  /** 1 once the report of that status reached the report listener. */
  reported: ColumnType<number, number | undefined, number>;
  created_at: Millis;
}

/**
 * One submit_sm. Written before the PDU goes out, so a part with no row was never sent: `sending` until its
 * response, then `accepted` (with the SMSC's id) or `refused`; a `sending` part whose response can no longer
 * come is in doubt (`unconfirmed`) and is never sent again (see providers/smpp/provider.ts).
 */
export interface SmppPartTable {
  reference: string;
  part_no: number;
  state: 'sending' | 'accepted' | 'refused' | 'unconfirmed';
  smsc_id: string | null;
  /** user_message_reference sent with it: how a receipt for a part whose response was lost finds it. */
  umr: number;
  to_number: string;
  sent_at: Millis;
  /** Its own final status from a receipt. */
  receipt_status: string | null;
  error: string | null;
}

/** A number that asked an account for no more messages (STOP, an API opt-out); checked before every submit. */
export interface OptOutTable {
  account_id: string;
  /** International digits, no '+' (as messages.to_number). */
  number: string;
  /** What opted it out: 'MO:STOP', 'api', … */
  source: string;
  at: Millis;
}

/** A mobile-originated message, kept as it came; account_id null when no account owns the number it was sent to. */
export interface InboundMessageTable {
  id: string;
  account_id: string | null;
  from_number: string;
  to_number: string;
  text: string;
  /** The keyword it was read as (STOP, YES, …), when it was one. */
  keyword: string | null;
  received_at: Millis;
}

/** A double opt-in asked of a number (ProTexting contacts-opt-in): confirmed by its YES. group_ids: JSON numbers. */
export interface OptInRequestTable {
  account_id: string;
  number: string;
  group_ids: string;
  confirm_message: string | null;
  requested_at: Millis;
}

/** An MMS media template (ProTexting); status_id 0 pending, 1 processing, 3 approved, 4 rejected. */
export interface MmsTemplateTable {
  account_id: string;
  template_id: number;
  name: string | null;
  url: string;
  status_id: number;
  reason: string | null;
  media_type: string | null;
  size_bytes: number | null;
  created_at: Millis;
  updated_at: Millis;
}
