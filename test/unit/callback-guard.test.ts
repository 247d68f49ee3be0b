import { fetch } from 'undici';
import { CallbackGuard, CallbackRefusedError, type Resolver } from '../../core/callback-guard';
import { startReceiver } from '../helpers/receiver';

let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

/** A DNS that answers a public address the first time and the receiver's loopback address afterwards. */
function rebindingResolver(): Resolver & { calls: number } {
  const resolve = Object.assign(
    async () => {
      resolve.calls++;
      return [{ address: resolve.calls === 1 ? '93.184.215.14' : '127.0.0.1', family: 4 }];
    },
    { calls: 0 },
  );
  return resolve;
}

const port = () => new URL(receiver.url).port;
const post = (guard: CallbackGuard, host: string) =>
  fetch(`http://${host}:${port()}/dlr`, { method: 'POST', body: 'report', dispatcher: guard.dispatcher });

test('a name that resolves to a public address for the check and to loopback for the push is never connected to', async () => {
  const resolve = rebindingResolver();
  const guard = new CallbackGuard([], resolve);
  try {
    await guard.check(`http://rebind.example:${port()}/dlr`, { requireResolution: true });
    receiver.requests.length = 0;
    const refused = await post(guard, 'rebind.example').catch((err: Error) => err);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error & { cause?: unknown }).cause).toBeInstanceOf(CallbackRefusedError);
    expect(resolve.calls).toBe(2);
    expect(receiver.requests).toHaveLength(0);
  } finally {
    await guard.close();
  }
});

test('allow-listed addresses and names are connected to, after the same resolution', async () => {
  for (const allow of ['127.0.0.0/8', 'rebind.example']) {
    const guard = new CallbackGuard([allow], async () => [{ address: '127.0.0.1', family: 4 }]);
    try {
      receiver.requests.length = 0;
      const res = await post(guard, 'rebind.example');
      expect(res.status).toBe(200);
      expect(receiver.requests.map((r) => r.body)).toEqual(['report']);
    } finally {
      await guard.close();
    }
  }
});

test('the check refuses non-public addresses, bad schemes and credentials', async () => {
  const guard = new CallbackGuard([], async (host) => [{ address: host === 'inside.example' ? '10.1.2.3' : '93.184.215.14', family: 4 }]);
  await expect(guard.check('http://inside.example/dlr')).rejects.toBeInstanceOf(CallbackRefusedError);
  await expect(guard.check('http://169.254.169.254/latest/meta-data')).rejects.toBeInstanceOf(CallbackRefusedError);
  await expect(guard.check('http://[::ffff:127.0.0.1]/dlr')).rejects.toBeInstanceOf(CallbackRefusedError);
  await expect(guard.check('ftp://outside.example/dlr')).rejects.toBeInstanceOf(CallbackRefusedError);
  await expect(guard.check('https://user:pw@outside.example/dlr')).rejects.toBeInstanceOf(CallbackRefusedError);
  await expect(guard.check('https://outside.example/dlr')).resolves.toBeUndefined();
});
