import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Custom search attributes of bulk workflows. The dev server registers them at start (scripts/start.ts);
 * a production cluster needs `temporal operator search-attribute create` once (see README).
 */
export const BulkIdKey = defineSearchAttributeKey('BulkId', 'KEYWORD');
export const AccountIdKey = defineSearchAttributeKey('AccountId', 'KEYWORD');
export const BulkStatusKey = defineSearchAttributeKey('BulkStatus', 'KEYWORD');
export const CampaignNameKey = defineSearchAttributeKey('CampaignName', 'TEXT');
export const SendAtKey = defineSearchAttributeKey('SendAt', 'DATETIME');

export const SEARCH_ATTRIBUTES = [BulkIdKey, AccountIdKey, BulkStatusKey, CampaignNameKey, SendAtKey];

/** `--search-attribute Name=Type` values for `temporal server start-dev`. */
export function devServerSearchAttributeFlags(): string[] {
  const cliType = { KEYWORD: 'Keyword', TEXT: 'Text', DATETIME: 'Datetime' } as const;
  return SEARCH_ATTRIBUTES.flatMap((key) => [
    '--search-attribute',
    `${key.name}=${cliType[key.type as keyof typeof cliType]}`,
  ]);
}
