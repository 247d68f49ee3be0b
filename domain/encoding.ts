/**
 * SMS part counting. Text that fits the GSM 03.38 alphabet travels as GSM-7 (160 septets, 153 per part when
 * concatenated); anything else as UCS-2 (70 characters, 67 per part). Extension-table characters take two septets.
 */
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENDED = '^{}\\[~]|€\f';

const basic = new Set(GSM_BASIC);
const extended = new Set(GSM_EXTENDED);

export type SmsEncoding = 'GSM7' | 'UCS2';

export function detectEncoding(text: string): SmsEncoding {
  for (const ch of text) {
    if (!basic.has(ch) && !extended.has(ch)) return 'UCS2';
  }
  return 'GSM7';
}

export interface SmsParts {
  encoding: SmsEncoding;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
  parts: number;
}

export function countSmsParts(text: string): SmsParts {
  const encoding = detectEncoding(text);
  let units = 0;
  if (encoding === 'GSM7') {
    for (const ch of text) units += extended.has(ch) ? 2 : 1;
  } else {
    units = text.length;
  }
  const [single, multi] = encoding === 'GSM7' ? [160, 153] : [70, 67];
  const parts = units === 0 ? 1 : units <= single ? 1 : Math.ceil(units / multi);
  return { encoding, units, parts };
}
