import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * Infobip's XML forms, with a real parser: requests are read into the same shape as their JSON twins, and
 * replies/reports are written from the JSON shape (arrays become wrapper + repeated singular elements).
 */
export class XmlParseError extends Error {
  override name = 'XmlParseError';
}

const BOOLEAN_KEYS = new Set(['flash', 'intermediateReport']);
const INTEGER_KEYS = new Set(['validityPeriod', 'hour', 'minute', 'amount']);
/** Elements that repeat in the Infobip XML request, and whose wrapper is dropped in the JSON shape. */
const LIST_WRAPPERS: Record<string, string> = { messages: 'message', destinations: 'destination' };
const REPEATED = new Set(['message', 'destination', 'days']);

function coerce(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (BOOLEAN_KEYS.has(key) && (value === 'true' || value === 'false')) return value === 'true';
  if (INTEGER_KEYS.has(key) && /^-?\d+$/.test(value.trim())) return Number(value);
  return value;
}

function toJsonShape(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonShape);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const inner = LIST_WRAPPERS[key];
    if (inner && value && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = toJsonShape((value as Record<string, unknown>)[inner] ?? []);
    } else {
      out[key] = coerce(key, toJsonShape(value));
    }
  }
  return out;
}

const parser = new XMLParser({
  // Every value stays a string ("41793026727" must not become a number); known fields are coerced above.
  parseTagValue: false,
  ignoreAttributes: true,
  processEntities: true,
  isArray: (name) => REPEATED.has(name),
});

/** Parses an XML request body; `root` is the document element whose content is the request. */
export function parseXmlBody(xml: string, root: string): unknown {
  // No request of ours needs a DTD, and entities declared in one are how XML bombs and external entity reads
  // get in: refused outright, before any parsing.
  if (/<!DOCTYPE/i.test(xml)) throw new XmlParseError('a DOCTYPE is not allowed in requests');
  if (XMLValidator.validate(xml) !== true) throw new XmlParseError('malformed XML');
  const doc = parser.parse(xml) as Record<string, unknown>;
  const content = doc[root];
  if (content === undefined) throw new XmlParseError(`expected <${root}> document element`);
  return toJsonShape(content === '' ? {} : content);
}

const builder = new XMLBuilder({ ignoreAttributes: true, format: false, suppressEmptyNode: true });

/** Turns arrays into XML lists: `messages: [...]` becomes `<messages><message>…</message></messages>`. */
function toXmlShape(node: unknown, key?: string): unknown {
  if (Array.isArray(node)) {
    const item = key && key.endsWith('s') ? key.slice(0, -1) : 'item';
    return { [item]: node.map((v) => toXmlShape(v, item)) };
  }
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, toXmlShape(v, k)]));
}

export function toXml(root: string, body: unknown): string {
  return `<?xml version="1.0" encoding="UTF-8"?>${builder.build({ [root]: toXmlShape(body) })}`;
}

