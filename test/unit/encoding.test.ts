import { countSmsParts, encodeSms } from '../../domain/encoding';
import { transliterate } from '../../domain/transliteration';
import { effectiveValidityMinutes, validityEndsAt } from '../../domain/validity';

test.each([
  ['a'.repeat(160), 'GSM7', 1],
  ['a'.repeat(161), 'GSM7', 2],
  ['a'.repeat(306), 'GSM7', 2],
  ['a'.repeat(307), 'GSM7', 3],
  ['€'.repeat(80), 'GSM7', 1], // extension characters count twice
  ['€'.repeat(81), 'GSM7', 2],
  ['ş'.repeat(70), 'UCS2', 1],
  ['ş'.repeat(71), 'UCS2', 2],
  ['', 'GSM7', 1],
])('%#: parts of a %s text', (text, encoding, parts) => {
  expect(countSmsParts(text)).toMatchObject({ encoding, parts });
});

test('Turkish transliteration brings the seed text back to GSM-7', () => {
  const seed = 'Artık Ulusal Dil Tanımlayıcısı ile Türkçe karakterli smslerinizi rahatlıkla iletebilirsiniz.';
  expect(countSmsParts(seed).encoding).toBe('UCS2');
  const out = transliterate(seed, 'TURKISH');
  expect(out).toBe('Artik Ulusal Dil Tanimlayicisi ile Türkce karakterli smslerinizi rahatlikla iletebilirsiniz.');
  expect(countSmsParts(out)).toMatchObject({ encoding: 'GSM7', parts: 1 });
});

test.each([
  ['GREEK', 'Καλημέρα', 'KAΛHMEPA'],
  ['CYRILLIC', 'Привет мир', 'Privet mir'],
  ['CENTRAL_EUROPEAN', 'Čćžšđ', 'Cczsd'],
  ['NON_UNICODE', 'Łódź ş Ω', 'Lodz s Ω'],
] as const)('%s transliteration', (kind, input, expected) => {
  expect(transliterate(input, kind)).toBe(expected);
});

test('validity defaults to and is capped at 48 hours, counted from the send time', () => {
  expect(effectiveValidityMinutes(undefined)).toBe(2880);
  expect(effectiveValidityMinutes(5000)).toBe(2880);
  expect(effectiveValidityMinutes(720)).toBe(720);
  expect(validityEndsAt(1_000, 10)).toBe(1_000 + 600_000);
});

describe('encodeSms: the octets match the count', () => {
  test('GSM-7 escapes stay with their character across a part boundary', () => {
    const text = `${'a'.repeat(152)}€${'b'.repeat(10)}`;
    const e = encodeSms(text);
    expect(e.parts).toBe(2);
    // 152 septets fill part one short of 153: the escape pair does not fit and moves to part two whole.
    expect(e.segments[0]).toHaveLength(152);
    expect(e.segments[1]!.slice(0, 2)).toEqual([0x1b, 0x65]);
  });

  test('UCS-2 is UTF-16BE and never splits a surrogate pair', () => {
    const text = `${'x'.repeat(66)}😀yyy`;
    const e = encodeSms(text);
    expect(e.encoding).toBe('UCS2');
    expect(e.parts).toBe(2);
    expect(e.segments[0]).toHaveLength(132);
    expect(e.segments[1]!.slice(0, 4)).toEqual([0xd8, 0x3d, 0xde, 0x00]);
  });

  test('the Turkish single shift maps ş to its escaped septet', () => {
    const e = encodeSms('ş', 'TR');
    expect(e.singleShift).toBe('TR');
    expect(e.segments).toEqual([[0x1b, 0x73]]);
  });
});
