import path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';

/** What the main thread hands the SQLite thread at start. */
export interface SqliteThreadData {
  file: string;
  synchronous: SqliteSynchronous;
}

/**
 * SQLite's `synchronous` setting (with WAL). `full`: every commit is on disk before it returns, so a power cut
 * or OS crash loses nothing committed. `normal`: commits survive a crash of the process (kill -9, OOM), but an
 * OS crash or power cut may roll back the last ones.
 */
export type SqliteSynchronous = 'full' | 'normal';

/** One statement to run, or the request to close the connection and end the thread. */
export type SqliteRequest =
  | { id: number; close?: undefined; sql: string; parameters: readonly unknown[] }
  | { id: number; close: true };

/** Answers carry the id of their request; id 0 is the thread's start-up report. */
export type SqliteReply =
  | { id: number; ready: true }
  | { id: number; columns: string[]; values: unknown[][] }
  | { id: number; changes: number; lastInsertRowid: number | bigint }
  | { id: number; error: { message: string; code?: string } };

/** Rows that crossed the thread boundary as arrays, as the objects Kysely hands out (a later duplicate name wins). */
function toObjects(columns: string[], values: unknown[][]): Record<string, unknown>[] {
  const rows = new Array<Record<string, unknown>>(values.length);
  for (let i = 0; i < values.length; i++) {
    const row: Record<string, unknown> = {};
    const value = values[i]!;
    for (let c = 0; c < columns.length; c++) row[columns[c]!] = value[c];
    rows[i] = row;
  }
  return rows;
}

type Pending = { resolve: (reply: SqliteReply) => void; reject: (err: Error) => void };

/**
 * Kysely over a SQLite file owned by a worker thread (see sqlite-thread.ts): the same SQL, adapter and
 * compiler as Kysely's own SQLite dialect, with every statement run off the event loop.
 */
export class SqliteThreadDialect implements Dialect {
  constructor(
    private readonly file: string,
    private readonly synchronous: SqliteSynchronous = 'full',
  ) {}
  createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
  createDriver(): Driver {
    return new SqliteThreadDriver(this.file, this.synchronous);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/**
 * SQLite runs DDL inside transactions, and ours begin IMMEDIATE (they take the write lock first): saying so
 * makes Kysely's migrator run in one such transaction, which serializes the migrations of several processes
 * starting at once on one file (an API and a worker). Kysely's own adapter says no and takes no lock.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class SqliteThreadDriver implements Driver {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopped: Error | undefined;
  /** SQLite has one connection; a transaction holds it from begin to commit, as in Kysely's own driver. */
  private lock: Promise<void> = Promise.resolve();
  /** Frees the connection for the next acquirer; set by each acquireConnection. */
  private release: () => void = () => {};
  private readonly connection: DatabaseConnection;

  constructor(
    private readonly file: string,
    private readonly synchronous: SqliteSynchronous,
  ) {
    this.connection = {
      executeQuery: async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
        const answer = await this.request({ id: this.nextId++, sql: query.sql, parameters: query.parameters });
        if ('values' in answer) return { rows: toObjects(answer.columns, answer.values) as R[] };
        if (!('changes' in answer)) return { rows: [] };
        return { rows: [], numAffectedRows: BigInt(answer.changes), insertId: BigInt(answer.lastInsertRowid) };
      },
      streamQuery: () => {
        throw new Error('streaming queries are not supported on SQLite');
      },
    };
  }

  async init(): Promise<void> {
    const worker = new Worker(path.join(__dirname, 'sqlite-thread-bootstrap.cjs'), {
      workerData: { file: this.file, synchronous: this.synchronous } satisfies SqliteThreadData,
    });
    this.worker = worker;
    const started = new Promise<SqliteReply>((resolve, reject) => this.pending.set(0, { resolve, reject }));
    worker.on('message', (reply: SqliteReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if ('error' in reply) waiting.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else waiting.resolve(reply);
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the SQLite thread exited (code ${code})`)));
    await started;
  }

  private fail(err: Error): void {
    this.stopped ??= err;
    for (const waiting of this.pending.values()) waiting.reject(err);
    this.pending.clear();
  }

  private request(message: SqliteRequest): Promise<SqliteReply> {
    if (this.stopped) return Promise.reject(this.stopped);
    const worker = this.worker!;
    return new Promise((resolve, reject) => {
      // Referenced only while an answer is awaited: an idle database never keeps the process alive, and a
      // process awaiting a query is never left to exit.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(message.id, { resolve, reject });
      worker.postMessage(message);
    });
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.lock;
    let release!: () => void;
    this.lock = new Promise((resolve) => (release = resolve));
    await previous;
    this.release = release;
    return this.connection;
  }

  async releaseConnection(): Promise<void> {
    this.release();
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async destroy(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.stopped) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage({ id: 0, close: true } satisfies SqliteRequest);
    await exited;
  }
}
