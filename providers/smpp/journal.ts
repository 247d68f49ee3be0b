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
/**
 * Longest acceptances wait to be written while inserts keep coming. A crash loses the acceptances not yet written:
 * their parts count as in doubt (the SMSC has them; a receipt with the echoed reference still finds them), so this
 * is kept short.
 */
const ACCEPTED_GATHER_MS = 20;
/** Ops taken per round. */
const MAX_BATCH = 2000;

/**
 * The SMPP journal's writes, group-committed: every write that arrives while the previous round is being
 * written goes in the next round, as one multi-row statement per kind (each atomic by itself). A caller's promise resolves once its write is durable, so a part
 * is written to the wire only after its row is (the exactly-once rule of providers/smpp/provider.ts), at one
 * fsync per batch instead of one per part.
 */
export class JournalWriter {
  private readonly queue: Queued[] = [];
  private readonly acceptedQueue: Queued[] = [];
  private acceptedSince = Date.now();
  private lastAcceptance: Promise<void> = Promise.resolve();
  private flushing = false;

  constructor(private readonly db: Db) {}

  insert(part: PartToSend): Promise<void> {
    return this.push({ kind: 'insert', part, at: Date.now() });
  }

  accepted(reference: string, partNo: number, smscId: string): Promise<void> {
    const written = this.push({ kind: 'accepted', reference, partNo, smscId });
    this.lastAcceptance = written.catch(() => undefined);
    return written;
  }

  refused(reference: string, partNo: number, error: string): Promise<void> {
    return this.push({ kind: 'refused', reference, partNo, error });
  }

  /** The row of a part that never left (throttled, aborted before the write): it may be sent later. */
  unsent(reference: string, partNo: number): Promise<void> {
    return this.push({ kind: 'unsent', reference, partNo });
  }

  /**
   * Resolves once every acceptance queued so far is written (they are written in order, so the last one queued is
   * the one to wait for); never rejects.
   */
  acceptancesWritten(): Promise<void> {
    return this.lastAcceptance;
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
      while (this.queue.length > 0 || this.acceptedQueue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        // Each statement is atomic by itself (one multi-row INSERT or UPDATE), so none needs a transaction around
        // it. Inserts go first, as parts wait for them before the wire; acceptances gather a little longer (no part
        // waits for them, and fewer, bigger statements leave the connection to the inserts).
        const byKind = (kind: Op['kind']) => batch.filter((q) => q.op.kind === kind);
        this.acceptedQueue.push(...byKind('accepted'));
        await this.settle(byKind('insert'), (ops) => this.insertRows(ops as Array<Extract<Op, { kind: 'insert' }>>));
        for (const q of [...byKind('refused'), ...byKind('unsent')]) await this.settle([q], (ops) => this.single(ops[0]!));
        const due = this.acceptedQueue.length >= ROWS_PER_STATEMENT || this.queue.length === 0 || Date.now() - this.acceptedSince >= ACCEPTED_GATHER_MS;
        if (due && this.acceptedQueue.length > 0) {
          const accepted = this.acceptedQueue.splice(0);
          this.acceptedSince = Date.now();
          await this.settle(accepted, (ops) => this.acceptRows(ops as Array<Extract<Op, { kind: 'accepted' }>>));
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Runs `write` over the ops in statements of ROWS_PER_STATEMENT, settling each statement's callers with it. */
  private async settle(queued: Queued[], write: (ops: Op[]) => Promise<unknown>): Promise<void> {
    for (let i = 0; i < queued.length; i += ROWS_PER_STATEMENT) {
      const chunk = queued.slice(i, i + ROWS_PER_STATEMENT);
      try {
        await write(chunk.map((q) => q.op));
        for (const q of chunk) q.resolve();
      } catch (err) {
        for (const q of chunk) q.reject(err);
      }
    }
  }

  private insertRows(ops: Array<Extract<Op, { kind: 'insert' }>>) {
    return this.db
      .insertInto('smpp_parts')
      .values(
        ops.map(({ part, at }) => ({
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

  private acceptRows(ops: Array<Extract<Op, { kind: 'accepted' }>>) {
    const values = sql.join(ops.map((a) => sql`(${a.reference}, ${String(a.partNo)}, ${a.smscId})`));
    // VALUES columns are untyped text in PostgreSQL, hence the cast.
    return sql`
      with v(ref, part, sid) as (values ${values})
      update smpp_parts set state = 'accepted', smsc_id = v.sid
      from v
      where smpp_parts.reference = v.ref and smpp_parts.part_no = cast(v.part as integer)`.execute(this.db);
  }

  private single(o: Op) {
    if (o.kind === 'refused') {
      return this.db.updateTable('smpp_parts').set({ state: 'refused', error: o.error }).where('reference', '=', o.reference).where('part_no', '=', o.partNo).execute();
    }
    if (o.kind === 'unsent') {
      // Ours and never written: `sending`, or `unconfirmed` if the sweep aged it while it waited for a slot.
      return this.db.deleteFrom('smpp_parts').where('reference', '=', o.reference).where('part_no', '=', o.partNo).where('state', 'in', ['sending', 'unconfirmed']).execute();
    }
    throw new Error(`not a single-row op: ${o.kind}`);
  }
}
