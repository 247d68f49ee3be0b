import { detectEncoding } from './encoding';

export const TRANSLITERATIONS = ['TURKISH', 'GREEK', 'CYRILLIC', 'CENTRAL_EUROPEAN', 'NON_UNICODE'] as const;
export type Transliteration = (typeof TRANSLITERATIONS)[number];

const TURKISH: Record<string, string> = { ı: 'i', İ: 'I', ş: 's', Ş: 'S', ğ: 'g', Ğ: 'G', ç: 'c' };

// Greek capitals that GSM-7 carries stay Greek; the others become their Latin look-alikes.
const GREEK: Record<string, string> = {
  Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
  α: 'A', β: 'B', γ: 'Γ', δ: 'Δ', ε: 'E', ζ: 'Z', η: 'H', θ: 'Θ', ι: 'I', κ: 'K', λ: 'Λ', μ: 'M', ν: 'N',
  ξ: 'Ξ', ο: 'O', π: 'Π', ρ: 'P', σ: 'Σ', ς: 'Σ', τ: 'T', υ: 'Y', φ: 'Φ', χ: 'X', ψ: 'Ψ', ω: 'Ω',
};

const CYRILLIC: Record<string, string> = {
  а: 'a', б: 'b', в: 'v', г: 'g', д: 'd', е: 'e', ё: 'e', ж: 'zh', з: 'z', и: 'i', й: 'y', к: 'k', л: 'l',
  м: 'm', н: 'n', о: 'o', п: 'p', р: 'r', с: 's', т: 't', у: 'u', ф: 'f', х: 'h', ц: 'ts', ч: 'ch', ш: 'sh',
  щ: 'sch', ъ: '', ы: 'y', ь: '', э: 'e', ю: 'yu', я: 'ya', ђ: 'dj', ј: 'j', љ: 'lj', њ: 'nj', ћ: 'c', џ: 'dz',
  є: 'ye', і: 'i', ї: 'yi', ґ: 'g',
};

const CENTRAL_EUROPEAN: Record<string, string> = { đ: 'd', Đ: 'D', ł: 'l', Ł: 'L' };

/** Greek letters, accented ones (έ, ά, ώ) through their unaccented base letter. */
function greek(ch: string): string | undefined {
  return GREEK[ch] ?? GREEK[ch.normalize('NFD').replace(/[\u0300-\u036f]/g, '')];
}

function cyrillic(ch: string): string | undefined {
  const lower = ch.toLowerCase();
  const latin = CYRILLIC[lower];
  if (latin === undefined) return undefined;
  return ch === lower ? latin : latin.charAt(0).toUpperCase() + latin.slice(1);
}

/** Drops combining marks (č → c, ő → o) unless the accented letter is itself in the GSM alphabet (é, ü, ñ). */
function stripDiacritics(ch: string): string {
  if (detectEncoding(ch) === 'GSM7') return ch;
  const base = ch.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
  return detectEncoding(base) === 'GSM7' ? base : ch;
}

/** Rewrites the text into a character set that costs fewer parts, as Infobip's transliteration option does. */
export function transliterate(text: string, kind: Transliteration | undefined): string {
  if (!kind) return text;
  let out = '';
  for (const ch of text) {
    switch (kind) {
      case 'TURKISH':
        out += TURKISH[ch] ?? ch;
        break;
      case 'GREEK':
        out += greek(ch) ?? ch;
        break;
      case 'CYRILLIC':
        out += cyrillic(ch) ?? ch;
        break;
      case 'CENTRAL_EUROPEAN':
        out += CENTRAL_EUROPEAN[ch] ?? stripDiacritics(ch);
        break;
      case 'NON_UNICODE':
        out += TURKISH[ch] ?? CENTRAL_EUROPEAN[ch] ?? greek(ch) ?? cyrillic(ch) ?? stripDiacritics(ch);
        break;
    }
  }
  return out;
}
