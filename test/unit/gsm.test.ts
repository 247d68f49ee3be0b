/**
 * The encoder against 3GPP TS 23.038: the tables' septets where the standard puts them, and part counts with
 * extension characters, national shift tables (and the UDH they cost), and surrogate pairs.
 */
import { countSmsParts, detectEncoding, nonGsmCharacters } from '../../domain/encoding';
import { previewSms } from '../../domain/preview';
import { DEFAULT_ALPHABET, DEFAULT_EXTENSION, ESCAPE, PORTUGUESE_LOCKING, PORTUGUESE_SINGLE, SPANISH_SINGLE, TURKISH_LOCKING, TURKISH_SINGLE } from '../../domain/gsm-tables';

test.each([
  ['default', DEFAULT_ALPHABET],
  ['Turkish locking', TURKISH_LOCKING],
  ['Portuguese locking', PORTUGUESE_LOCKING],
])('%s table: 128 septets, 127 distinct characters and the escape at 0x1B', (_name, table) => {
  const chars = [...table];
  expect(chars).toHaveLength(128);
  expect(chars[ESCAPE]).toBe('\u001b');
  expect(new Set(chars).size).toBe(128);
});

test('septets where TS 23.038 puts them', () => {
  const at = (table: string, septet: number) => [...table][septet];
  expect([0x00, 0x01, 0x02, 0x03, 0x04, 0x09, 0x10, 0x1f, 0x24, 0x40, 0x5b, 0x5f, 0x60, 0x7b, 0x7f].map((s) => at(DEFAULT_ALPHABET, s))).toEqual([
    '@', '£', '$', '¥', 'è', 'Ç', 'Δ', 'É', '¤', '¡', 'Ä', '§', '¿', 'ä', 'à',
  ]);
  // Turkish locking: the default alphabet with eight characters replaced.
  const changed = [...DEFAULT_ALPHABET].flatMap((ch, s) => (at(TURKISH_LOCKING, s) !== ch ? [[s, at(TURKISH_LOCKING, s)]] : []));
  expect(changed).toEqual([[0x04, '€'], [0x07, 'ı'], [0x0b, 'Ğ'], [0x0c, 'ğ'], [0x1c, 'Ş'], [0x1d, 'ş'], [0x40, 'İ'], [0x60, 'ç']]);
  expect([0x04, 0x12, 0x15, 0x24, 0x40, 0x5b, 0x60, 0x7d].map((s) => at(PORTUGUESE_LOCKING, s))).toEqual(['ê', 'ª', '∞', 'º', 'Í', 'Ã', '~', '`']);
  expect(DEFAULT_EXTENSION).toEqual({ 0x0a: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2f: '\\', 0x3c: '[', 0x3d: '~', 0x3e: ']', 0x40: '|', 0x65: '€' });
  expect([TURKISH_SINGLE[0x47], TURKISH_SINGLE[0x69], TURKISH_SINGLE[0x73], TURKISH_SINGLE[0x65]]).toEqual(['Ğ', 'ı', 'ş', '€']);
  expect([SPANISH_SINGLE[0x09], SPANISH_SINGLE[0x41], SPANISH_SINGLE[0x75]]).toEqual(['ç', 'Á', 'ú']);
  expect([PORTUGUESE_SINGLE[0x05], PORTUGUESE_SINGLE[0x12], PORTUGUESE_SINGLE[0x7f]]).toEqual(['ê', 'Φ', 'â']);
});

test.each([
  ['a'.repeat(160), undefined, { encoding: 'GSM7', parts: 1, unitsRemaining: 0 }],
  ['a'.repeat(161), undefined, { encoding: 'GSM7', parts: 2, unitsPerPart: 153 }],
  ['a'.repeat(306), undefined, { parts: 2, unitsRemaining: 0 }],
  ['a'.repeat(307), undefined, { parts: 3 }],
  // Extension characters are two septets: € { } [ ] ~ \ | ^
  ['€{}[]~\\|^'.repeat(8) + 'a'.repeat(16), undefined, { encoding: 'GSM7', units: 160, parts: 1 }],
  ['€'.repeat(81), undefined, { units: 162, parts: 2 }],
  // An escape and its character stay in one part: 152 + 2 does not fit 153, so the € opens part two.
  ['a'.repeat(152) + '€' + 'a'.repeat(10), undefined, { units: 164, parts: 2, unitsRemaining: 153 - 12 }],
  ['', undefined, { encoding: 'GSM7', parts: 1 }],
  ['ş'.repeat(70), undefined, { encoding: 'UCS2', parts: 1 }],
  ['ş'.repeat(71), undefined, { encoding: 'UCS2', parts: 2, unitsPerPart: 67 }],
  // An emoji is a surrogate pair: two units, never split.
  ['😀'.repeat(35), undefined, { encoding: 'UCS2', units: 70, parts: 1 }],
  ['😀'.repeat(36), undefined, { encoding: 'UCS2', units: 72, parts: 2 }],
  ['ş' + 'x'.repeat(65) + '😀' + 'y'.repeat(5), undefined, { units: 73, parts: 2, unitsRemaining: 67 - 7 }],
] as const)('%#: %s', (text, language, expected) => {
  expect(countSmsParts(text, language)).toMatchObject(expected);
});

test("the seed's Turkish text goes as GSM-7 with languageCode TR (single shift: 4 UDH octets), as UCS-2 without", () => {
  const seed = 'Artık Ulusal Dil Tanımlayıcısı ile Türkçe karakterli smslerinizi rahatlıkla iletebilirsiniz.';
  expect(countSmsParts(seed)).toMatchObject({ encoding: 'UCS2', parts: 2 });
  expect(countSmsParts(seed, 'TR')).toEqual({
    encoding: 'GSM7',
    units: [...seed].length + 7, // six ı and one ç through the single shift
    parts: 1,
    unitsPerPart: 155,
    unitsRemaining: 155 - [...seed].length - 7,
    singleShift: 'TR',
    udhOctets: 4,
  });
});

test('national tables: the cheapest combination in parts, the smaller header on a tie', () => {
  // 100 ã: through the single shift 200 septets (2 parts of 149); the locking table carries them in one.
  expect(countSmsParts('ã'.repeat(100), 'PT')).toMatchObject({ encoding: 'GSM7', parts: 1, lockingShift: 'PT', udhOctets: 4 });
  expect(countSmsParts('ã'.repeat(100), 'PT').singleShift).toBeUndefined();
  // Both tables: ã by locking, Φ (moved out of the Portuguese locking table) by the single shift: 7 UDH octets.
  expect(countSmsParts('ã'.repeat(100) + 'Φ', 'PT')).toMatchObject({ parts: 1, lockingShift: 'PT', singleShift: 'PT', udhOctets: 7, unitsPerPart: 152 });
  expect(countSmsParts('Canción de niños', 'ES')).toMatchObject({ encoding: 'GSM7', singleShift: 'ES' });
  expect(countSmsParts('Canción de niños')).toMatchObject({ encoding: 'UCS2' });
  // A national table is used only when asked for, and not when the default alphabet does.
  expect(countSmsParts('plain text', 'TR')).toEqual(expect.not.objectContaining({ singleShift: expect.anything() }));
  // Concatenated with one shift table: 6 + 3 octets of UDH leave 149 septets a part.
  expect(countSmsParts('ı'.repeat(200), 'TR')).toMatchObject({ parts: 2, lockingShift: 'TR', unitsPerPart: 149 });
  expect(detectEncoding('Çok güzel ş', 'TR')).toBe('GSM7');
  expect(nonGsmCharacters('Çok güzel ş ✓', 'TR')).toEqual(['✓']);
});

test('preview: one entry per configuration asked for, in Infobip’s shape', () => {
  expect(previewSms('Hello {world}')).toEqual({
    originalText: 'Hello {world}',
    previews: [{ textPreview: 'Hello {world}', messageCount: 1, charactersRemaining: 160 - 15, configuration: {} }],
  });
  const both = previewSms('Canción', 'ES', 'NON_UNICODE');
  expect(both.previews.map((p) => p.configuration)).toEqual([{}, { language: { languageCode: 'ES' } }, { transliteration: 'NON_UNICODE' }, { language: { languageCode: 'ES' }, transliteration: 'NON_UNICODE' }]);
  expect(both.previews.map((p) => [p.textPreview, p.charactersRemaining])).toEqual([
    ['Canción', 70 - 7],
    ['Canción', 155 - 8],
    ['Cancion', 160 - 7],
    ['Cancion', 160 - 7],
  ]);
});
