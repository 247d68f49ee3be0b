import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './temporal';

export interface TestPostgres {
  url: string;
  /** An immediate shutdown (as a crash), `pauseMs` down, then a start on the same data. */
  restart(pauseMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A throw-away PostgreSQL cluster on a free loopback port, from the server binaries in PG_BIN (npm test finds
 * or installs them). PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const bin = process.env.PG_BIN;
  if (!bin || !fs.existsSync(path.join(bin, 'initdb'))) {
    throw new Error('PG_BIN does not point at PostgreSQL server binaries: run the tests with `npm test`');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['postgres:postgres', dir]);
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args]] : [path.join(bin, cmd), args];
    const res = spawnSync(file, argv, { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`${cmd} failed: ${res.stderr || res.stdout}`);
  };
  const port = await freePort();
  const data = path.join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const start = () =>
    run('pg_ctl', [
      '-D', data, '-l', path.join(dir, 'log'), '-w', 'start',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
    ]);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async restart(pauseMs: number) {
      run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      await new Promise((r) => setTimeout(r, pauseMs));
      start();
    },
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
