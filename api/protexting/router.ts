import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, Router } from 'express';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { z } from 'zod';
import type { Logger } from '../../config/logger';
import { BulkRejectedError, type BulkService, WorkflowStartError } from '../../core/bulk-service';
import { BulkUnavailableError } from '../../core/bulk-control-service';
import { CampaignError, type CampaignService, type CampaignView } from '../../core/campaign-service';
import { MmsTemplateError, type MmsTemplates } from '../../core/mms-templates';
import { type Contact, ContactError, type ContactStore } from '../../db/contacts';
import type { OptOutStore } from '../../db/opt-outs';
import { InsufficientBalanceError } from '../../db/repository';
import { ApiError } from '../errors';
import { formatEastern, PAGE_SIZE, parseEastern, parseXmlRequest, reply, setPagination } from './format';

/**
 * The ProTexting dialect (base https://api2.protexting.com/v1): group SMS/MMS schedules over the shared contacts,
 * groups and campaigns core; double opt-in by the handset's YES; MMS templates. Auth is `?access_token=`.
 * Validation errors answer 422 as a list of {field, message}; business errors ProTexting's coded body.
 */

/** ProTexting's documented business error codes (PD error-codes). */
export const PROTEXTING_CODES = { OPTED_OUT: 1, EMPTY_MMS_RESOURCE: 3, UNPROCESSABLE: 4, NOT_ENOUGH_CREDIT: 5 } as const;

class ProtextingError extends Error {
  override name = 'ProtextingError';
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly code = 0,
  ) {
    super(message);
  }
}

/** 422 "Data Validation Failed": one entry per field, as Yii2 answers. */
class FieldErrors extends Error {
  override name = 'FieldErrors';
  constructor(readonly fields: Array<{ field: string; message: string }>) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join('; '));
  }
}

const unprocessable = (message: string, code: number = PROTEXTING_CODES.UNPROCESSABLE) => new ProtextingError(422, 'Unprocessable entity', message, code);
const notFound = (message: string) => new ProtextingError(404, 'Not Found', message);

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const fields: Array<{ field: string; message: string }> = [];
  for (const issue of parsed.error.issues) {
    const field = String(issue.path[0] ?? 'body');
    if (!fields.some((f) => f.field === field)) fields.push({ field, message: issue.message });
  }
  throw new FieldErrors(fields);
}

/** Group ids as ProTexting sends them: strings ("100") or numbers; one or many. */
const groupIds = z
  .union([z.array(z.union([z.string(), z.number()])), z.string(), z.number()])
  .transform((v) => (Array.isArray(v) ? v : String(v).split(',')))
  .pipe(
    z
      .array(z.union([z.string().trim().regex(/^\d{1,9}$/, 'must be group ids'), z.number().int().min(1).max(999_999_999)]).transform(Number))
      .min(1, 'cannot be blank.')
      .max(1000),
  );
const int01 = z.union([z.literal(0), z.literal(1), z.enum(['0', '1']).transform(Number)]);
const optionalText = (max: number) => z.string().trim().max(max).optional();
/** International digits without '+' (ProTexting's form, e.g. 16461234567); a '+' is tolerated. */
const phoneNumber = z
  .union([z.string(), z.number()])
  .transform((v) => String(v).trim().replace(/^\+/, ''))
  .refine((v) => /^\d{7,15}$/.test(v) && parsePhoneNumberFromString(`+${v}`)?.isValid() === true, 'is not a valid phone number.');

const groupScheduleBody = z.object({
  Message: z.string({ error: 'cannot be blank.' }).min(1, 'cannot be blank.').max(1600),
  GroupIds: groupIds,
  CampaignName: z.string().trim().min(2).max(30).regex(/^[A-Za-z0-9 -]+$/, 'may contain latin letters, digits, spaces and - only.').optional(),
  DateTime: z.string().max(40).optional(),
  TypeRecipients: int01.default(0),
  MmsTemplateId: z.union([z.number().int().min(1), z.string().regex(/^\d{1,9}$/).transform(Number), z.literal('').transform(() => undefined)]).optional(),
  MmsHighResolution: int01.optional(),
  Subject: optionalText(64),
});

const groupBody = z.object({
  fname: z.string({ error: 'cannot be blank.' }).trim().min(3, 'should contain at least 3 characters.').max(255),
  fnote: z.string().trim().min(3, 'should contain at least 3 characters.').max(255).optional(),
});

const contactCreateBody = z.object({
  fnumber: phoneNumber,
  ffirstname: optionalText(60),
  flastname: optionalText(60),
  femail: z.email().max(254).optional(),
  fbirthdate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD.').optional(),
  fzipcode: optionalText(16),
  fcity: optionalText(60),
  GroupIds: groupIds,
});

const optOutBody = z.object({ PhoneNumber: phoneNumber });
const optInBody = z.object({
  PhoneNumber: phoneNumber,
  GroupIds: groupIds,
  CTAMessage: optionalText(480),
  ConfirmMessage: optionalText(480),
  SendCTAMessage: int01.default(1),
});
const templateBody = z.object({
  ResourceLink: z.url().max(2048),
  Name: optionalText(100),
});
const idQuery = z.object({ id: z.coerce.number().int().min(1).max(999_999_999) });
const pageQuery = z.object({ page: z.coerce.number().int().min(1).max(1_000_000).default(1) });

/** The extra contact fields ProTexting has, kept as the contact's labels of these names. */
const EXTRA_LABELS = { birthdate: 'fbirthdate', zip: 'fzipcode', city: 'fcity' } as const;

export interface ProtextingRouterDeps {
  contacts: ContactStore;
  campaigns: CampaignService;
  optOuts: OptOutStore;
  bulks: BulkService;
  templates: MmsTemplates;
  /** The account's own number (INBOUND_NUMBERS): what its messages come from, and where YES and STOP come back. */
  numberOf: (accountId: string) => string | undefined;
  auth: RequestHandler;
  logger: Logger;
}

export function protextingRouter(deps: ProtextingRouterDeps): Router {
  const { contacts, campaigns, optOuts, bulks, templates, numberOf, auth, logger } = deps;
  const router = Router();
  const account = (res: Response) => res.locals.accountId as string;
  const body = (req: Request): unknown => (typeof req.body === 'string' && req.is(['application/xml', 'text/xml']) ? parseXmlRequest(req.body) : req.body);

  router.use(auth);
  // Yii2 also takes form bodies (GroupIds[]=1&GroupIds[]=2).
  router.use(express.urlencoded({ extended: true, limit: '1mb', parameterLimit: 2000 }));

  // ---- group SMS/MMS schedules
  router.post('/sms/send-group-schedule-message', async (req, res) => {
    const b = parse(groupScheduleBody, body(req));
    const accountId = account(res);
    let sendAt: number | undefined;
    if (b.DateTime !== undefined && b.DateTime.trim() !== '') {
      sendAt = parseEastern(b.DateTime);
      if (sendAt === undefined) throw new FieldErrors([{ field: 'DateTime', message: 'must be YYYY-MM-DD HH:MM:SS, a time that exists in US Eastern time.' }]);
    }
    const groups = await groupNamesOf(accountId, b.GroupIds);
    const mms = b.MmsTemplateId !== undefined ? await templates.approvedForSending(accountId, b.MmsTemplateId) : undefined;
    const view = await campaigns.create({
      accountId,
      to: [],
      contacts: [],
      groups,
      from: numberOf(accountId) ?? '',
      body: b.Message,
      ...(sendAt !== undefined ? { sendAt } : {}),
      ...(b.CampaignName ? { campaignName: b.CampaignName } : {}),
      flash: false,
      doubleOptInOnly: b.TypeRecipients === 1,
      numbered: true,
      ...(mms ? { mms: { templateId: mms.templateId, mediaUrl: mms.url, subject: b.Subject, highResolution: b.MmsHighResolution === 1 } } : {}),
    });
    reply(req, res, 200, [scheduleItem(view, await groupIdsByName(accountId))]);
  });

  router.get('/sms/group-schedule-messages', async (req, res) => {
    const { page } = parse(pageQuery, req.query);
    const { items, total } = await campaigns.numberedPage(account(res), page - 1, PAGE_SIZE);
    setPagination(req, res, page, total);
    const ids = await groupIdsByName(account(res));
    reply(req, res, 200, items.map((v) => scheduleItem(v, ids)));
  });

  // ProTexting documents no cancel for group schedules; this mirrors its single-message delete (id in the query).
  router.delete('/sms/delete-group-schedule-message', async (req, res) => {
    const { id } = parse(idQuery, req.query);
    const view = await campaigns.getByNumber(account(res), id);
    if (!view) throw notFound(`Group scheduled message ${id} not found.`);
    await campaigns.cancel(account(res), view.trackingId);
    reply(req, res, 200, [{ message: 'Group Scheduled Message successfully deleted!' }]);
  });

  // ---- groups
  router.post('/groups/create', async (req, res) => {
    const b = parse(groupBody, body(req));
    const group = await contacts.createGroup(account(res), b.fname, Date.now(), b.fnote);
    reply(req, res, 201, groupItem(group));
  });
  router.get('/groups/index', async (req, res) => {
    const { page } = parse(pageQuery, req.query);
    // The virtual All / NotListed groups are Routee's; ProTexting lists the groups its clients made.
    const all = (await contacts.listGroups(account(res))).filter((g) => g.id > 0);
    setPagination(req, res, page, all.length);
    const items = all.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    reply(req, res, 200, items.map(groupItem));
  });
  router.get('/groups/view', async (req, res) => {
    const { id } = parse(idQuery, req.query);
    reply(req, res, 200, groupItem(await contacts.getGroup(account(res), id)));
  });

  // ---- contacts
  router.post('/contacts/create', async (req, res) => {
    const b = parse(contactCreateBody, body(req));
    const accountId = account(res);
    const groupList = await Promise.all(b.GroupIds.map((id) => contacts.getGroup(accountId, id).catch(groupError)));
    const labels: Record<string, string> = {};
    for (const [label, field] of Object.entries(EXTRA_LABELS)) {
      const value = b[field];
      if (value) labels[label] = value;
    }
    await ensureLabels(accountId, Object.keys(labels));
    const mobile = `+${b.fnumber}`;
    const optedOut = (await optOuts.optedOut(accountId, [mobile])).size > 0;
    const created = await contacts
      .createContact(accountId, {
        mobile,
        country: parsePhoneNumberFromString(mobile)?.country,
        firstName: b.ffirstname,
        lastName: b.flastname,
        email: b.femail,
        labels,
        optIn: optedOut ? 'OPTED_OUT' : 'SINGLE',
      })
      .catch((err: unknown) => {
        if (err instanceof ContactError && err.kind === 'MOBILE_EXISTS') throw new FieldErrors([{ field: 'fnumber', message: `Number "${b.fnumber}" has already been taken.` }]);
        throw err;
      });
    for (const g of new Set(groupList.map((group) => group.id))) await contacts.setMembership(accountId, g, [created.id], true);
    reply(req, res, 201, contactItem(await contacts.getContact(accountId, created.id), await contacts.listGroups(accountId)));
  });
  router.get('/contacts/view', async (req, res) => {
    const id = z.string().trim().min(1).max(64).safeParse(req.query.id);
    if (!id.success) throw new FieldErrors([{ field: 'id', message: 'cannot be blank.' }]);
    const contact = await contacts.getContact(account(res), id.data).catch((err: unknown) => {
      if (err instanceof ContactError) throw notFound('Contact not found.');
      throw err;
    });
    reply(req, res, 200, { ...contactItem(contact, await contacts.listGroups(account(res))), OptedOutViaApi: contact.optIn === 'OPTED_OUT' ? 1 : 0, CustomFields: [] });
  });
  router.get('/contacts/find', async (req, res) => {
    const { number } = parse(z.object({ number: phoneNumber }), req.query);
    const contact = await contacts.findByMobile(account(res), `+${number}`);
    if (!contact) throw notFound('Contact not found.');
    reply(req, res, 200, contactItem(contact, await contacts.listGroups(account(res))));
  });
  router.post('/contacts/opt-out', async (req, res) => {
    const b = parse(optOutBody, body(req));
    await optOuts.optOut(account(res), [b.PhoneNumber], 'api');
    reply(req, res, 200, { message: 'Phone number successfully opted out.' });
  });

  // ---- double opt-in: the call to action goes from the account's number; the handset's YES comes back to it
  router.post('/contacts-opt-in/create', async (req, res) => {
    const b = parse(optInBody, body(req));
    const accountId = account(res);
    await Promise.all(b.GroupIds.map((id) => contacts.getGroup(accountId, id).catch(groupError)));
    const from = numberOf(accountId);
    if (!from) throw unprocessable('This account has no number to receive the YES on (INBOUND_NUMBERS).');
    // A number that said STOP gets no call to action either; it can text START to the account's number.
    if ((await optOuts.optedOut(accountId, [b.PhoneNumber])).size > 0) throw unprocessable('Phone number is opted out.', PROTEXTING_CODES.OPTED_OUT);
    await optOuts.requestOptIn(accountId, b.PhoneNumber, b.GroupIds, b.ConfirmMessage);
    if (b.SendCTAMessage === 1) {
      const text = b.CTAMessage ?? 'Reply YES to receive our messages. Reply STOP to opt out.';
      await bulks.createBulk({
        accountId,
        messages: [{ from, text, flash: false, intermediateReport: false, destinations: [{ to: b.PhoneNumber }] }],
      });
    }
    reply(req, res, 201, { message: 'Confirmation message successfully sent' });
  });

  // ---- what handsets sent to the account's number (STOP, YES, anything)
  router.get('/sms/inbound-messages', async (req, res) => {
    const { page } = parse(pageQuery, req.query);
    const { rows, total } = await optOuts.inboundPage(account(res), page - 1, PAGE_SIZE);
    setPagination(req, res, page, total);
    reply(
      req,
      res,
      200,
      rows.map((r) => ({ Id: r.id, From: r.from_number, To: r.to_number, Message: r.text, Keyword: r.keyword ?? '', DateReceived: formatEastern(r.received_at) })),
    );
  });

  // ---- MMS templates
  router.post('/mms-template/create', async (req, res) => {
    const b = parse(templateBody, body(req));
    reply(req, res, 201, templateItem(await templates.create(account(res), b.ResourceLink, b.Name)));
  });
  router.get('/mms-template/index', async (req, res) => {
    const { page } = parse(pageQuery, req.query);
    const { rows, total } = await templates.page(account(res), page - 1, PAGE_SIZE);
    setPagination(req, res, page, total);
    reply(req, res, 200, rows.map(templateItem));
  });

  router.use((_req, _res, next) => next(notFound('Page not found.')));
  router.use(protextingErrors(logger));
  return router;

  async function groupNamesOf(accountId: string, ids: number[]): Promise<string[]> {
    const names: string[] = [];
    for (const id of new Set(ids)) names.push((await contacts.getGroup(accountId, id).catch(groupError)).name);
    return names;
  }

  async function ensureLabels(accountId: string, names: string[]): Promise<void> {
    const defined = await contacts.labels(accountId);
    const missing = names.filter((n) => !(n in defined));
    if (missing.length === 0) return;
    await contacts.defineLabels(accountId, missing.map((name) => ({ name, type: 'Text' as const }))).catch((err: unknown) => {
      // Defined meanwhile by a concurrent request: what we wanted exists.
      if (!(err instanceof ContactError && err.kind === 'LABEL_EXISTS')) throw err;
    });
  }

  async function groupIdsByName(accountId: string): Promise<Map<string, string>> {
    return new Map((await contacts.listGroups(accountId)).map((g) => [g.name, String(g.id)]));
  }

  function scheduleItem(view: CampaignView, idsByName: Map<string, string>) {
    const r = view.request;
    return {
      Id: String(view.number),
      CampaignName: r.campaignName ?? '',
      Message: r.body,
      DateTime: formatEastern(view.sendAt),
      GroupIds: r.groups.map((name) => idsByName.get(name) ?? name),
      TypeRecipients: r.doubleOptInOnly ? 1 : 0,
      ContactsCount: String(view.analysis.numberOfRecipients),
      // Accepted campaigns are approved at once (an MMS needs an approved template before it is accepted).
      Status_Id: 3,
      Status_Description: 'Approved and Scheduled',
      Type_Id: r.mms ? 2 : 1,
      Type_Description: r.mms ? 'MMS' : 'SMS',
      MmsTemplateId: r.mms ? String(r.mms.templateId) : '',
      Subject: r.mms?.subject ?? '',
    };
  }
}

/**
 * ProTexting's group. KeywordId, ParentId and PhoneNumberIds link a group to keywords, a parent group and the
 * account's phone numbers, which this product does not model: always 0, 0 and [].
 */
function groupItem(g: { id: number; name: string; note?: string; createdAt?: number }) {
  const created = formatEastern(g.createdAt ?? Date.now());
  return { Id: g.id, Name: g.name, Note: g.note ?? '', KeywordId: 0, ParentId: 0, DateCreated: created, DateUpdated: created, PhoneNumberIds: [] };
}

function groupError(err: unknown): never {
  if (err instanceof ContactError && err.kind === 'GROUP_NOT_FOUND') throw new FieldErrors([{ field: 'GroupIds', message: err.message }]);
  throw err;
}

function contactItem(c: Contact, groups: Array<{ id: number; name: string }>) {
  const ids = new Map(groups.map((g) => [g.name, g.id]));
  const created = formatEastern(c.createdAt);
  return {
    Id: c.id,
    Number: c.mobile.replace(/^\+/, ''),
    OptedOut: c.optIn === 'OPTED_OUT' ? 1 : 0,
    FirstName: c.firstName ?? '',
    LastName: c.lastName ?? '',
    BirthDay: c.labels.birthdate ?? '0000-00-00',
    Email: c.email ?? '',
    Zip: c.labels.zip ?? '',
    City: c.labels.city ?? '',
    DateCreated: created,
    DateUpdated: formatEastern(c.updatedAt),
    GroupIds: c.groups.map((name) => ids.get(name)).filter((id): id is number => id !== undefined && id > 0),
    CustomFieldIds: [],
  };
}

function templateItem(t: { templateId: number; name: string | null; url: string; statusId: number; statusDescription: string; createdAt: number }) {
  return { Id: t.templateId, Name: t.name ?? '', Url: t.url, DateCreated: formatEastern(t.createdAt), Status_Id: t.statusId, Status_Description: t.statusDescription };
}

function protextingErrors(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof FieldErrors) return reply(req, res, 422, err.fields);
    let e: ProtextingError;
    if (err instanceof ProtextingError) e = err;
    else if (err instanceof ContactError) {
      if (err.kind === 'GROUP_NOT_FOUND' || err.kind === 'CONTACT_NOT_FOUND') e = notFound(err.message);
      else if (err.kind === 'GROUP_EXISTS') return reply(req, res, 422, [{ field: 'fname', message: err.message }]);
      else e = unprocessable(err.message);
    } else if (err instanceof CampaignError) {
      if (err.kind === 'NAME_TAKEN') return reply(req, res, 422, [{ field: 'CampaignName', message: err.message }]);
      if (err.kind === 'NOT_FOUND') e = notFound(err.message);
      else if (err.kind === 'UNAVAILABLE') e = new ProtextingError(503, 'Service Unavailable', err.message);
      else e = unprocessable(err.message);
    } else if (err instanceof MmsTemplateError) {
      if (err.kind === 'NOT_FOUND') return reply(req, res, 422, [{ field: 'MmsTemplateId', message: err.message }]);
      e = unprocessable(err.message);
    } else if (err instanceof InsufficientBalanceError) e = unprocessable(`Not enough credit: ${err.message}`, PROTEXTING_CODES.NOT_ENOUGH_CREDIT);
    else if (err instanceof BulkRejectedError) e = unprocessable(err.message);
    else if (err instanceof BulkUnavailableError || err instanceof WorkflowStartError) e = new ProtextingError(503, 'Service Unavailable', err.message);
    else if (err instanceof ApiError) {
      const titles: Record<number, string> = { 401: 'Unauthorized', 404: 'Not Found', 429: 'Too Many Requests' };
      const message = err.status === 401 ? 'Your request was made with invalid credentials.' : err.message;
      e = new ProtextingError(err.status, titles[err.status] ?? 'Error', message);
    } else if ((err as Error).name === 'XmlParseError' || (err as { type?: string }).type === 'entity.parse.failed') {
      e = new ProtextingError(400, 'Bad Request', `The request body is not well-formed: ${(err as Error).message.slice(0, 200)}`);
    } else if ((err as { type?: string }).type === 'entity.too.large') e = new ProtextingError(413, 'Payload Too Large', 'The request body is too large.');
    else return next(err);
    if (e.status >= 500) logger.warn({ err, reqId: req.id }, 'protexting request could not be served');
    reply(req, res, e.status, { name: e.title, message: e.message, code: e.code, status: e.status });
  };
}
