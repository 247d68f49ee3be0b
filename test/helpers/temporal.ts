import net from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { registerSearchAttributes } from '../../temporal/register-search-attributes';
import { startDevServer, type DevServer } from '../../temporal/dev-server';
import { WORKFLOWS_PATH } from '../../worker/worker';

/**
 * Test servers come from scripts/temporal-binaries.sh (npm test exports their paths). A missing binary is a
 * failure, never a skip: the tests exist to run against the real servers.
 */
function requiredPath(name: 'TEMPORAL_TEST_SERVER_PATH' | 'TEMPORAL_CLI_PATH'): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the tests with \`npm test\`, which builds or finds the Temporal binaries`);
  }
  return value;
}

export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requiredPath('TEMPORAL_TEST_SERVER_PATH') } },
  });
  await registerSearchAttributes(env.connection, 'default');
  return env;
}

export async function freePort(): Promise<number> {
  // Linux hands out ephemeral ports at random, so a port just closed may be given to the next bind(0) of any
  // process (a Temporal server picks its internal ports that way). A connection closed by the listening side first
  // leaves the port in TIME_WAIT for a minute: bind(0) skips it then, while an explicit bind (SO_REUSEADDR, as
  // Node and Go set) still gets it. The Temporal CLI reserves its own ports the same way.
  return new Promise((resolve, reject) => {
    const srv = net.createServer((socket) => socket.destroy());
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      const client = net.connect({ host: '127.0.0.1', port });
      client.once('error', reject);
      client.once('close', () => srv.close(() => resolve(port)));
      client.resume();
    });
  });
}

/** A real Temporal dev server (in memory, no UI) on a free port, with the project's search attributes. */
export async function startTestDevServer(): Promise<DevServer> {
  return startDevServer({ cliPath: requiredPath('TEMPORAL_CLI_PATH'), port: await freePort() });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow bundle, built once per test file (jest gives every file its own module registry). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}

const noop = () => undefined;
const quietBundlerLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };

export interface DevServerConnections {
  server: DevServer;
  connection: Connection;
  nativeConnection: NativeConnection;
  client: Client;
  close(): Promise<void>;
}

/** A dev server plus the client and worker connections a test stack needs. */
export async function startConnectedDevServer(): Promise<DevServerConnections> {
  const server = await startTestDevServer();
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  return {
    server,
    connection,
    nativeConnection,
    client: new Client({ connection }),
    async close() {
      await nativeConnection.close();
      await connection.close();
      await server.stop();
    },
  };
}
