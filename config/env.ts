import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** `account:value[,account:value…]`, as API_KEYS and WEBHOOK_SECRETS are written. */
const accountPairs = (what: string) =>
  z
    .string()
    .trim()
    .min(1)
    .transform((raw, ctx) => {
      const pairs = new Map<string, string>();
      for (const item of raw.split(',')) {
        const [account, value, ...rest] = item.trim().split(':');
        if (!account || !value || rest.length > 0 || !/^[A-Za-z0-9_.-]{1,64}$/.test(account) || value.length < 8) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            message: `expected account:${what}[,account:${what}…] with account of [A-Za-z0-9_.-] and a ${what} of 8+ characters`,
          });
          return z.NEVER;
        }
        pairs.set(account, value);
      }
      return pairs;
    });

/**
 * `account:number[,account:number…]`: the numbers (long codes, short codes; digits, '+' optional) whose inbound
 * messages belong to each account. Parsed to number → account; one number belongs to one account.
 */
const inboundNumbers = z
  .string()
  .trim()
  .min(1)
  .transform((raw, ctx) => {
    const owners = new Map<string, string>();
    for (const item of raw.split(',')) {
      const [account, number, ...rest] = item.trim().split(':');
      const digits = number?.replace(/^\+/, '');
      if (!account || !digits || rest.length > 0 || !/^[A-Za-z0-9_.-]{1,64}$/.test(account) || !/^\d{3,15}$/.test(digits)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected account:number[,account:number…] with a number of 3–15 digits' });
        return z.NEVER;
      }
      if (owners.has(digits) && owners.get(digits) !== account) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `number ${digits} is given to two accounts` });
        return z.NEVER;
      }
      owners.set(digits, account);
    }
    return owners;
  });

const port = z.coerce.number().int().min(1).max(65535);

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(3000),
  HOST: z.string().default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./data'),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
    .optional(),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('sms-bulks'),
  TEMPORAL_CLI_PATH: z.string().optional(),
  API_KEYS: accountPairs('key').optional(),
  WEBHOOK_SECRETS: accountPairs('secret').optional(),
  /** Which account owns the inbound messages sent to each number (STOP, YES replies); see README. */
  INBOUND_NUMBERS: inboundNumbers.optional(),
  /** Prepaid starting balances, `account:amount[,…]` (core/pricing.ts); accounts not named are unlimited. */
  ACCOUNT_BALANCES: z.string().trim().min(1).optional(),
  /** Price per SMS part by destination prefix, `default:0.05,30:0.04[,…]`; unset: nothing is charged. */
  SMS_PRICES: z.string().trim().min(1).optional(),
  /**
   * Durability of the SQLite files (the orchestrator's database and the embedded Temporal server's), both in WAL
   * mode: `full` survives power cuts, `normal` only process crashes and is faster (README: durability settings).
   */
  SQLITE_SYNCHRONOUS: z.enum(['full', 'normal']).default('full'),
  /**
   * Requests per account per window, `<requests>/<seconds>` (every authenticated route of every dialect, shared
   * by all API processes on one database), or `off`. Default generous: 20000/60.
   */
  RATE_LIMIT: z
    .string()
    .trim()
    .regex(/^(off|\d{1,9}\s*\/\s*\d{1,6})$/, 'must be <requests>/<seconds> (e.g. 20000/60) or off')
    .default('20000/60'),
  DATABASE_URL: z
    .string()
    .regex(/^(postgres|postgresql):\/\//, 'expected a postgres:// URL (unset means SQLite under DATA_DIR)')
    .optional(),
  SMS_PROVIDER: z.enum(['simulator', 'smpp', 'infobip']).default('simulator'),
  /** The Infobip-compatible upstream of SMS_PROVIDER=infobip (Infobip's own base URL, or another instance of this product). */
  INFOBIP_BASE_URL: z.string().url().optional(),
  INFOBIP_API_KEY: z.string().min(8).optional(),
  /**
   * Where the upstream should push delivery reports: this API's base URL as the upstream reaches it; with it,
   * INFOBIP_NOTIFY_TOKEN (16+ characters) guards the route. Unset: reports are pulled.
   */
  INFOBIP_NOTIFY_URL: z.string().url().optional(),
  INFOBIP_NOTIFY_TOKEN: z.string().min(16).optional(),
  /** SMS_PROVIDER=smpp: the SMSC and the bind (system_id and password as the carrier issued them). */
  SMPP_HOST: z.string().min(1).max(255).optional(),
  SMPP_PORT: port.default(2775),
  SMPP_SYSTEM_ID: z.string().min(1).max(15, 'at most 15 characters (SMPP 3.4)').optional(),
  SMPP_PASSWORD: z.string().max(8, 'at most 8 characters (SMPP 3.4)').optional(),
  SMPP_SYSTEM_TYPE: z.string().max(12, 'at most 12 characters (SMPP 3.4)').default(''),
  SMPP_BIND: z.enum(['transceiver', 'transmitter-receiver']).default('transceiver'),
  /** submit_sm outstanding at once. */
  SMPP_WINDOW: z.coerce.number().int().min(1).max(1000).default(10),
  SMPP_TLS: z.enum(['true', 'false']).default('false'),
  /** PEM file of certificates to trust for the SMSC besides the system's (a private CA or a self-signed SMSC). */
  SMPP_TLS_CA_FILE: z.string().min(1).optional(),
  /** submit_sm per second on the bind (the carrier's contracted rate); unset: as fast as the window allows. */
  SMPP_TPS: z.coerce.number().int().min(1).max(100_000).optional(),
  /**
   * A submit_sm sent without an answer (link dropped): `report` never sends it again and reports EXPIRED_DLR_UNKNOWN
   * unless a receipt finds it within SMPP_IN_DOUBT_WAIT_S; `resend` sends it again (the SMSC may get it twice).
   */
  SMPP_IN_DOUBT: z.enum(['report', 'resend']).default('report'),
  SMPP_IN_DOUBT_WAIT_S: z.coerce.number().int().min(1).max(7 * 86_400).default(600),
  /** Long messages as concatenation UDH (default), sar_* TLVs, or one message_payload TLV. */
  SMPP_LONG_MESSAGES: z.enum(['udh', 'sar', 'payload']).default('udh'),
  /** The simulator run as its own process (`npm run simulator`); unset → the simulator runs in-process. */
  SIMULATOR_URL: z.string().url().optional(),
  /** Bearer token between the app and a simulator process (both sides read it). */
  SIMULATOR_TOKEN: z.string().min(8).optional(),
  SIMULATOR_PORT: port.default(3100),
  SIMULATOR_DELIVERY_DELAY_MS: z.coerce.number().int().min(0).max(86_400_000).default(2000),
  SIMULATOR_SUBMIT_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  /**
   * Longest one submit to the provider may take; the dispatch lease reaches 10 s beyond it, and a retried batch
   * waits that lease out before it asks the provider what it holds (activities/dispatch-lease.ts).
   */
  /**
   * Messages per second the provider connection may take from all workers together (a shared budget in the
   * database); unset: no cap beyond each bulk's sendingSpeedLimit.
   */
  PROVIDER_MAX_TPS: z.coerce.number().int().min(1).max(1_000_000).optional(),
  PROVIDER_SUBMIT_TIMEOUT_MS: z.coerce.number().int().min(1000).max(300_000).default(30_000),
  SIMULATOR_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  SIMULATOR_REJECT_RATE: z.coerce.number().min(0).max(1).default(0),
  CALLBACK_ALLOW_HOSTS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
    ),
  REPORT_RETRY_HOURS: z.coerce.number().min(0).max(24 * 30).default(48),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  dataDir: string;
  temporalAddress: string;
  embeddedTemporal: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once, failing with one readable line per bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", which is what a shell user expects from `FOO= npm start`.
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  const env = parsed.data;
  if (env.SMS_PROVIDER === 'infobip' && (!env.INFOBIP_BASE_URL || !env.INFOBIP_API_KEY)) {
    throw new ConfigError('Invalid configuration: SMS_PROVIDER=infobip needs INFOBIP_BASE_URL and INFOBIP_API_KEY');
  }
  if (env.INFOBIP_NOTIFY_URL && !env.INFOBIP_NOTIFY_TOKEN) {
    throw new ConfigError('Invalid configuration: INFOBIP_NOTIFY_URL needs INFOBIP_NOTIFY_TOKEN (16+ characters) to guard the report route');
  }
  if (env.SMS_PROVIDER === 'smpp' && (!env.SMPP_HOST || !env.SMPP_SYSTEM_ID || env.SMPP_PASSWORD === undefined)) {
    throw new ConfigError('Invalid configuration: SMS_PROVIDER=smpp needs SMPP_HOST, SMPP_SYSTEM_ID and SMPP_PASSWORD');
  }
  if (env.SMPP_TLS_CA_FILE && !fs.existsSync(env.SMPP_TLS_CA_FILE)) {
    throw new ConfigError(`Invalid configuration: SMPP_TLS_CA_FILE: no such file ${env.SMPP_TLS_CA_FILE}`);
  }
  return {
    ...env,
    dataDir: path.resolve(env.DATA_DIR),
    temporalAddress: env.TEMPORAL_ADDRESS ?? `127.0.0.1:${env.TEMPORAL_PORT}`,
    embeddedTemporal: env.TEMPORAL_ADDRESS === undefined,
  };
}
