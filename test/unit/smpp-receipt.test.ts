import type { PDU } from 'smpp';
import { parseReceipt, receiptStatus } from '../../providers/smpp/receipt';
import { addressType, smppAbsoluteTime, submitParts } from '../../providers/smpp/encode';

const pdu = (fields: Record<string, unknown>) => ({ command: 'deliver_sm', command_id: 5, command_status: 0, sequence_number: 1, ...fields }) as unknown as PDU;

test('a receipt read from its TLVs, or from its text when an SMSC sends none', () => {
  expect(parseReceipt(pdu({ receipted_message_id: 'abc', message_state: 2, user_message_reference: 7, short_message: { message: 'id:zzz stat:UNDELIV' } }))).toEqual({
    smscId: 'abc',
    status: 'DELIVERED_TO_HANDSET',
    umr: 7,
  });
  expect(parseReceipt(pdu({ short_message: { message: 'id:0123 sub:001 dlvrd:000 submit date:2612060101 done date:2612060102 stat:EXPIRED err:027 text:hi' } }))).toEqual({
    smscId: '0123',
    status: 'EXPIRED_EXPIRED',
    error: 'stat:EXPIRED err:027',
  });
  // Intermediate states carry no final status.
  expect(parseReceipt(pdu({ short_message: { message: 'id:1 stat:ENROUTE' } })).status).toBeUndefined();
  expect(receiptStatus('rejectd')).toBe('UNDELIVERABLE_REJECTED_OPERATOR');
  expect(receiptStatus('UNKNOWN')).toBe('EXPIRED_DLR_UNKNOWN');
});

test('submit_sm fields: flash as class 0 in both alphabets, validity in SMPP absolute time, address types', () => {
  expect(submitParts('hi', { flash: true, concatRef: 1, mode: 'udh' })[0]!.data_coding).toBe(0x10);
  expect(submitParts('привет', { flash: true, concatRef: 1, mode: 'udh' })[0]!.data_coding).toBe(0x18);
  expect(smppAbsoluteTime(Date.UTC(2026, 11, 6, 9, 5, 7))).toBe('261206090507000+');
  expect(addressType('InfoSMS')).toEqual({ ton: 5, npi: 0 });
  expect(addressType('41793026727')).toEqual({ ton: 1, npi: 1 });
});
