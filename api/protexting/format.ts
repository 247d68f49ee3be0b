import type { Request, Response } from 'express';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { DateTime } from 'luxon';
import { XmlParseError } from '../../core/xml';

/**
 * ProTexting's wire conventions (a Yii2 REST API): JSON or XML chosen by Accept; XML documents are
 * `<response>…</response>`, a list is repeated `<item>` elements (nested lists too), an empty value is `<Tag/>`;
 * dates are `YYYY-MM-DD HH:MM:SS` in US Eastern time; lists come 100 a page with X-Pagination-* headers.
 */

/** ProTexting documents its times as US Eastern; luxon keeps them right across daylight-saving changes. */
export const PROTEXTING_ZONE = 'America/New_York';
const DATE_FORMAT = 'yyyy-MM-dd HH:mm:ss';

export function formatEastern(ms: number): string {
  return DateTime.fromMillis(ms, { zone: PROTEXTING_ZONE }).toFormat(DATE_FORMAT);
}

/**
 * `YYYY-MM-DD HH:MM:SS` read as Eastern wall-clock time. A time the spring-forward gap skips does not exist on
 * that day's clock and is refused; a time the autumn fall-back repeats is read as its first (daylight) instance.
 */
export function parseEastern(text: string): number | undefined {
  const t = DateTime.fromFormat(text.trim(), DATE_FORMAT, { zone: PROTEXTING_ZONE });
  if (!t.isValid) return undefined;
  // luxon moves a nonexistent wall time forward: what comes back differs from what was asked.
  if (t.toFormat(DATE_FORMAT) !== text.trim()) return undefined;
  // A repeated wall time has two instants: the first is when that clock time first comes.
  return Math.min(...t.getPossibleOffsets().map((d) => d.toMillis()));
}

export function wantsXml(req: Request): boolean {
  const type = req.accepts(['application/json', 'application/xml', 'text/xml']);
  return type === 'application/xml' || type === 'text/xml';
}

const parser = new XMLParser({ parseTagValue: false, ignoreAttributes: true, processEntities: true });

/** `{item: [...]}` or `{item: x}` as the list it stands for, all the way down. */
function fromXmlShape(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(fromXmlShape);
  if (node === null || typeof node !== 'object') return node;
  const entries = Object.entries(node as Record<string, unknown>);
  if (entries.length === 1 && entries[0]![0] === 'item') {
    const items = entries[0]![1];
    return (Array.isArray(items) ? items : [items]).map(fromXmlShape);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, fromXmlShape(v)]));
}

/** An XML request body (any document element; ProTexting names none) as the object its JSON twin would be. */
export function parseXmlRequest(xml: string): Record<string, unknown> {
  if (/<!DOCTYPE/i.test(xml)) throw new XmlParseError('a DOCTYPE is not allowed in requests');
  if (XMLValidator.validate(xml) !== true) throw new XmlParseError('malformed XML');
  const doc = parser.parse(xml) as Record<string, unknown>;
  const roots = Object.keys(doc).filter((k) => k !== '?xml');
  if (roots.length !== 1) throw new XmlParseError('expected one document element');
  const content = fromXmlShape(doc[roots[0]!]);
  return content && typeof content === 'object' && !Array.isArray(content) ? (content as Record<string, unknown>) : {};
}

const builder = new XMLBuilder({ ignoreAttributes: true, format: false, suppressEmptyNode: true });

function toXmlShape(node: unknown): unknown {
  if (Array.isArray(node)) return { item: node.map(toXmlShape) };
  if (node === null || node === undefined) return '';
  if (typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, toXmlShape(v)]));
}

export function toProtextingXml(body: unknown): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ response: toXmlShape(body) })}`;
}

/** Sends a reply in the format the client asked for. */
export function reply(req: Request, res: Response, status: number, body: unknown): void {
  res.status(status);
  if (wantsXml(req)) res.type('application/xml; charset=UTF-8').send(toProtextingXml(body));
  else res.type('application/json; charset=UTF-8').send(JSON.stringify(body));
}

export const PAGE_SIZE = 100;

/** Yii2's paging headers (pages count from 1) and Link, for a list of `total` items at `page`. */
export function setPagination(req: Request, res: Response, page: number, total: number): void {
  const pageCount = Math.max(1, Math.ceil(total / PAGE_SIZE));
  res.set({
    'X-Pagination-Current-Page': String(page),
    'X-Pagination-Page-Count': String(pageCount),
    'X-Pagination-Per-Page': String(PAGE_SIZE),
    'X-Pagination-Total-Count': String(total),
  });
  // Links keep the path and drop the query's secrets: a client adds its own access_token.
  const self = (p: number) => `<${req.baseUrl}${req.path}?page=${p}>`;
  const links = [`${self(page)}; rel=self`];
  if (page < pageCount) links.push(`${self(page + 1)}; rel=next`);
  links.push(`${self(pageCount)}; rel=last`);
  res.set('Link', links.join(', '));
}
