import { countSmsParts, type LanguageCode } from './encoding';
import { type Transliteration, transliterate } from './transliteration';

export interface SmsPreview {
  textPreview: string;
  messageCount: number;
  charactersRemaining: number;
  configuration: { language?: { languageCode: LanguageCode }; transliteration?: Transliteration };
}

/**
 * Infobip's SMS preview: how the text would go as it is, and with each option asked for (the language's national
 * tables, the transliteration, both): the text as sent, its parts, and what is left in the last part (septets
 * for GSM-7, where an extension character takes two; UTF-16 units for UCS-2).
 */
export function previewSms(text: string, languageCode?: LanguageCode, transliteration?: Transliteration): { originalText: string; previews: SmsPreview[] } {
  const configurations: SmsPreview['configuration'][] = [{}];
  if (languageCode) configurations.push({ language: { languageCode } });
  if (transliteration) configurations.push({ transliteration });
  if (languageCode && transliteration) configurations.push({ language: { languageCode }, transliteration });
  return {
    originalText: text,
    previews: configurations.map((configuration) => {
      const textPreview = transliterate(text, configuration.transliteration);
      const parts = countSmsParts(textPreview, configuration.language?.languageCode);
      return { textPreview, messageCount: parts.parts, charactersRemaining: parts.unitsRemaining, configuration };
    }),
  };
}
