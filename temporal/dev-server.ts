import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import type { Logger } from '../config/logger';
import { devServerSearchAttributeFlags, SEARCH_ATTRIBUTES } from './search-attributes';

export interface DevServerOptions {
  cliPath: string;
  port: number;
  uiPort?: number;
  /** Persistent SQLite file; omitted means in memory (tests). */
  dbFile?: string;
  /**
   * The file's durability (SQLITE_SYNCHRONOUS), always in WAL mode: the server's own default (rollback journal)
   * makes every write several fsyncs, and the due burst of many bulks waits on them (README: durability).
   */
  sqliteSynchronous?: 'full' | 'normal';
  namespace?: string;
  ip?: string;
  logger?: Logger;
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  process: ChildProcess | undefined;
  stop(): Promise<void>;
}

export function waitForPort(host: string, port: number, timeoutMs: number, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (!isAlive()) return reject(new Error('the Temporal server exited during start-up'));
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`Temporal server did not listen on ${host}:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 200);
      });
    };
    attempt();
  });
}

/** Runs `temporal server start-dev` as a child process with this project's search attributes registered. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--namespace',
    options.namespace ?? 'default',
    '--log-level',
    'warn',
    ...devServerSearchAttributeFlags(),
  ];
  if (options.uiPort) args.push('--ui-port', String(options.uiPort), '--ui-ip', ip);
  else args.push('--headless');
  if (options.dbFile) {
    args.push('--db-filename', options.dbFile);
    args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', `synchronous=${options.sqliteSynchronous ?? 'full'}`);
  }

  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream! }).on('line', (line) => options.logger?.debug({ source: 'temporal-server' }, line));
  }
  const stop = async () => {
    if (exited) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };
  try {
    await waitForPort(ip, options.port, options.startTimeoutMs ?? 60_000, () => !exited);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address: `${ip}:${options.port}`, process: child, stop };
}

/**
 * Fallback for a machine without Go: the SDK downloads the Temporal CLI itself (needs internet access).
 * The SDK supervises that child; stop() tears it down.
 */
export async function startDownloadedDevServer(options: DevServerOptions): Promise<DevServer> {
  options.logger?.warn('no local Temporal CLI (TEMPORAL_CLI_PATH unset): using the SDK download of the dev server');
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: options.ip ?? '127.0.0.1',
      port: options.port,
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      dbFilename: options.dbFile,
      namespace: options.namespace,
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  return {
    address: env.address,
    process: undefined,
    stop: () => env.teardown(),
  };
}
