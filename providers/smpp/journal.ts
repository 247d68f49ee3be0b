import { sql } from 'kysely';
import type { Db } from '../../db/database';

/** A part about to be written: its row goes in as `sending`. */
export interface PartToSend {
  reference: string;
  partNo: number;
  umr: number;
  to: string;
}

type Op =
  | { kind: 'insert'; part: PartToSend; at: number }
  | { kind: 'accepted'; reference: string; partNo: number; smscId: string }
  | { kind: 'refused'; reference: string; partNo: number; error: string }
  | { kind: 'unsent'; reference: string; partNo: number };

interface Queued {
  op: Op;
  resolve(): void;
  reject(err: unknown): void;
}

/** Rows per multi-row statement (SQLite's bound-parameter limit, with room to spare). */
const ROWS_PER_STATEMENT = 200;
/** Ops per transaction. */
const MAX_BATCH = 2000;

/**
 * The SMPP journal's writes, group-committed: every write that arrives while a transaction commits goes in the
 * next one, as one multi-row statement per kind. A caller's promise resolves once its write is durable, so a part
 * is written to the wire only after its row is (the exactly-once rule of providers/smpp/provider.ts), at one
 * fsync per batch instead of one per part.
 */
export class JournalWriter {
  private readonly queue: Queued[] = [];
  private flushing = false;

  constructor(private readonly db: Db) {}

  insert(part: PartToSend): Promise<void> {
    return this.push({ kind: 'insert', part, at: Date.now() });
  }

  accepted(reference: string, partNo: number, smscId: string): Promise<void> {
    return this.push({ kind: 'accepted', reference, partNo, smscId });
  }

  refused(reference: string, partNo: number, error: string): Promise<void> {
    return this.push({ kind: 'refused', reference, partNo, error });
  }

  /** The row of a part that never left (throttled, aborted before the write): it may be sent later. */
  unsent(reference: string, partNo: number): Promise<void> {
    return this.push({ kind: 'unsent', reference, partNo });
  }

  private push(op: Op): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          await this.db.transaction().execute((trx) => this.apply(trx, batch.map((q) => q.op)));
          for (const q of batch) q.resolve();
        } catch (err) {
          for (const q of batch) q.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async apply(trx: Db, ops: Op[]): Promise<void> {
    const inserts = ops.filter((o): o is Extract<Op, { kind: 'insert' }> => o.kind === 'insert');
    for (let i = 0; i < inserts.length; i += ROWS_PER_STATEMENT) {
      await trx
        .insertInto('smpp_parts')
        .values(
          inserts.slice(i, i + ROWS_PER_STATEMENT).map(({ part, at }) => ({
            reference: part.reference,
            part_no: part.partNo,
            state: 'sending' as const,
            smsc_id: null,
            umr: part.umr,
            to_number: part.to,
            sent_at: at,
            receipt_status: null,
            error: null,
          })),
        )
        .execute();
    }
    const accepted = ops.filter((o): o is Extract<Op, { kind: 'accepted' }> => o.kind === 'accepted');
    for (let i = 0; i < accepted.length; i += ROWS_PER_STATEMENT) {
      const values = sql.join(accepted.slice(i, i + ROWS_PER_STATEMENT).map((a) => sql`(${a.reference}, ${String(a.partNo)}, ${a.smscId})`));
      // VALUES columns are untyped text in PostgreSQL, hence the cast.
      await sql`
        with v(ref, part, sid) as (values ${values})
        update smpp_parts set state = 'accepted', smsc_id = v.sid
        from v
        where smpp_parts.reference = v.ref and smpp_parts.part_no = cast(v.part as integer)`.execute(trx);
    }
    for (const o of ops) {
      if (o.kind === 'refused') {
        await trx.updateTable('smpp_parts').set({ state: 'refused', error: o.error }).where('reference', '=', o.reference).where('part_no', '=', o.partNo).execute();
      } else if (o.kind === 'unsent') {
        // Ours and never written: `sending`, or `unconfirmed` if the sweep aged it while it waited for a slot.
        await trx.deleteFrom('smpp_parts').where('reference', '=', o.reference).where('part_no', '=', o.partNo).where('state', 'in', ['sending', 'unconfirmed']).execute();
      }
    }
  }
}
