import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';
import { WEEKDAYS } from '../../domain/delivery-window';
import { TRANSLITERATIONS } from '../../domain/transliteration';

/** Bounds that keep one request's cost predictable. */
export const LIMITS = {
  messagesPerRequest: 1000,
  destinationsPerRequest: 100_000,
  textLength: 4096,
  idLength: 100,
  urlLength: 2048,
  maxScheduleDays: 180,
} as const;

const idString = z
  .string()
  .trim()
  .min(1)
  .max(LIMITS.idLength)
  .regex(/^[\w.:-]+$/, 'may contain letters, digits and . _ : - only');

/** International format as Infobip writes it (41793026727); a leading + is accepted and dropped. */
export const msisdn = z
  .string()
  .trim()
  .transform((v) => v.replace(/^\+/, '').replace(/^00/, ''))
  .refine((v) => /^\d{6,15}$/.test(v) && isValidPhoneNumber(`+${v}`), {
    message: 'must be a valid phone number in international format, e.g. 41793026727',
  });

export const sender = z
  .string()
  .trim()
  .refine((v) => (/^\d+$/.test(v) ? v.length >= 3 && v.length <= 14 : v.length >= 3 && v.length <= 11), {
    message: 'alphanumeric sender must be 3–11 characters, numeric sender 3–14 digits',
  })
  // What handsets show as a sender: GSM letters and digits, space and a few marks; no emoji, no control characters.
  .refine((v) => /^[A-Za-z0-9 .,'&_+\-!?#@()/:]+$/.test(v), {
    message: 'sender may contain latin letters, digits, space and . , \' & _ + - ! ? # @ ( ) / : only',
  });

/**
 * Message text: NUL and the other C0 control characters but tab, line feed and carriage return are refused (they
 * break XML logs and pushes and mean nothing on a handset), as are lone UTF-16 surrogates (not text at all).
 */
export const messageText = z
  .string()
  .min(1, 'text is required')
  .max(LIMITS.textLength)
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  .refine((v) => !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(v), { message: 'text must not contain control characters other than tab, LF and CR' })
  .refine((v) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v), { message: 'text contains an unpaired UTF-16 surrogate' });

/** ISO 8601 with an explicit offset or Z, e.g. 2015-07-07T17:00:00.000+01:00. */
export const isoDateTime = z
  .string()
  .trim()
  .refine((v) => /(Z|[+-]\d{2}:?\d{2})$/.test(v) && DateTime.fromISO(v, { setZone: true }).isValid, {
    message: 'must be an ISO 8601 date-time with offset, e.g. 2015-07-07T17:00:00.000+01:00',
  })
  .transform((v) => DateTime.fromISO(v, { setZone: true }).toMillis());

const timeOfDay = z.object({
  hour: z.number().int().min(0).max(23),
  minute: z.number().int().min(0).max(59),
});

export const deliveryTimeWindow = z
  .object({
    days: z.array(z.enum(WEEKDAYS)).min(1, 'at least one day must be stated').max(7),
    from: timeOfDay.optional(),
    to: timeOfDay.optional(),
    timeZone: z
      .string()
      .refine((z) => IANAZone.isValidZone(z), 'must be an IANA time zone such as Europe/Zagreb')
      .optional(),
  })
  .refine((w) => (w.from === undefined) === (w.to === undefined), {
    message: 'from and to must both be present or both be absent',
    path: ['from'],
  })
  .refine((w) => !w.from || !w.to || w.from.hour !== w.to.hour || w.from.minute !== w.to.minute, {
    message: 'from and to must differ',
    path: ['to'],
  });

const destination = z.object({
  to: msisdn,
  messageId: idString.optional(),
});

/** POST /sms/1/preview. */
export const previewRequest = z.object({
  text: messageText,
  languageCode: z.enum(['TR', 'ES', 'PT']).optional(),
  transliteration: z.enum(TRANSLITERATIONS).optional(),
});

export const advancedMessage = z.object({
  from: sender.optional(),
  destinations: z.array(destination).min(1, 'at least one destination is required'),
  text: messageText,
  flash: z.boolean().default(false),
  transliteration: z.enum(TRANSLITERATIONS).optional(),
  language: z.object({ languageCode: z.enum(['TR', 'ES', 'PT']) }).optional(),
  intermediateReport: z.boolean().default(false),
  notifyUrl: z
    .string()
    .max(LIMITS.urlLength)
    .url()
    .refine((u) => /^https?:\/\//i.test(u), 'must be an http or https URL')
    .optional(),
  notifyContentType: z.enum(['application/json', 'application/xml']).optional(),
  callbackData: z.string().max(200, 'must be at most 200 characters').optional(),
  validityPeriod: z.number().int().min(1, 'must be at least 1 minute').optional(),
  sendAt: isoDateTime.optional(),
  deliveryTimeWindow: deliveryTimeWindow.optional(),
});

export const advancedRequest = z
  .object({
    bulkId: idString.optional(),
    messages: z.array(advancedMessage).min(1, 'at least one message is required').max(LIMITS.messagesPerRequest),
    tracking: z
      .object({
        track: z.enum(['SMS', 'URL']).optional(),
        type: z.string().max(100).optional(),
        processKey: z.string().max(100).optional(),
        baseUrl: z.string().url().max(LIMITS.urlLength).optional(),
      })
      .optional(),
    sendingSpeedLimit: z
      .object({
        amount: z.number().int().min(1),
        timeUnit: z.enum(['MINUTE', 'HOUR', 'DAY']).default('MINUTE'),
      })
      .optional(),
  })
  .superRefine((req, ctx) => {
    const total = req.messages.reduce((n, m) => n + m.destinations.length, 0);
    if (total > LIMITS.destinationsPerRequest) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['messages'],
        message: `at most ${LIMITS.destinationsPerRequest} destinations per request (got ${total})`,
      });
    }
    const seen = new Set<string>();
    req.messages.forEach((m, i) =>
      m.destinations.forEach((d, j) => {
        if (!d.messageId) return;
        if (seen.has(d.messageId)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['messages', i, 'destinations', j, 'messageId'],
            message: 'messageId must be unique within the request',
          });
        }
        seen.add(d.messageId);
      }),
    );
  });

export type AdvancedRequest = z.infer<typeof advancedRequest>;
export type AdvancedMessage = z.infer<typeof advancedMessage>;
