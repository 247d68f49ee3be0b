import fs from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';
import { migrationProvider } from './migrations';
import { type SqliteSynchronous, SqliteThreadDialect } from './sqlite-thread-dialect';

export type Db = Kysely<Database>;

export interface DatabaseOptions {
  /** `postgres://…` for PostgreSQL; otherwise a SQLite file path (or ':memory:'). */
  url?: string;
  sqliteFile?: string;
  /** SQLITE_SYNCHRONOUS for a SQLite file (default full). */
  sqliteSynchronous?: SqliteSynchronous;
  /** Told when an idle PostgreSQL connection fails (logged by the caller; the pool recovers by itself). */
  onIdleError?: (err: Error) => void;
}

// PostgreSQL returns bigint (int8) as a string to avoid precision loss; our bigints are epoch millis, well
// inside Number's safe range.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//.test(url);
}

export function openDatabase(options: DatabaseOptions): Db {
  if (isPostgresUrl(options.url)) {
    const pool = new pg.Pool({ connectionString: options.url, max: 10 });
    // An idle connection the server closed (a restart, a failover) is an 'error' event on the pool; without a
    // listener it would kill the process. The pool drops that client and opens a new one when next needed.
    pool.on('error', (err) => options.onIdleError?.(err));
    // The same for a connection lost while checked out between two queries: its next query fails instead.
    pool.on('connect', (client) => client.on('error', (err) => options.onIdleError?.(err)));
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  const file = options.sqliteFile ?? ':memory:';
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  return new Kysely<Database>({ dialect: new SqliteThreadDialect(file, options.sqliteSynchronous) });
}

export async function migrateToLatest(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`);
  }
}

export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
