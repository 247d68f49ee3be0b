/**
 * The simulator as its own process, speaking the HttpSmsProvider protocol on loopback:
 *   node --import tsx providers/simulator-server.ts <port>
 * GET /stats reports what it accepted and how many duplicate submits it refused.
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
  res.json({ totalSubmits: simulator.totalSubmits });
});
app.get('/stats', (req, res) => {
  const prefix = String(req.query.prefix ?? '');
  let accepted = 0;
  for (const ref of simulator.submitAttempts.keys()) if (ref.startsWith(prefix) && simulator.hasAccepted(ref)) accepted++;
  res.json({ accepted, duplicates: simulator.duplicateSubmits, totalSubmits: simulator.totalSubmits });
});
const server = app.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof address === 'object' ? address?.port : port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
