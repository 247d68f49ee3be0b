import { imageSize } from 'image-size';
import { sql } from 'kysely';
import { GifReader } from 'omggif';
import { fetch } from 'undici';
import type { Logger } from '../config/logger';
import type { Db } from '../db/database';
import type { MmsTemplateTable } from '../db/schema';
import { retryNumberRace } from '../db/unique';
import { type CallbackGuard, CallbackRefusedError } from './callback-guard';

/** ProTexting's media rules (seed 001): these image types, at most 70 MB, no animated GIF. */
export const MMS_MAX_BYTES = 70 * 1024 * 1024;
const MMS_TYPES = new Set(['jpg', 'gif', 'bmp', 'png', 'tiff']);
const FETCH_TIMEOUT_MS = 60_000;

/** ProTexting's template statuses. 3, 4 and 5 are final. */
export const TEMPLATE_STATUSES: Record<number, string> = {
  0: 'Pending for processing',
  1: 'Processing',
  2: 'Processed pending approval',
  3: 'Approved',
  4: 'Rejected',
  5: 'Processed Failed',
};

export interface MmsTemplate {
  templateId: number;
  name: string | null;
  url: string;
  statusId: number;
  statusDescription: string;
  /** Why it was rejected or failed. */
  reason: string | null;
  mediaType: string | null;
  sizeBytes: number | null;
  createdAt: number;
}

export type MmsTemplateErrorKind = 'NOT_FOUND' | 'NOT_APPROVED' | 'NO_MMS';

export class MmsTemplateError extends Error {
  override name = 'MmsTemplateError';
  constructor(
    readonly kind: MmsTemplateErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Why a media file cannot be an MMS template, or undefined when it can (pure: tested on its own). */
export function mediaProblem(bytes: Uint8Array): { type?: string; problem?: string } {
  let type: string | undefined;
  try {
    type = imageSize(bytes).type;
  } catch {
    return { problem: 'the resource is not an image of a known type' };
  }
  if (!type || !MMS_TYPES.has(type)) return { type, problem: `type ${type ?? 'unknown'} is not allowed (jpg, gif, bmp, png, tiff)` };
  if (type === 'gif') {
    try {
      if (new GifReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).numFrames() > 1) return { type, problem: 'animated GIF files are not supported' };
    } catch {
      return { type, problem: 'the GIF cannot be read' };
    }
  }
  return { type };
}

type Row = MmsTemplateTable;

function toTemplate(r: Row): MmsTemplate {
  return {
    templateId: Number(r.template_id),
    name: r.name,
    url: r.url,
    statusId: Number(r.status_id),
    statusDescription: TEMPLATE_STATUSES[Number(r.status_id)] ?? 'Unknown',
    reason: r.reason,
    mediaType: r.media_type,
    sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    createdAt: Number(r.created_at),
  };
}

/**
 * MMS templates: a media link is registered (Pending), then fetched through the callback guard (no private or
 * loopback address unless allowed, checked at connect time; no redirects) with a size cap, and checked against the
 * media rules: Approved (3), Rejected (4) for media that breaks them, Processed Failed (5) when it cannot be
 * fetched. A campaign may use only an Approved template. Templates left unprocessed by a crash are taken up by
 * `resumeUnprocessed` (the API's reconciler).
 */
export class MmsTemplates {
  /** Processing in flight in this process (tests wait on it). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      db: Db;
      guard: CallbackGuard;
      logger: Logger;
      /** Whether the provider can send MMS at all; when not, MMS campaigns are refused at schedule time. */
      providerSendsMms: boolean;
      maxBytes?: number;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  async create(accountId: string, url: string, name: string | undefined): Promise<MmsTemplate> {
    const { db } = this.deps;
    const now = this.now();
    // Two creations racing for one number (PostgreSQL): the loser takes the next.
    const templateId = await retryNumberRace(() =>
      db.transaction().execute(async (trx) => {
        const { top } = await trx
          .selectFrom('mms_templates')
          .select(sql<number>`coalesce(max(template_id), 0)`.as('top'))
          .where('account_id', '=', accountId)
          .executeTakeFirstOrThrow();
        const id = Number(top) + 1;
        await trx
          .insertInto('mms_templates')
          .values({ account_id: accountId, template_id: id, name: name ?? null, url, status_id: 0, reason: null, media_type: null, size_bytes: null, created_at: now, updated_at: now })
          .execute();
        return id;
      }),
    );
    const template = (await this.get(accountId, templateId))!;
    this.track(this.process(accountId, templateId));
    return template;
  }

  async get(accountId: string, templateId: number): Promise<MmsTemplate | undefined> {
    const row = await this.deps.db.selectFrom('mms_templates').selectAll().where('account_id', '=', accountId).where('template_id', '=', templateId).executeTakeFirst();
    return row ? toTemplate(row) : undefined;
  }

  async page(accountId: string, page: number, size: number): Promise<{ rows: MmsTemplate[]; total: number }> {
    const base = this.deps.db.selectFrom('mms_templates').where('account_id', '=', accountId);
    const [rows, { n }] = await Promise.all([
      base.selectAll().orderBy('template_id', 'desc').limit(size).offset(page * size).execute(),
      base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow(),
    ]);
    return { rows: rows.map(toTemplate), total: Number(n) };
  }

  /** The template a campaign may send with: it exists in the account, is Approved, and the provider sends MMS. */
  async approvedForSending(accountId: string, templateId: number): Promise<MmsTemplate> {
    if (!this.deps.providerSendsMms) throw new MmsTemplateError('NO_MMS', 'the configured SMS provider cannot send MMS');
    const t = await this.get(accountId, templateId);
    if (!t) throw new MmsTemplateError('NOT_FOUND', `MMS template ${templateId} not found`);
    if (t.statusId !== 3) throw new MmsTemplateError('NOT_APPROVED', `MMS template ${templateId} is not approved (status ${t.statusId} ${t.statusDescription})`);
    return t;
  }

  /** Waits for the processing this process started (tests; shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Processes templates still Pending or Processing (a crash in between); returns how many. */
  async resumeUnprocessed(olderThanMs = 5 * 60_000): Promise<number> {
    const rows = await this.deps.db
      .selectFrom('mms_templates')
      .select(['account_id', 'template_id'])
      .where('status_id', 'in', [0, 1])
      .where('updated_at', '<', this.now() - olderThanMs)
      .limit(100)
      .execute();
    for (const r of rows) this.track(this.process(r.account_id, Number(r.template_id)));
    return rows.length;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async setStatus(accountId: string, templateId: number, statusId: number, change: Partial<Pick<Row, 'reason' | 'media_type' | 'size_bytes'>> = {}): Promise<void> {
    await this.deps.db
      .updateTable('mms_templates')
      .set({ status_id: statusId, ...change, updated_at: this.now() })
      .where('account_id', '=', accountId)
      .where('template_id', '=', templateId)
      .execute();
  }

  private async process(accountId: string, templateId: number): Promise<void> {
    const { guard, logger } = this.deps;
    const max = this.deps.maxBytes ?? MMS_MAX_BYTES;
    try {
      const t = await this.get(accountId, templateId);
      if (!t || t.statusId >= 3) return;
      await this.setStatus(accountId, templateId, 1);
      let bytes: Uint8Array;
      try {
        bytes = await fetchCapped(t.url, guard, max);
      } catch (err) {
        const rejected = err instanceof MediaTooLargeError || err instanceof CallbackRefusedError;
        await this.setStatus(accountId, templateId, rejected ? 4 : 5, { reason: (err as Error).message.slice(0, 500) });
        return;
      }
      const { type, problem } = mediaProblem(bytes);
      await this.setStatus(accountId, templateId, problem ? 4 : 3, { reason: problem ?? null, media_type: type ?? null, size_bytes: bytes.byteLength });
    } catch (err) {
      logger.warn({ err: (err as Error).message, accountId, templateId }, 'MMS template processing failed; it will be taken up again');
    }
  }
}

class MediaTooLargeError extends Error {
  override name = 'MediaTooLargeError';
}

/** GETs the resource through the guard, reading at most `max` bytes; no redirects, a bounded time. */
async function fetchCapped(url: string, guard: CallbackGuard, max: number): Promise<Uint8Array> {
  await guard.check(url, { requireResolution: true });
  const res = await fetch(url, { dispatcher: guard.dispatcher, redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (res.status < 200 || res.status >= 300) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`the resource answered HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new MediaTooLargeError(`the resource is ${declared} bytes; at most ${max} are allowed`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > max) throw new MediaTooLargeError(`the resource is larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
