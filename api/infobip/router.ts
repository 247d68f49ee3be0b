import { Router } from 'express';
import {
  BulkRejectedError,
  type BulkService,
  type CreateBulkCommand,
  type CreatedBulk,
  newTrackingProcessKey,
  WorkflowStartError,
} from '../../core/bulk-service';
import { BulkAlreadyExistsError, MessageIdTakenError } from '../../db/repository';
import { isXmlRequest, parseXmlBody, sendNegotiated } from '../content';
import { ApiError, validationError } from '../errors';
import { advancedRequest, type AdvancedRequest } from './schemas';

export interface InfobipRouterDeps {
  bulks: BulkService;
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
export function infobipRouter({ bulks }: InfobipRouterDeps): Router {
  const router = Router();

  router.post('/sms/2/text/advanced', async (req, res) => {
    const body: unknown = isXmlRequest(req) ? parseXmlBody(String(req.body ?? ''), 'request') : req.body;
    const parsed = advancedRequest.safeParse(body ?? {});
    if (!parsed.success) throw validationError(parsed.error);
    let created: CreatedBulk;
    try {
      created = await bulks.createBulk(toCreateBulkCommand(res.locals.accountId as string, parsed.data));
    } catch (err) {
      if (err instanceof BulkRejectedError) {
        throw new ApiError(400, 'BAD_REQUEST', err.message, { [err.field]: [err.message] });
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
