/**
 * The simulator as its own process, speaking the HttpSmsProvider protocol on loopback:
 *   node --import tsx providers/simulator-server.ts <port>
 * GET /stats?prefix= reports, for references with that prefix, what it accepted and how many submits repeated one.
 */
import express from 'express';
import { SmsSimulator } from './simulator';
import type { OutboundSms } from './types';

const port = Number(process.argv[2] ?? 0);
const simulator = new SmsSimulator({
  deliveryDelayMs: Number(process.env.SIMULATOR_DELIVERY_DELAY_MS ?? 2000),
  submitDelayMs: Number(process.env.SIMULATOR_SUBMIT_DELAY_MS ?? 0),
  failureRate: Number(process.env.SIMULATOR_FAILURE_RATE ?? 0),
  rejectRate: Number(process.env.SIMULATOR_REJECT_RATE ?? 0),
});

const app = express();
app.use(express.json({ limit: '32mb' }));
app.post('/submit', async (req, res) => {
  res.json(await simulator.submit((req.body as { messages: OutboundSms[] }).messages));
});
app.post('/lookup', async (req, res) => {
  res.json(Object.fromEntries(await simulator.lookup((req.body as { references: string[] }).references)));
});
app.get('/counter', (_req, res) => {
  res.json({ totalSubmits: simulator.totalSubmits, accepted: simulator.acceptedCount, lastAcceptAt: simulator.lastAcceptAt });
});
app.get('/stats', (req, res) => {
  // Per reference prefix: how many were accepted, and how many submits repeated a reference already seen.
  const prefix = String(req.query.prefix ?? '');
  let accepted = 0;
  let duplicates = 0;
  for (const [ref, attempts] of simulator.submitAttempts) {
    if (!ref.startsWith(prefix)) continue;
    if (simulator.hasAccepted(ref)) accepted++;
    duplicates += attempts - 1;
  }
  res.json({ accepted, duplicates, totalSubmits: simulator.totalSubmits });
});
const server = app.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof address === 'object' ? address?.port : port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
