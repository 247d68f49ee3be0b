import type { Request, Response } from 'express';
import { toXml } from '../core/xml';

export { parseXmlBody, toXml, XmlParseError } from '../core/xml';

/**
 * JSON/XML negotiation for the Infobip dialect: XML bodies are read with a real parser into the same shape as
 * JSON, and replies are XML when the client asked for it (Accept) or spoke XML itself.
 */
const XML_TYPES = ['application/xml', 'text/xml'];

export function isXmlRequest(req: Request): boolean {
  return !!req.is(XML_TYPES);
}

/**
 * XML when the client prefers it (Accept), or when it spoke XML and named no preference of its own: no Accept,
 * or a wildcard (`*\/*` is what curl and fetch send by default).
 */
export function wantsXml(req: Request): boolean {
  const header = req.get('accept');
  const specific = header?.split(',').some((part) => {
    const type = part.split(';')[0]!.trim().toLowerCase();
    return type !== '' && type !== '*/*' && type !== 'application/*';
  });
  if (!header || !specific) return isXmlRequest(req);
  const accepted = req.accepts(['application/json', 'application/xml', 'text/xml']);
  return !!accepted && accepted !== 'application/json';
}

/**
 * Sends `body` as JSON, or as XML under `xmlRoot`. `unwrap` drops the body's single top-level key when it equals
 * the XML root (error bodies are `{requestError: …}` in JSON and `<requestError>…` in XML).
 */
export function sendNegotiated(req: Request, res: Response, body: object, xmlRoot: string, unwrap = false): void {
  if (wantsXml(req)) {
    const inner = unwrap ? (body as Record<string, unknown>)[xmlRoot] : body;
    res.type('application/xml').send(toXml(xmlRoot, inner));
  } else {
    res.json(body);
  }
}
