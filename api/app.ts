import express, { type Express } from 'express';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { upstreamReports } from '../providers/infobip-upstream';
import type { ProviderDeliveryReport } from '../providers/types';
import pinoHttp from 'pino-http';
import type { Logger } from '../config/logger';
import type { BulkControlService } from '../core/bulk-control-service';
import type { BulkService } from '../core/bulk-service';
import type { Repository } from '../db/repository';
import type { ApiKeyAuthenticator } from './auth';
import { ApiError, errorHandler } from './errors';
import { infobipRouter } from './infobip/router';
import { routeeRouter } from './routee/router';
import { fromMicros } from '../core/pricing';
import type { CampaignService } from '../core/campaign-service';
import type { ContactStore } from '../db/contacts';
import { OptOutStore } from '../db/opt-outs';
import { CallbackGuard } from '../core/callback-guard';
import { MmsTemplates } from '../core/mms-templates';
import { protextingRouter } from './protexting/router';

const SECRET_PARAMS = /([?&](?:access_token|apikey|api_key|token|key|password)=)[^&#]*/gi;

/** The URL with the values of secret-bearing query parameters replaced. */
export function redactQuerySecrets(url: string | undefined): string | undefined {
  return url?.replace(SECRET_PARAMS, '$1[REDACTED]');
}

export interface AppDeps {
  logger: Logger;
  auth: ApiKeyAuthenticator;
  bulks: BulkService;
  control: BulkControlService;
  /** Reads reports and logs (account-scoped queries); its database also holds contacts, groups and campaigns. */
  reports: Repository;
  /** Contacts, labels and groups, and the campaigns made from them (the Routee dialect). */
  contacts: ContactStore;
  campaigns: CampaignService;
  /**
   * The ProTexting dialect's MMS templates and the accounts' own numbers (INBOUND_NUMBERS, number → account).
   * Absent: templates fetched through a guard that allows no private address, and no account has a number.
   */
  protexting?: { templates: MmsTemplates; inboundNumbers: Map<string, string> };
  /**
   * Delivery reports an Infobip-compatible upstream pushes (SMS_PROVIDER=infobip with INFOBIP_NOTIFY_URL): the
   * route's secret and what applies them. Absent: no such route.
   */
  upstreamReports?: { token: string; apply: (reports: ProviderDeliveryReport[]) => Promise<void> };
  /** Resolves when Temporal and the database answer; rejects with the reason otherwise. */
  health: () => Promise<void>;
}

const upstreamPush = z.object({
  results: z
    .array(z.object({ messageId: z.string().max(200).optional(), callbackData: z.string().max(4000).optional(), doneAt: z.string().max(40).optional(), status: z.object({ name: z.string().max(100).optional() }).optional() }))
    .max(10_000),
});

/** Big enough for 100k destinations in one request, small enough to bound memory per request. */
const BODY_LIMIT = '16mb';

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      serializers: {
        // Keys a client put in the query string (ProTexting's access_token, apiKey, …) never reach the log.
        req: (req: { url?: string; [k: string]: unknown }) => ({ ...req, url: redactQuerySecrets(req.url) }),
      },
    }),
  );

  app.get('/healthz', async (_req, res) => {
    try {
      await deps.health();
      res.json({ status: 'ok' });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', reason: (err as Error).message });
    }
  });

  app.use(express.json({ limit: BODY_LIMIT }));

  // The upstream's pushes: authenticated by the secret in the URL this product gave it (compared in constant time;
  // the query is redacted from the request log), applied like any provider's reports; a non-2xx makes the upstream
  // push again, and applying a report twice is harmless.
  if (deps.upstreamReports) {
    const { token, apply } = deps.upstreamReports;
    const expected = createHash('sha256').update(token).digest();
    app.post('/provider/infobip/reports', async (req, res) => {
      const given = typeof req.query.token === 'string' ? req.query.token : '';
      if (!timingSafeEqual(createHash('sha256').update(given).digest(), expected)) {
        res.status(401).json({ error: 'missing or wrong token' });
        return;
      }
      const parsed = upstreamPush.safeParse(req.body);
      if (!parsed.success) {
        res.status(400).json({ error: 'expected {results: [...]}' });
        return;
      }
      try {
        await apply(upstreamReports(parsed.data.results));
        res.status(204).end();
      } catch {
        res.status(503).json({ error: 'could not apply the reports now; push them again' });
      }
    });
  }
  app.use(express.text({ type: ['application/xml', 'text/xml', 'text/csv'], limit: BODY_LIMIT }));

  // Every route below is authenticated and scoped to the caller's account. Routee's routes authenticate one by
  // one (its /sms/campaign… sit beside Infobip's /sms/1/…) and answer in Routee's error shape.
  app.use(routeeRouter({ repo: deps.reports, contacts: deps.contacts, campaigns: deps.campaigns, auth: deps.auth.middleware(), issueToken: (a) => deps.auth.issueToken(a), logger: deps.logger }));
  // Infobip's balance, outside /sms.
  app.get('/account/1/balance', deps.auth.middleware(), async (_req, res) => {
    const micros = await deps.reports.balance(res.locals.accountId as string);
    res.json({ balance: micros === undefined ? null : fromMicros(micros), currency: 'EUR', unlimited: micros === undefined });
  });
  const optOuts = new OptOutStore(deps.reports.db);
  const templates = deps.protexting?.templates ?? new MmsTemplates({ db: deps.reports.db, guard: new CallbackGuard([]), logger: deps.logger, providerSendsMms: true });
  // Each account's first number is the one its calls to action come from.
  const numbers = new Map<string, string>();
  for (const [number, account] of deps.protexting?.inboundNumbers ?? []) if (!numbers.has(account)) numbers.set(account, number);
  app.use(
    '/v1',
    protextingRouter({
      contacts: deps.contacts,
      campaigns: deps.campaigns,
      optOuts,
      bulks: deps.bulks,
      templates,
      numberOf: (account) => numbers.get(account),
      auth: deps.auth.middleware({ allowQueryToken: true }),
      logger: deps.logger,
    }),
  );
  app.use('/sms', deps.auth.middleware());
  app.use(infobipRouter({ bulks: deps.bulks, control: deps.control, reports: deps.reports }));

  app.use((_req, _res, next) => next(new ApiError(404, 'NOT_FOUND', 'No such resource')));
  app.use(errorHandler(deps.logger));
  return app;
}
