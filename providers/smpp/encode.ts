import { encodeSms, type LanguageCode } from '../../domain/encoding';
import { NATIONAL_LANGUAGE_ID } from '../../domain/gsm-tables';

/** How a message longer than one SMS goes to the SMSC (SMPP_LONG_MESSAGES). */
export type LongMessageMode = 'udh' | 'sar' | 'payload';

/** The fields of one submit_sm that depend on the text. */
export interface SubmitPart {
  partNo: number;
  parts: number;
  esm_class: number;
  data_coding: number;
  short_message: Buffer;
  /** TLVs: sar_* for the sar mode, message_payload for the payload mode. */
  tlvs: Record<string, unknown>;
}

const UDHI = 0x40;
/** TS 23.038 data coding: GSM 7-bit default alphabet, UCS-2; a message class of 0 (flash) sets bit 4 and class 0. */
const DC_GSM7 = 0x00;
const DC_UCS2 = 0x08;
const DC_CLASS0 = 0x10;

/**
 * A text as submit_sm PDUs: GSM-7 (data_coding 0, one septet per octet) with the national shift tables announced
 * in the UDH (information elements 0x24 locking, 0x25 single shift), or UCS-2 (8); long texts in parts of at
 * most 140 octets with the 8-bit concatenation element (0x00) sharing `concatRef`, or as sar_* TLVs, or whole in
 * message_payload. Flash as message class 0.
 */
export function submitParts(text: string, options: { languageCode?: LanguageCode; flash: boolean; concatRef: number; mode: LongMessageMode }): SubmitPart[] {
  const encoded = encodeSms(text, options.languageCode);
  const segments = encoded.segments.map((octets) => Buffer.from(octets));
  const dataCoding = (encoded.encoding === 'GSM7' ? DC_GSM7 : DC_UCS2) | (options.flash ? DC_CLASS0 : 0);
  const shiftIes: number[] = [];
  if (encoded.lockingShift) shiftIes.push(0x25, 0x01, NATIONAL_LANGUAGE_ID[encoded.lockingShift]);
  if (encoded.singleShift) shiftIes.push(0x24, 0x01, NATIONAL_LANGUAGE_ID[encoded.singleShift]);
  const udh = (ies: number[]) => (ies.length ? Buffer.from([ies.length, ...ies]) : Buffer.alloc(0));

  if (segments.length === 1 || options.mode === 'payload') {
    const body = Buffer.concat(segments);
    const header = udh(shiftIes);
    const esm = header.length ? UDHI : 0;
    if (segments.length === 1) {
      return [{ partNo: 1, parts: 1, esm_class: esm, data_coding: dataCoding, short_message: Buffer.concat([header, body]), tlvs: {} }];
    }
    return [{ partNo: 1, parts: 1, esm_class: esm, data_coding: dataCoding, short_message: Buffer.alloc(0), tlvs: { message_payload: Buffer.concat([header, body]) } }];
  }
  const total = segments.length;
  return segments.map((segment, i) => {
    const partNo = i + 1;
    if (options.mode === 'sar') {
      const header = udh(shiftIes);
      return {
        partNo,
        parts: total,
        esm_class: header.length ? UDHI : 0,
        data_coding: dataCoding,
        short_message: Buffer.concat([header, segment]),
        tlvs: { sar_msg_ref_num: options.concatRef & 0xffff, sar_total_segments: total, sar_segment_seqnum: partNo },
      };
    }
    const header = udh([0x00, 0x03, options.concatRef & 0xff, total, partNo, ...shiftIes]);
    return { partNo, parts: total, esm_class: UDHI, data_coding: dataCoding, short_message: Buffer.concat([header, segment]), tlvs: {} };
  });
}

/** SMPP absolute time (YYMMDDhhmmsstnnp) in UTC: validity_period. */
export function smppAbsoluteTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCFullYear() % 100)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}000+`;
}

/** Type of number and numbering plan of an address: alphanumeric sender (5/0) or international digits (1/1). */
export function addressType(address: string): { ton: number; npi: number } {
  return /^\+?\d+$/.test(address) ? { ton: 1, npi: 1 } : { ton: 5, npi: 0 };
}
