import type { PDU } from 'smpp';
import type { StatusName } from '../../domain/status';

/** What a delivery receipt says about one part. */
export interface Receipt {
  smscId?: string;
  /** Final status in Infobip's names; undefined for an intermediate state (ENROUTE, ACCEPTD). */
  status?: StatusName;
  /** The receipt's own words when the part failed: `stat:UNDELIV err:001`. */
  error?: string;
  /** user_message_reference echoed by the SMSC. */
  umr?: number;
}

/** The receipt text's `stat:` values (SMPP 3.4 appendix B) as final statuses. */
export function receiptStatus(stat: string): StatusName | undefined {
  switch (stat.toUpperCase()) {
    case 'DELIVRD':
      return 'DELIVERED_TO_HANDSET';
    case 'EXPIRED':
      return 'EXPIRED_EXPIRED';
    case 'UNDELIV':
    case 'DELETED':
      return 'UNDELIVERABLE_NOT_DELIVERED';
    case 'REJECTD':
      return 'UNDELIVERABLE_REJECTED_OPERATOR';
    case 'UNKNOWN':
      return 'EXPIRED_DLR_UNKNOWN';
    default:
      return undefined;
  }
}

/** message_state TLV values (SMPP 3.4 5.2.28) as the receipt text's words. */
const MESSAGE_STATES: Record<number, string> = { 1: 'ENROUTE', 2: 'DELIVRD', 3: 'EXPIRED', 4: 'DELETED', 5: 'UNDELIV', 6: 'ACCEPTD', 7: 'UNKNOWN', 8: 'REJECTD' };

function textOf(pdu: PDU): string {
  const sm = pdu.short_message as { message?: string | Buffer } | Buffer | string | undefined;
  const payload = pdu.message_payload as { message?: string | Buffer } | Buffer | string | undefined;
  for (const v of [sm, payload]) {
    if (typeof v === 'string' && v) return v;
    if (Buffer.isBuffer(v) && v.length) return v.toString('latin1');
    if (v && typeof v === 'object' && !Buffer.isBuffer(v) && v.message) return typeof v.message === 'string' ? v.message : v.message.toString('latin1');
  }
  return '';
}

/**
 * A deliver_sm receipt: the TLVs (receipted_message_id, message_state) where present, else the text's
 * `id:… stat:… err:…` fields. Either may be missing; an SMSC that sends neither id nor state sends nothing usable.
 */
export function parseReceipt(pdu: PDU): Receipt {
  const text = textOf(pdu);
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}:(\\S*)`, 'i').exec(text)?.[1];
  const tlvId = typeof pdu.receipted_message_id === 'string' && pdu.receipted_message_id ? pdu.receipted_message_id : undefined;
  const tlvState = typeof pdu.message_state === 'number' ? MESSAGE_STATES[pdu.message_state] : undefined;
  const stat = tlvState ?? field('stat') ?? '';
  const status = receiptStatus(stat);
  const err = field('err');
  return {
    smscId: tlvId ?? field('id'),
    status,
    ...(status && status !== 'DELIVERED_TO_HANDSET' ? { error: `stat:${stat}${err ? ` err:${err}` : ''}` } : {}),
    ...(typeof pdu.user_message_reference === 'number' ? { umr: pdu.user_message_reference } : {}),
  };
}
