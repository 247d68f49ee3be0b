import {
  DEFAULT_ALPHABET,
  DEFAULT_EXTENSION,
  ESCAPE,
  PORTUGUESE_LOCKING,
  PORTUGUESE_SINGLE,
  SPANISH_SINGLE,
  TURKISH_LOCKING,
  TURKISH_SINGLE,
} from './gsm-tables';

/**
 * SMS encoding and part counting, one encoder for every count the product reports. Text that the GSM 7-bit
 * alphabet (TS 23.038) can carry travels as GSM-7: 160 septets in one SMS, 153 a part once concatenated (the
 * 6-octet concatenation UDH), extension characters two septets each (an escape and the character), never split
 * across parts. With a national language (Infobip's languageCode TR, ES or PT), the national locking and/or
 * single-shift tables may carry more of the text as GSM-7; each table in use costs 3 UDH octets (plus the UDH
 * length octet), and the cheapest combination in parts wins. Anything else travels as UCS-2: 70 UTF-16 units, 67 a
 * part, a surrogate pair (an emoji) two units, never split.
 */

export type SmsEncoding = 'GSM7' | 'UCS2';
export type LanguageCode = 'TR' | 'ES' | 'PT';

interface Alphabet {
  /** character → septet, locking table (one septet). */
  locking: Map<string, number>;
  /** character → septet after an escape, single-shift table (two septets). */
  single: Map<string, number>;
  lockingShift?: LanguageCode;
  singleShift?: LanguageCode;
}

function lockingMap(table: string): Map<string, number> {
  const map = new Map<string, number>();
  [...table].forEach((ch, septet) => {
    if (septet !== ESCAPE) map.set(ch, septet);
  });
  return map;
}

function singleMap(table: Readonly<Record<number, string>>): Map<string, number> {
  return new Map(Object.entries(table).map(([septet, ch]) => [ch, Number(septet)]));
}

const DEFAULT_LOCKING_MAP = lockingMap(DEFAULT_ALPHABET);
const DEFAULT_SINGLE_MAP = singleMap(DEFAULT_EXTENSION);
const GSM_DEFAULT: Alphabet = { locking: DEFAULT_LOCKING_MAP, single: DEFAULT_SINGLE_MAP };

/** Each language's combinations, cheapest UDH first: single shift only, locking only, both. */
const NATIONAL: Record<LanguageCode, Alphabet[]> = {
  TR: [
    { locking: DEFAULT_LOCKING_MAP, single: singleMap(TURKISH_SINGLE), singleShift: 'TR' },
    { locking: lockingMap(TURKISH_LOCKING), single: DEFAULT_SINGLE_MAP, lockingShift: 'TR' },
    { locking: lockingMap(TURKISH_LOCKING), single: singleMap(TURKISH_SINGLE), lockingShift: 'TR', singleShift: 'TR' },
  ],
  // The standard has no Spanish locking table.
  ES: [{ locking: DEFAULT_LOCKING_MAP, single: singleMap(SPANISH_SINGLE), singleShift: 'ES' }],
  PT: [
    { locking: DEFAULT_LOCKING_MAP, single: singleMap(PORTUGUESE_SINGLE), singleShift: 'PT' },
    { locking: lockingMap(PORTUGUESE_LOCKING), single: DEFAULT_SINGLE_MAP, lockingShift: 'PT' },
    { locking: lockingMap(PORTUGUESE_LOCKING), single: singleMap(PORTUGUESE_SINGLE), lockingShift: 'PT', singleShift: 'PT' },
  ],
};

export interface SmsParts {
  encoding: SmsEncoding;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
  parts: number;
  /** Units one part holds in this message (single-part or concatenated capacity, after its UDH). */
  unitsPerPart: number;
  /** Units still free in the last part. */
  unitsRemaining: number;
  /** National tables in use (GSM-7 only). */
  lockingShift?: LanguageCode;
  singleShift?: LanguageCode;
  /** UDH octets each part carries (concatenation and shift elements). */
  udhOctets: number;
}

const PAYLOAD_OCTETS = 140;

/** Septets (GSM-7) or units (UCS-2) a part carries after `udhOctets` of header. */
function capacity(encoding: SmsEncoding, udhOctets: number): number {
  const bits = (PAYLOAD_OCTETS - udhOctets) * 8;
  return encoding === 'GSM7' ? Math.floor(bits / 7) : Math.floor(bits / 16);
}

/** Per-character costs in septets under an alphabet, or undefined when a character is not in it. */
function gsmCosts(text: string, alphabet: Alphabet): number[] | undefined {
  const costs: number[] = [];
  for (const ch of text) {
    if (alphabet.locking.has(ch)) costs.push(1);
    else if (alphabet.single.has(ch)) costs.push(2);
    else return undefined;
  }
  return costs;
}

function ucs2Costs(text: string): number[] {
  // Iterating a string yields code points: a surrogate pair is one step of two units.
  return [...text].map((ch) => ch.length);
}

/** Packs indivisible costs into parts of `perPart` units; the number of parts and what the last one has left. */
function pack(costs: number[], perPart: number): { parts: number; remaining: number } {
  let parts = 1;
  let used = 0;
  for (const c of costs) {
    if (used + c > perPart) {
      parts++;
      used = 0;
    }
    used += c;
  }
  return { parts, remaining: perPart - used };
}

function layout(encoding: SmsEncoding, costs: number[], shiftOctets: number, extra: Pick<SmsParts, 'lockingShift' | 'singleShift'> = {}): SmsParts {
  const units = costs.reduce((a, b) => a + b, 0);
  // One part: only the shift elements (and their UDH length octet) as header.
  const singleUdh = shiftOctets > 0 ? 1 + shiftOctets : 0;
  const single = capacity(encoding, singleUdh);
  if (units <= single) return { encoding, units, parts: 1, unitsPerPart: single, unitsRemaining: single - units, udhOctets: singleUdh, ...extra };
  // Concatenated: UDH length, the 5-octet concatenation element, and the shift elements.
  const multiUdh = 1 + 5 + shiftOctets;
  const perPart = capacity(encoding, multiUdh);
  const { parts, remaining } = pack(costs, perPart);
  return { encoding, units, parts, unitsPerPart: perPart, unitsRemaining: remaining, udhOctets: multiUdh, ...extra };
}

/** How a text travels: the cheapest GSM-7 alphabet that carries it (national ones with `languageCode`), else UCS-2. */
export function countSmsParts(text: string, languageCode?: LanguageCode): SmsParts {
  let best: SmsParts | undefined;
  for (const alphabet of [GSM_DEFAULT, ...(languageCode ? NATIONAL[languageCode] : [])]) {
    const costs = gsmCosts(text, alphabet);
    if (!costs) continue;
    const shiftOctets = (alphabet.lockingShift ? 3 : 0) + (alphabet.singleShift ? 3 : 0);
    const candidate = layout('GSM7', costs, shiftOctets, {
      ...(alphabet.lockingShift ? { lockingShift: alphabet.lockingShift } : {}),
      ...(alphabet.singleShift ? { singleShift: alphabet.singleShift } : {}),
    });
    // Strictly fewer parts to be worth a bigger header (the alphabets come cheapest header first).
    if (!best || candidate.parts < best.parts) best = candidate;
  }
  return best ?? layout('UCS2', ucs2Costs(text), 0);
}

export function detectEncoding(text: string, languageCode?: LanguageCode): SmsEncoding {
  return nonGsmCharacters(text, languageCode).length === 0 ? 'GSM7' : 'UCS2';
}

/** Characters of `text` that no GSM-7 alphabet available to it carries (what forces UCS-2). */
export function nonGsmCharacters(text: string, languageCode?: LanguageCode): string[] {
  const alphabets = [GSM_DEFAULT, ...(languageCode ? NATIONAL[languageCode] : [])];
  return [...new Set([...text].filter((ch) => !alphabets.some((a) => a.locking.has(ch) || a.single.has(ch))))];
}

/** A text laid out for the air: each part's payload octets (no UDH), cut where the count cuts it. */
export interface EncodedSms extends SmsParts {
  /** GSM-7: one septet per octet (unpacked, as SMPP's data_coding 0 carries them); UCS-2: UTF-16BE. */
  segments: number[][];
}

function septetsOf(ch: string, alphabet: Alphabet): number[] {
  const locking = alphabet.locking.get(ch);
  if (locking !== undefined) return [locking];
  return [ESCAPE, alphabet.single.get(ch)!];
}

function utf16beOf(ch: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < ch.length; i++) {
    const unit = ch.charCodeAt(i);
    out.push(unit >> 8, unit & 0xff);
  }
  return out;
}

/**
 * The same choice countSmsParts makes, with the octets: parts cut where the count cuts them (an escape pair or a
 * surrogate pair never split), so what is sent is what was counted and charged.
 */
export function encodeSms(text: string, languageCode?: LanguageCode): EncodedSms {
  const parts = countSmsParts(text, languageCode);
  let units: number[][];
  if (parts.encoding === 'GSM7') {
    const alphabet =
      [GSM_DEFAULT, ...(languageCode ? NATIONAL[languageCode] : [])].find(
        (a) => a.lockingShift === parts.lockingShift && a.singleShift === parts.singleShift,
      ) ?? GSM_DEFAULT;
    units = [...text].map((ch) => septetsOf(ch, alphabet));
  } else {
    units = [...text].map(utf16beOf);
  }
  // Octets per counted unit: 1 for a septet, 2 for a UTF-16 unit.
  const octetsPerUnit = parts.encoding === 'GSM7' ? 1 : 2;
  const segments: number[][] = [];
  let current: number[] = [];
  for (const u of units) {
    if ((current.length + u.length) / octetsPerUnit > parts.unitsPerPart) {
      segments.push(current);
      current = [];
    }
    current.push(...u);
  }
  segments.push(current);
  return { ...parts, segments };
}
