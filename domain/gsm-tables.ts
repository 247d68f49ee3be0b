/**
 * The GSM 7-bit alphabets of 3GPP TS 23.038 (section 6.2.1 and annex A), as data: each locking-shift table is the
 * 128 characters of septets 0x00–0x7F in order (0x1B is the escape to the single-shift table and stands for no
 * character); each single-shift table maps the septet that follows an escape to its character. Only the national
 * tables the Infobip dialect names are here: Turkish (locking and single shift), Spanish (single shift only: the
 * standard defines no Spanish locking table) and Portuguese (locking and single shift).
 */

export const ESCAPE = 0x1b;

/** The GSM 7-bit default alphabet (TS 23.038 6.2.1). */
export const DEFAULT_ALPHABET =
  '@£$¥èéùìòÇ\nØø\rÅå' +
  'Δ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ' +
  ' !"#¤%&\'()*+,-./' +
  '0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNO' +
  'PQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmno' +
  'pqrstuvwxyzäöñüà';

/** The default alphabet extension table (TS 23.038 6.2.1.1): each costs an escape and a septet. */
export const DEFAULT_EXTENSION: Readonly<Record<number, string>> = {
  0x0a: '\f',
  0x14: '^',
  0x28: '{',
  0x29: '}',
  0x2f: '\\',
  0x3c: '[',
  0x3d: '~',
  0x3e: ']',
  0x40: '|',
  0x65: '€',
};

/** The default alphabet with the listed septets replaced. */
function withReplacements(replacements: Record<number, string>): string {
  const chars = [...DEFAULT_ALPHABET];
  for (const [septet, ch] of Object.entries(replacements)) chars[Number(septet)] = ch;
  return chars.join('');
}

/** Turkish National Language Locking Shift Table (TS 23.038 A.3.1). */
export const TURKISH_LOCKING = withReplacements({ 0x04: '€', 0x07: 'ı', 0x0b: 'Ğ', 0x0c: 'ğ', 0x1c: 'Ş', 0x1d: 'ş', 0x40: 'İ', 0x60: 'ç' });

/** Portuguese National Language Locking Shift Table (TS 23.038 A.3.3). */
export const PORTUGUESE_LOCKING =
  '@£$¥êéúíóç\nÔô\rÁá' +
  'Δ_ªÇÀ∞^\\€Ó|\u001bÂâÊÉ' +
  ' !"#º%&\'()*+,-./' +
  '0123456789:;<=>?' +
  'ÍABCDEFGHIJKLMNO' +
  'PQRSTUVWXYZÃÕÚÜ§' +
  '~abcdefghijklmno' +
  'pqrstuvwxyzãõ`üà';

/** Turkish National Language Single Shift Table (TS 23.038 A.2.1). */
export const TURKISH_SINGLE: Readonly<Record<number, string>> = {
  ...DEFAULT_EXTENSION,
  0x47: 'Ğ',
  0x49: 'İ',
  0x53: 'Ş',
  0x63: 'ç',
  0x67: 'ğ',
  0x69: 'ı',
  0x73: 'ş',
};

/** Spanish National Language Single Shift Table (TS 23.038 A.2.2). */
export const SPANISH_SINGLE: Readonly<Record<number, string>> = {
  ...DEFAULT_EXTENSION,
  0x09: 'ç',
  0x41: 'Á',
  0x49: 'Í',
  0x4f: 'Ó',
  0x55: 'Ú',
  0x61: 'á',
  0x69: 'í',
  0x6f: 'ó',
  0x75: 'ú',
};

/** Portuguese National Language Single Shift Table (TS 23.038 A.2.3). */
export const PORTUGUESE_SINGLE: Readonly<Record<number, string>> = {
  ...DEFAULT_EXTENSION,
  0x05: 'ê',
  0x09: 'ç',
  0x0b: 'Ô',
  0x0c: 'ô',
  0x0e: 'Á',
  0x0f: 'á',
  0x12: 'Φ',
  0x13: 'Γ',
  0x15: 'Ω',
  0x16: 'Π',
  0x17: 'Ψ',
  0x18: 'Σ',
  0x19: 'Θ',
  0x1f: 'Ê',
  0x41: 'À',
  0x49: 'Í',
  0x4f: 'Ó',
  0x55: 'Ú',
  0x5b: 'Ã',
  0x5c: 'Õ',
  0x61: 'Â',
  0x69: 'í',
  0x6f: 'ó',
  0x75: 'ú',
  0x7b: 'ã',
  0x7c: 'õ',
  0x7f: 'â',
};

/** The national language identifiers of the UDH shift elements (TS 23.038 6.2.1.2.4). */
export const NATIONAL_LANGUAGE_ID = { TR: 1, ES: 2, PT: 3 } as const;
