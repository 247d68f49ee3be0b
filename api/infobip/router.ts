import { type Request, type Response, Router } from 'express';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { type BulkControlService, BulkNotFoundError, BulkUnavailableError, ControlRefusedError } from '../../core/bulk-control-service';
import {
  BulkRejectedError,
  type BulkService,
  type CreateBulkCommand,
  type CreatedBulk,
  newTrackingProcessKey,
  WorkflowStartError,
} from '../../core/bulk-service';
import { toInfobipLog, toInfobipReport } from '../../core/reports';
import { BulkAlreadyExistsError, InsufficientBalanceError, MessageIdTakenError, type Repository } from '../../db/repository';
import { isXmlRequest, parseXmlBody, sendNegotiated } from '../content';
import { ApiError, validationError } from '../errors';
import { previewSms } from '../../domain/preview';
import { advancedRequest, type AdvancedRequest, isoDateTime, previewRequest } from './schemas';

export interface InfobipRouterDeps {
  bulks: BulkService;
  control: BulkControlService;
  reports: Repository;
}

/** Infobip's date format: 2015-07-07T17:00:00.000+00:00 (we answer in UTC). */
export function formatSendAt(ms: number): string {
  return DateTime.fromMillis(ms, { zone: 'utc' }).toFormat("yyyy-MM-dd'T'HH:mm:ss.SSSZZ");
}

const bulkIdQuery = z.object({ bulkId: z.string().min(1).max(100) });
const rescheduleBody = z.object({ sendAt: isoDateTime });
const statusBody = z.object({ status: z.string().min(1).max(20) });

const reportsQuery = z.object({
  bulkId: z.string().min(1).max(100).optional(),
  messageId: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

const epoch = z
  .string()
  .refine((v) => DateTime.fromISO(v, { setZone: true }).isValid, 'must be an ISO 8601 date-time')
  .transform((v) => DateTime.fromISO(v, { setZone: true }).toMillis());

const logsQuery = z.object({
  from: z.string().max(20).optional(),
  to: z.string().max(20).optional(),
  bulkId: z.string().min(1).max(100).optional(),
  messageId: z.string().min(1).max(100).optional(),
  generalStatus: z.enum(['ACCEPTED', 'PENDING', 'UNDELIVERABLE', 'DELIVERED', 'EXPIRED', 'REJECTED']).optional(),
  sentSince: epoch.optional(),
  sentUntil: epoch.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

function readBody(req: Request): unknown {
  return isXmlRequest(req) ? parseXmlBody(String(req.body ?? ''), 'request') : (req.body ?? {});
}

function parse<T extends z.ZodTypeAny>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}

function controlError(err: unknown): unknown {
  if (err instanceof BulkNotFoundError) return new ApiError(404, 'NOT_FOUND', err.message);
  if (err instanceof ControlRefusedError) return new ApiError(400, 'BAD_REQUEST', err.message, { [err.field]: [err.message] });
  if (err instanceof BulkUnavailableError) return new ApiError(503, 'SERVICE_UNAVAILABLE', err.message);
  return err;
}

export function toCreateBulkCommand(accountId: string, req: AdvancedRequest): CreateBulkCommand {
  const tracked = req.tracking?.track !== undefined || req.tracking?.type !== undefined;
  return {
    accountId,
    bulkId: req.bulkId,
    campaignName: req.tracking?.type,
    trackingProcessKey: tracked ? (req.tracking?.processKey ?? newTrackingProcessKey()) : undefined,
    speedLimit: req.sendingSpeedLimit,
    messages: req.messages.map((m) => ({
      from: m.from,
      text: m.text,
      transliteration: m.transliteration,
      ...(m.language ? { languageCode: m.language.languageCode } : {}),
      flash: m.flash,
      destinations: m.destinations,
      notifyUrl: m.notifyUrl,
      notifyContentType: m.notifyContentType,
      callbackData: m.callbackData,
      intermediateReport: m.intermediateReport,
      validityPeriodMinutes: m.validityPeriod,
      sendAt: m.sendAt,
      window: m.deliveryTimeWindow,
    })),
  };
}

function toReply(created: CreatedBulk) {
  return {
    bulkId: created.bulkId,
    ...(created.trackingProcessKey ? { trackingProcessKey: created.trackingProcessKey } : {}),
    messages: created.messages.map((m) => ({
      to: m.to,
      status: m.status,
      messageId: m.messageId,
      smsCount: m.smsCount,
    })),
  };
}

/** The Infobip dialect: parse, hand one command to the core, shape the reply. */
export function infobipRouter({ bulks, control, reports }: InfobipRouterDeps): Router {
  const router = Router();
  const account = (res: Response) => res.locals.accountId as string;

  // Delivery reports of messages without a notifyUrl, each returned once (as Infobip does).
  router.get('/sms/1/reports', async (req, res) => {
    const q = parse(reportsQuery, req.query);
    const rows = await reports.pullReports(account(res), q, Date.now());
    sendNegotiated(req, res, { results: rows.map(toInfobipReport) }, 'reportResponse');
  });

  router.get('/sms/1/logs', async (req, res) => {
    const q = parse(logsQuery, req.query);
    const rows = await reports.logs(account(res), q);
    sendNegotiated(req, res, { results: rows.map(toInfobipLog) }, 'logsResponse');
  });

  // Scheduled bulks (the Infobip Node SDK sends these paths with a trailing slash as well; Express matches both).
  router.get('/sms/1/bulks', async (req, res) => {
    const { bulkId } = parse(bulkIdQuery, req.query);
    const view = await control.view(account(res), bulkId).catch((err) => Promise.reject(controlError(err)));
    sendNegotiated(req, res, { bulkId, sendAt: formatSendAt(view.sendAt) }, 'bulkResponse');
  });
  router.put('/sms/1/bulks', async (req, res) => {
    const { bulkId } = parse(bulkIdQuery, req.query);
    const { sendAt } = parse(rescheduleBody, readBody(req));
    const view = await control.reschedule(account(res), bulkId, sendAt).catch((err) => Promise.reject(controlError(err)));
    sendNegotiated(req, res, { bulkId, sendAt: formatSendAt(view.sendAt) }, 'bulkResponse');
  });
  router.get('/sms/1/bulks/status', async (req, res) => {
    const { bulkId } = parse(bulkIdQuery, req.query);
    const view = await control.view(account(res), bulkId).catch((err) => Promise.reject(controlError(err)));
    sendNegotiated(req, res, { bulkId, status: view.status }, 'bulkStatusResponse');
  });
  router.put('/sms/1/bulks/status', async (req, res) => {
    const { bulkId } = parse(bulkIdQuery, req.query);
    const { status } = parse(statusBody, readBody(req));
    const view = await control.setStatus(account(res), bulkId, status).catch((err) => Promise.reject(controlError(err)));
    sendNegotiated(req, res, { bulkId, status: view.status }, 'bulkStatusResponse');
  });

  router.post('/sms/1/preview', (req, res) => {
    const body = parse(previewRequest, readBody(req));
    sendNegotiated(req, res, previewSms(body.text, body.languageCode, body.transliteration), 'previewResponse');
  });

  router.post('/sms/2/text/advanced', async (req, res) => {
    const request = parse(advancedRequest, readBody(req));
    let created: CreatedBulk;
    try {
      created = await bulks.createBulk(toCreateBulkCommand(account(res), request));
    } catch (err) {
      if (err instanceof BulkRejectedError) {
        throw new ApiError(400, 'BAD_REQUEST', err.message, { [err.field]: [err.message] });
      }
      if (err instanceof InsufficientBalanceError) {
        throw new ApiError(400, 'NOT_ENOUGH_CREDITS', `Not enough credit: ${err.message}`);
      }
      if (err instanceof BulkAlreadyExistsError) {
        throw new ApiError(409, 'DUPLICATE_BULK_ID', err.message, { bulkId: [err.message] });
      }
      if (err instanceof MessageIdTakenError) {
        throw new ApiError(409, 'DUPLICATE_MESSAGE_ID', err.message, { messageId: err.messageIds.slice(0, 20) });
      }
      if (err instanceof WorkflowStartError) throw new ApiError(503, 'SERVICE_UNAVAILABLE', err.message);
      throw err;
    }
    sendNegotiated(req, res, toReply(created), 'smsResponse');
  });

  return router;
}
