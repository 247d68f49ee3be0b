import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { BLACKLIST_SERVICES } from '../../db/contacts';
import { LIMITS } from '../infobip/schemas';

/** Routee's numbers: E.164 with the '+' (e.g. +306948530920). */
export const e164 = z
  .string()
  .trim()
  .refine((v) => /^\+[1-9]\d{5,14}$/.test(v) && isValidPhoneNumber(v), { message: "must be a valid number in E.164 format with '+', e.g. +306948530920" });

const name60 = z.string().trim().min(1).max(60);
const labelName = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'may contain letters, digits and . _ - only');

export const contactBody = z.object({
  mobile: e164,
  firstName: name60.optional(),
  lastName: name60.optional(),
  email: z.email().max(254).optional(),
  vip: z.boolean().optional(),
  country: z.string().regex(/^[A-Z]{2}$/).optional(),
  labels: z
    .array(z.object({ name: labelName, value: z.union([z.string().max(1000), z.number()]).transform(String) }))
    .max(100)
    .optional(),
});
export type ContactBody = z.infer<typeof contactBody>;

/** An import: up to 100k contacts in one JSON array; each row is checked on its own. */
export const MAX_IMPORT_ROWS = 100_000;

export const labelsBody = z.array(z.object({ name: labelName, type: z.enum(['Text', 'Number']) })).min(1).max(100);

export const idList = z.array(z.string().trim().min(1).max(64)).max(LIMITS.destinationsPerRequest);
/** Blacklist bodies: the ids as strings (docs) or as `{id}` objects (the C# client). */
export const blacklistBody = z
  .array(z.union([z.string().trim().min(1).max(64), z.object({ id: z.string().trim().min(1).max(64) }).transform((o) => o.id)]))
  .max(LIMITS.destinationsPerRequest);
export const blacklistService = z.enum(BLACKLIST_SERVICES);

export const groupName = z.string().trim().min(1).max(100);
export const groupBody = z.object({
  name: groupName,
  // Routee's filtered groups are not offered: a group's members are set explicitly.
  strategy: z.enum(['None']).optional(),
});
export const groupNames = z.array(groupName).min(1).max(1000);

export const pageQuery = z.object({
  page: z.coerce.number().int().min(0).max(1_000_000).default(0),
  size: z.coerce.number().int().min(1).max(1000).default(20),
});

/** `YYYY-MM-DDThh:mm:ssTZD`: the zone designator is required. */
const zonedDate = z
  .string()
  .trim()
  .max(40)
  .refine((v) => /(Z|[+-]\d\d:?\d\d)$/.test(v) && DateTime.fromISO(v, { setZone: true }).isValid, {
    message: 'must be an ISO 8601 date-time with a zone designator (Z or ±hh:mm), e.g. 2027-01-15T09:00:00Z',
  })
  .transform((v) => DateTime.fromISO(v, { setZone: true }).toMillis());

const callbackSpec = z.object({ url: z.url().max(LIMITS.urlLength), strategy: z.enum(['OnChange', 'OnCompletion']) });

export const campaignBody = z
  .object({
    to: z.array(e164).max(30_000).optional(),
    contacts: z.array(z.string().trim().min(1).max(64)).max(LIMITS.destinationsPerRequest).optional(),
    groups: z.array(groupName).max(1000).optional(),
    from: z
      .string()
      .trim()
      .refine((v) => (/^\d+$/.test(v) ? v.length <= 16 : /^[A-Za-z0-9 ]{1,11}$/.test(v)), {
        message: "sender must be numeric (at most 16 digits, no '+') or alphanumeric (at most 11 characters)",
      }),
    body: z.string().min(1).max(LIMITS.textLength),
    scheduledDate: zonedDate.optional(),
    campaignName: z
      .string()
      .regex(/^[A-Za-z0-9 -]{2,30}$/, 'must be 2–30 characters: latin letters, digits, spaces and -')
      .optional(),
    flash: z.boolean().default(false),
    respectQuietHours: z.boolean().default(false),
    fallbackValues: z.union([z.record(labelName, z.string().max(1000)), z.array(z.string().max(1000)).max(100)]).optional(),
    transcode: z.boolean().optional(),
    callback: callbackSpec.optional(),
    campaignCallback: callbackSpec.optional(),
    reminder: z
      .object({
        minutesBefore: z.number().int().min(1).max(7 * 24 * 60).optional(),
        minutesAfter: z.number().int().min(1).max(7 * 24 * 60).optional(),
        to: z.array(e164).min(1).max(10),
      })
      .optional(),
  })
  .superRefine((v, ctx) => {
    if (v.reminder && v.reminder.minutesBefore === undefined && v.reminder.minutesAfter === undefined) {
      ctx.addIssue({ code: 'custom', path: ['reminder'], message: 'give minutesBefore, minutesAfter or both' });
    }
  });
export type CampaignBody = z.infer<typeof campaignBody>;
