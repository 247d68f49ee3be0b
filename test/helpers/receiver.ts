import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';

export interface ReceivedRequest {
  contentType: string;
  body: string;
  signature: string | undefined;
  status: number;
}

/**
 * A real HTTP endpoint standing in for a client's notifyUrl. `answer` decides the status of each request
 * (down = 503), so tests can take the receiver down and bring it back.
 */
export async function startReceiver() {
  const requests: ReceivedRequest[] = [];
  let answer = () => 200;
  const app = express();
  app.use(express.text({ type: '*/*', limit: '10mb' }));
  app.post('/dlr', (req, res) => {
    const status = answer();
    requests.push({ contentType: req.get('content-type') ?? '', body: req.body as string, signature: req.get('x-signature'), status });
    res.status(status).end();
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/dlr`,
    requests,
    setAnswer(fn: () => number) {
      answer = fn;
    },
    /** Reports of the accepted (2xx) JSON requests. */
    acceptedJsonReports(): Array<Record<string, unknown>> {
      return requests
        .filter((r) => r.status < 300 && r.contentType.includes('json'))
        .flatMap((r) => (JSON.parse(r.body) as { results: Array<Record<string, unknown>> }).results);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export function expectedSignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
