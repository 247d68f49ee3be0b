import { GifWriter } from 'omggif';
import { formatEastern, parseEastern, parseXmlRequest, toProtextingXml } from '../../api/protexting/format';
import { keywordOf } from '../../core/inbound';
import pino from 'pino';
import { CallbackGuard } from '../../core/callback-guard';
import { mediaProblem, MmsTemplates } from '../../core/mms-templates';

test('Eastern dates: standard and daylight offsets, the skipped hour refused, the repeated hour read as its first', () => {
  expect(new Date(parseEastern('2026-01-15 10:00:00')!).toISOString()).toBe('2026-01-15T15:00:00.000Z');
  expect(new Date(parseEastern('2026-07-01 10:00:00')!).toISOString()).toBe('2026-07-01T14:00:00.000Z');
  // 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 never happens.
  expect(parseEastern('2026-03-08 02:30:00')).toBeUndefined();
  expect(new Date(parseEastern('2026-03-08 03:30:00')!).toISOString()).toBe('2026-03-08T07:30:00.000Z');
  // 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice; the first (EDT) is taken.
  expect(new Date(parseEastern('2026-11-01 01:30:00')!).toISOString()).toBe('2026-11-01T05:30:00.000Z');
  for (const bad of ['2026-02-30 10:00:00', '2026-01-15T10:00:00', '2026-01-15 10:00', '', 'soon']) expect(parseEastern(bad)).toBeUndefined();
  expect(formatEastern(Date.UTC(2026, 6, 1, 14))).toBe('2026-07-01 10:00:00');
  expect(formatEastern(Date.UTC(2026, 0, 15, 15))).toBe('2026-01-15 10:00:00');
});

test('keywords: STOP words and YES, whole message only, any case', () => {
  for (const t of ['STOP', 'stop', ' Stop! ', 'UNSUBSCRIBE', 'stopall', 'Cancel', 'end', 'quit.']) expect(keywordOf(t)).toBe('STOP');
  for (const t of ['YES', 'yes', ' y ', 'Yes!']) expect(keywordOf(t)).toBe('YES');
  for (const t of ['START', 'unstop']) expect(keywordOf(t)).toBe('START');
  for (const t of ['please stop sending', 'yes please', 'STOP IT', 'hello', '']) expect(keywordOf(t)).toBeUndefined();
});

test('XML: nested items become lists both ways; empty values are <Tag/>; a DOCTYPE is refused', () => {
  expect(parseXmlRequest('<request><Message>Hi</Message><GroupIds><item>100</item><item>101</item></GroupIds></request>')).toEqual({ Message: 'Hi', GroupIds: ['100', '101'] });
  expect(parseXmlRequest('<any><GroupIds><item>7</item></GroupIds></any>')).toEqual({ GroupIds: ['7'] });
  expect(toProtextingXml([{ Id: '1', GroupIds: ['100', '101'], Subject: '' }])).toContain('<response><item><Id>1</Id><GroupIds><item>100</item><item>101</item></GroupIds><Subject/></item></response>');
  expect(() => parseXmlRequest('<!DOCTYPE x [<!ENTITY a "b">]><request/>')).toThrow(/DOCTYPE/);
  expect(() => parseXmlRequest('<request><open></request>')).toThrow(/malformed/);
});

test('media rules: the allowed image types pass; other types, unreadable data and animated GIFs do not', () => {
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  const gif = (frames: number) => {
    const buf = Buffer.alloc(1024);
    const w = new GifWriter(buf, 2, 2, { palette: [0, 0xffffff], loop: 0 });
    for (let i = 0; i < frames; i++) w.addFrame(0, 0, 2, 2, [0, 1, 1, 0]);
    return buf.subarray(0, w.end());
  };
  // A minimal BMP header (BITMAPINFOHEADER, 1×1, 24 bits) and a little-endian TIFF header.
  const bmp = Buffer.alloc(58);
  bmp.write('BM', 0);
  bmp.writeUInt32LE(58, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(1, 18);
  bmp.writeInt32LE(1, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  expect(mediaProblem(png)).toEqual({ type: 'png' });
  expect(mediaProblem(gif(1))).toEqual({ type: 'gif' });
  expect(mediaProblem(bmp)).toEqual({ type: 'bmp' });
  expect(mediaProblem(gif(2)).problem).toMatch(/animated/);
  expect(mediaProblem(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')).problem).toMatch(/not allowed/);
  expect(mediaProblem(Buffer.from('plain text')).problem).toMatch(/not an image/);
});

test('a provider that cannot send MMS refuses an MMS campaign before anything else is looked at', async () => {
  // No database reachable on purpose: the refusal must come first.
  const templates = new MmsTemplates({ db: {} as never, guard: new CallbackGuard([]), logger: pino({ level: 'silent' }), providerSendsMms: false });
  await expect(templates.approvedForSending('acme', 1)).rejects.toMatchObject({ name: 'MmsTemplateError', kind: 'NO_MMS', message: expect.stringContaining('cannot send MMS') });
});
