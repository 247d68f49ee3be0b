import type { ErrorRequestHandler, Request } from 'express';
import type { ZodError } from 'zod';
import type { Logger } from '../config/logger';
import { sendNegotiated } from './content';

/** A failure that the client caused or must know about; everything else is a 500 without internals. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly messageId: string,
    text: string,
    readonly validationErrors?: Record<string, string[]>,
  ) {
    super(text);
  }
}

export function zodPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

export function validationError(error: ZodError, text = 'Bad request'): ApiError {
  const fields: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const key = zodPath(issue.path) || 'request';
    (fields[key] ??= []).push(issue.message);
  }
  return new ApiError(400, 'BAD_REQUEST', text, fields);
}

/** The error body of each dialect; routers pick theirs by setting `res.locals.dialect`. */
export type Dialect = 'infobip' | 'routee' | 'protexting';

function infobipBody(err: ApiError) {
  return {
    requestError: {
      serviceException: {
        messageId: err.messageId,
        text: err.message,
        ...(err.validationErrors ? { validationErrors: err.validationErrors } : {}),
      },
    },
  };
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res, _next) => {
    let apiError: ApiError;
    if (err instanceof ApiError) {
      apiError = err;
    } else if ((err as { type?: string }).type === 'entity.too.large') {
      apiError = new ApiError(413, 'REQUEST_TOO_LARGE', 'Request body is too large');
    } else if ((err as Error).name === 'XmlParseError') {
      // The parser's own words (malformed, a DOCTYPE, the wrong document element) tell the client what to fix.
      apiError = new ApiError(400, 'BAD_REQUEST', `Request body is not acceptable XML: ${(err as Error).message}`);
    } else if ((err as { type?: string }).type === 'entity.parse.failed') {
      apiError = new ApiError(400, 'BAD_REQUEST', 'Request body is not well-formed');
    } else {
      logger.error({ err, reqId: req.id }, 'unhandled error');
      apiError = new ApiError(500, 'GENERAL_ERROR', 'Something went wrong; the request was not processed');
    }
    if (res.headersSent) return;
    sendNegotiated(req, res.status(apiError.status), infobipBody(apiError), 'requestError', true);
  };
}
