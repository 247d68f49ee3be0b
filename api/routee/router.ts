import express, { type ErrorRequestHandler, type RequestHandler, type Response, Router } from 'express';
import type { z } from 'zod';
import type { Logger } from '../../config/logger';
import { CampaignError, type CampaignErrorKind, type CampaignService, type CampaignView } from '../../core/campaign-service';
import { BulkRejectedError, WorkflowStartError } from '../../core/bulk-service';
import { BulkUnavailableError, ControlRefusedError } from '../../core/bulk-control-service';
import { type Contact, ContactError, type ContactErrorKind, type ContactInput, type ContactStore, type LabelType } from '../../db/contacts';
import { InsufficientBalanceError, type Repository } from '../../db/repository';
import { fromMicros } from '../../core/pricing';
import { TOKEN_TTL_SECONDS } from '../auth';
import { ApiError, zodPath } from '../errors';
import { formatSendAt } from '../infobip/router';
import {
  blacklistBody,
  blacklistService,
  campaignBody,
  type CampaignBody,
  contactBody,
  type ContactBody,
  groupBody,
  groupName,
  groupNames,
  idList,
  labelsBody,
  MAX_IMPORT_ROWS,
  pageQuery,
} from './schemas';
import { parse as parseCsv } from 'csv-parse/sync';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { routeeStatusOf } from '../../core/campaign-service';

/**
 * The Routee dialect (base https://connect.routee.net): contacts, labels, blacklists, groups and SMS campaigns.
 * Errors are Routee's `{code, developerMessage}`, the code's first three digits the HTTP status.
 */
export class RouteeError extends Error {
  override name = 'RouteeError';
  constructor(
    readonly code: string,
    message: string,
    readonly properties?: Record<string, string>,
  ) {
    super(message);
  }
  get status(): number {
    return Number(this.code.slice(0, 3));
  }
}

const CONTACT_CODES: Record<ContactErrorKind, string> = {
  CONTACT_NOT_FOUND: '404002001',
  MOBILE_EXISTS: '409002005',
  LABEL_NOT_DEFINED: '404002012',
  LABEL_EXISTS: '409002011',
  LABEL_DUPLICATE: '400002014',
  // Routee documents 409002005 for an existing group too.
  GROUP_EXISTS: '409002005',
  // Not documented by Routee; ours, in its contact module.
  GROUP_NOT_FOUND: '404002002',
  GROUP_RESERVED: '400002000',
};

const CAMPAIGN_CODES: Record<CampaignErrorKind, string> = {
  NOT_FOUND: '404009001',
  NOT_SCHEDULED: '400009002',
  NO_RECIPIENTS: '400005000',
  EMPTY_RECIPIENTS: '400009004',
  NAME_TAKEN: '409009003',
  CONTACT_NOT_FOUND: '404002001',
  GROUP_NOT_FOUND: '404002002',
  TOO_MANY: '400005000',
  UNAVAILABLE: '503000000',
};

function parse<T extends z.ZodType>(schema: T, value: unknown, code: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const properties: Record<string, string> = {};
  for (const issue of parsed.error.issues) properties[zodPath(issue.path) || 'body'] ??= issue.message;
  const first = parsed.error.issues[0]!;
  throw new RouteeError(code, `${zodPath(first.path) || 'body'}: ${first.message}`, properties);
}

const CONTACT_COLUMNS = new Set(['mobile', 'firstName', 'lastName', 'email', 'vip', 'country']);

/**
 * A CSV import as the JSON rows it stands for: a header row names the columns (mobile, firstName, lastName,
 * email, vip, country; any other column is a label of that name). Empty cells are left out; vip is true/false.
 */
function csvContacts(text: string): unknown[] {
  let records: string[][];
  try {
    records = parseCsv(text, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: true, max_record_size: 64 * 1024 }) as string[][];
  } catch (err) {
    throw new RouteeError('400012000', `the CSV cannot be read: ${(err as Error).message.slice(0, 200)}`);
  }
  const [header, ...rows] = records;
  if (!header?.includes('mobile')) throw new RouteeError('400012000', 'the CSV needs a header row with a mobile column');
  return rows.map((cells) => {
    const row: Record<string, unknown> = {};
    const labels: Array<{ name: string; value: string }> = [];
    header.forEach((column, i) => {
      const value = cells[i];
      if (value === undefined || value === '') return;
      if (column === 'vip') row.vip = /^(true|1|yes)$/i.test(value);
      else if (CONTACT_COLUMNS.has(column)) row[column] = value;
      else labels.push({ name: column, value });
    });
    if (labels.length > 0) row.labels = labels;
    return row;
  });
}

function toInput(body: ContactBody): ContactInput {
  return {
    mobile: body.mobile,
    country: body.country ?? parsePhoneNumberFromString(body.mobile)?.country,
    firstName: body.firstName,
    lastName: body.lastName,
    email: body.email,
    vip: body.vip,
    labels: body.labels ? Object.fromEntries(body.labels.map((l) => [l.name, l.value])) : undefined,
  };
}

function contactReply(c: Contact, types: Record<string, LabelType>) {
  return {
    id: c.id,
    mobile: c.mobile,
    ...(c.firstName !== undefined ? { firstName: c.firstName } : {}),
    ...(c.lastName !== undefined ? { lastName: c.lastName } : {}),
    ...(c.email !== undefined ? { email: c.email } : {}),
    ...(c.country !== undefined ? { country: c.country } : {}),
    vip: c.vip,
    groups: c.groups,
    blacklistedServices: c.blacklist,
    labels: Object.entries(c.labels).map(([name, value]) => ({ name, type: types[name] ?? 'Text', value })),
  };
}

/** Spring's page shape, as Routee answers lists. */
function springPage<T>(content: T[], total: number, page: number, size: number) {
  const totalPages = Math.ceil(total / size);
  return { content, totalElements: total, totalPages, number: page, size, numberOfElements: content.length, first: page === 0, last: page >= totalPages - 1 };
}

function campaignReply(v: CampaignView) {
  const r = v.request;
  return {
    trackingId: v.trackingId,
    type: 'Sms',
    state: v.state,
    createdAt: new Date(v.createdAt).toISOString(),
    from: r.from,
    to: r.to,
    contacts: r.contacts,
    groups: r.groups,
    body: r.body,
    ...(r.campaignName ? { campaignName: r.campaignName } : {}),
    scheduledDate: r.scheduledDate !== undefined ? new Date(v.sendAt).toISOString() : undefined,
    flash: r.flash,
    respectQuietHours: r.respectQuietHours ?? false,
    ...(r.quietHoursReport ? { quietHoursReport: r.quietHoursReport } : {}),
    ...(r.callback ? { callback: r.callback } : {}),
    ...(r.campaignCallback ? { campaignCallback: r.campaignCallback } : {}),
    ...(r.reminder ? { reminder: r.reminder } : {}),
    ...(r.fallbackValues ? { fallbackValues: r.fallbackValues } : {}),
    ...(r.transcode !== undefined ? { transcode: r.transcode } : {}),
    totalMessages: v.totalMessages,
    statuses: v.statuses,
    smsAnalysis: v.analysis,
  };
}

export interface RouteeRouterDeps {
  /** Balances (and the Infobip balance route, which sits outside /sms). */
  repo: Repository;
  contacts: ContactStore;
  campaigns: CampaignService;
  auth: RequestHandler;
  /** Mints the bearer token of Routee's `/oauth/token` exchange for an authenticated account. */
  issueToken: (account: string) => string;
  logger: Logger;
}

export function routeeRouter({ repo, contacts, campaigns, auth, issueToken, logger }: RouteeRouterDeps): Router {
  const router = Router();
  const account = (res: Response) => res.locals.accountId as string;

  // ---- Routee's token exchange (its clients call it on the same base URL): Basic base64(applicationId:secret),
  // here the account and its API key, grant_type=client_credentials → an hour's bearer token. The key itself stays
  // accepted as a bearer token too.
  router.post('/oauth/token', express.urlencoded({ extended: false, limit: '4kb' }), auth, (req, res) => {
    const grant = (req.body as Record<string, unknown> | undefined)?.grant_type;
    if (grant !== 'client_credentials') {
      res.status(400).json({ error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' });
      return;
    }
    res.set('Cache-Control', 'no-store');
    res.json({ access_token: issueToken(account(res)), token_type: 'bearer', expires_in: TOKEN_TTL_SECONDS, scope: 'sms contact account report', permissions: ['MT_ROLE_SMS', 'MT_ROLE_CONTACT', 'MT_ROLE_ACCOUNT', 'MT_ROLE_REPORT'] });
  });

  // ---- balance (an account without one configured is unlimited: balance null)
  router.get('/accounts/me/balance', auth, async (_req, res) => {
    const micros = await repo.balance(account(res));
    res.json({ balance: micros === undefined ? null : fromMicros(micros), unlimited: micros === undefined, currency: { code: 'EUR', name: 'Euro', sign: '€' } });
  });
  const types = (res: Response) => contacts.labels(account(res));

  // ---- contacts
  router.post('/contacts/my', auth, async (req, res) => {
    const body = parse(contactBody, req.body, '400002000');
    const c = await contacts.createContact(account(res), toInput(body));
    res.json(contactReply(c, await types(res)));
  });
  router.get('/contacts/my', auth, async (req, res) => {
    const { page, size } = parse(pageQuery, req.query, '400002000');
    const { content, total } = await contacts.listContacts(account(res), page, size);
    const t = await types(res);
    res.json(springPage(content.map((c) => contactReply(c, t)), total, page, size));
  });
  router.delete('/contacts/my', auth, async (req, res) => {
    const ids = parse(idList, req.body, '400002000');
    res.json(await contacts.deleteContacts(account(res), ids));
  });
  router.head('/contacts/my/mobile', auth, async (req, res) => {
    const value = typeof req.query.value === 'string' ? req.query.value.trim() : '';
    res.status((await contacts.findByMobile(account(res), value)) ? 200 : 404).end();
  });
  // Many contacts in one JSON array: each row is checked alone; the reply lists the refused ones.
  router.post('/contacts/my/import', auth, async (req, res) => {
    if (req.is('text/csv')) req.body = csvContacts(String(req.body ?? ''));
    if (!Array.isArray(req.body)) throw new RouteeError('400012000', 'the body must be a JSON array of contacts, or CSV (text/csv) with a header row');
    if (req.body.length > MAX_IMPORT_ROWS) throw new RouteeError('400012000', `at most ${MAX_IMPORT_ROWS} contacts per import`);
    const valid: ContactInput[] = [];
    const rowOf: number[] = [];
    const errors: Array<{ row: number; code: string; developerMessage: string }> = [];
    (req.body as unknown[]).forEach((row, i) => {
      const parsed = contactBody.safeParse(row);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        errors.push({ row: i, code: '400002000', developerMessage: `${zodPath(issue.path) || 'row'}: ${issue.message}` });
      } else {
        valid.push(toInput(parsed.data));
        rowOf.push(i);
      }
    });
    const result = await contacts.importContacts(account(res), valid);
    for (const e of result.errors) errors.push({ row: rowOf[e.row]!, code: e.kind === 'INVALID' ? '400002000' : CONTACT_CODES[e.kind], developerMessage: e.message });
    errors.sort((a, b) => a.row - b.row);
    res.json({ created: result.created, failed: errors.length, errors });
  });
  router.get('/contacts/my/blacklist/:service', auth, async (req, res) => {
    const service = parse(blacklistService, req.params.service, '400002000');
    const t = await types(res);
    res.json((await contacts.blacklisted(account(res), service)).map((c) => contactReply(c, t)));
  });
  for (const [method, on] of [['post', true], ['delete', false]] as const) {
    router[method]('/contacts/my/blacklist/:service', auth, async (req, res) => {
      const service = parse(blacklistService, req.params.service, '400002000');
      const ids = parse(blacklistBody, req.body, '400002000');
      res.json({ updated: await contacts.setBlacklisted(account(res), service, ids, on) });
    });
  }
  router.get('/contacts/my/:id', auth, async (req, res) => {
    res.json(contactReply(await contacts.getContact(account(res), String(req.params.id)), await types(res)));
  });
  router.put('/contacts/my/:id', auth, async (req, res) => {
    const body = parse(contactBody, req.body, '400002000');
    res.json(contactReply(await contacts.updateContact(account(res), String(req.params.id), toInput(body)), await types(res)));
  });
  router.delete('/contacts/my/:id', auth, async (req, res) => {
    res.json(contactReply(await contacts.deleteContact(account(res), String(req.params.id)), await types(res)));
  });

  // ---- labels
  router.post('/contacts/labels/my', auth, async (req, res) => {
    res.json(await contacts.defineLabels(account(res), parse(labelsBody, req.body, '400002000')));
  });
  router.get('/contacts/labels/my', auth, async (_req, res) => {
    res.json(await types(res));
  });

  // ---- groups
  router.post('/groups/my', auth, async (req, res) => {
    const { name } = parse(groupBody, req.body, '400002007');
    const g = await contacts.createGroup(account(res), name);
    res.json({ name: g.name, size: g.size });
  });
  router.get('/groups/my', auth, async (_req, res) => {
    res.json((await contacts.listGroups(account(res))).map((g) => ({ name: g.name, size: g.size })));
  });
  router.get('/groups/my/page', auth, async (req, res) => {
    const { page, size } = parse(pageQuery, req.query, '400002000');
    const all = (await contacts.listGroups(account(res))).map((g) => ({ name: g.name, size: g.size }));
    res.json(springPage(all.slice(page * size, page * size + size), all.length, page, size));
  });
  router.delete('/groups/my', auth, async (req, res) => {
    const names = parse(groupNames, req.body, '400002000');
    res.json(await contacts.deleteGroups(account(res), names, req.query.deleteContacts === 'true'));
  });
  router.get('/groups/my/:name', auth, async (req, res) => {
    const g = await contacts.getGroup(account(res), parse(groupName, req.params.name, '400002000'));
    res.json({ name: g.name, size: g.size });
  });
  router.get('/groups/my/:name/contacts', auth, async (req, res) => {
    const { page, size } = parse(pageQuery, req.query, '400002000');
    const { content, total } = await contacts.groupContacts(account(res), parse(groupName, req.params.name, '400002000'), page, size);
    const t = await types(res);
    res.json(springPage(content.map((c) => contactReply(c, t)), total, page, size));
  });
  for (const [method, member] of [['post', true], ['delete', false]] as const) {
    router[method]('/groups/my/:name/contacts', auth, async (req, res) => {
      const ids = parse(idList, req.body, '400002000');
      const g = await contacts.setMembership(account(res), parse(groupName, req.params.name, '400002000'), ids, member);
      res.json({ name: g.name, size: g.size });
    });
  }

  // ---- campaigns
  const command = (res: Response, body: CampaignBody) => ({
    accountId: account(res),
    to: body.to ?? [],
    contacts: body.contacts ?? [],
    groups: body.groups ?? [],
    from: body.from,
    body: body.body,
    sendAt: body.scheduledDate,
    campaignName: body.campaignName,
    flash: body.flash,
    fallbackValues: body.fallbackValues,
    transcode: body.transcode,
    respectQuietHours: body.respectQuietHours,
    callback: body.callback,
    campaignCallback: body.campaignCallback,
    reminder: body.reminder,
  });
  router.post('/sms/campaign', auth, async (req, res) => {
    const body = parse(campaignBody, req.body, '400005000');
    res.json(campaignReply(await campaigns.create(command(res, body))));
  });
  router.post('/sms/analyze/campaign', auth, async (req, res) => {
    const body = parse(campaignBody, req.body, '400005000');
    res.json((await campaigns.analyze(command(res, body))).analysis);
  });
  router.get('/campaigns/:trackingId', auth, async (req, res) => {
    res.json(campaignReply(await campaigns.get(account(res), String(req.params.trackingId))));
  });
  router.get('/sms/tracking/campaign/:trackingId', auth, async (req, res) => {
    const { page, size } = parse(pageQuery, req.query, '400007000');
    const trackingId = String(req.params.trackingId);
    const { rows, total, campaignName, groups } = await campaigns.tracking(account(res), trackingId, page, size);
    const content = rows.map((m) => ({
      messageId: m.message_id,
      smsId: m.message_id,
      campaignTrackingId: trackingId,
      ...(campaignName ? { campaignName } : {}),
      groups,
      to: `+${m.to_number}`,
      from: m.from_addr,
      body: m.text,
      parts: m.sms_count,
      country: parsePhoneNumberFromString(`+${m.to_number}`)?.country,
      status: { status: routeeStatusOf(m.status_name), date: formatSendAt(m.done_at ?? m.submitted_at ?? m.updated_at), reason: { detailedStatus: m.status_name } },
    }));
    res.json(springPage(content, total, page, size));
  });
  router.put('/sms/:trackingId', auth, async (req, res) => {
    const body = parse(campaignBody, req.body, '400005000');
    res.json(campaignReply(await campaigns.update(command(res, body), String(req.params.trackingId))));
  });
  router.delete('/sms/:trackingId', auth, async (req, res) => {
    await campaigns.cancel(account(res), String(req.params.trackingId));
    res.json({});
  });

  router.use(routeeErrors(logger));
  return router;
}

function routeeErrors(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    let e: RouteeError;
    if (err instanceof RouteeError) e = err;
    else if (err instanceof ContactError) e = new RouteeError(CONTACT_CODES[err.kind], err.message);
    else if (err instanceof CampaignError) e = new RouteeError(CAMPAIGN_CODES[err.kind], err.message);
    else if (err instanceof BulkRejectedError) e = new RouteeError('400005000', err.message);
    else if (err instanceof InsufficientBalanceError) e = new RouteeError('400001009', `not enough balance: ${err.message}`);
    else if (err instanceof ControlRefusedError) e = new RouteeError('400009002', err.message);
    else if (err instanceof BulkUnavailableError || err instanceof WorkflowStartError) e = new RouteeError('503000000', err.message);
    else if (err instanceof ApiError) e = new RouteeError(`${err.status}000000`, err.message);
    else if ((err as { type?: string }).type === 'entity.parse.failed') e = new RouteeError('400000000', 'the body is not well-formed JSON');
    else if ((err as { type?: string }).type === 'entity.too.large') e = new RouteeError('413000000', 'the body is too large');
    else {
      next(err);
      return;
    }
    if (e.status >= 500) logger.warn({ err, reqId: req.id }, 'routee request could not be served');
    if (res.headersSent) return;
    res.status(e.status).json({ code: e.code, developerMessage: e.message, ...(e.properties ? { properties: e.properties } : {}) });
  };
}
