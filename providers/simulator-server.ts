/**
 * The simulator as its own process (`npm run simulator`), speaking the protocol HttpSmsProvider uses. It keeps
 * what it accepted and the reports it owes in `simulator.sqlite` under DATA_DIR, so it can be killed and
 * restarted without forgetting either. Routes (README, "The simulator as its own process"):
 *   POST /submit        {messages, deadline?}  → SubmitResult[]        (409 after the deadline: nothing accepted)
 *   POST /lookup        {references}           → {reference: providerMessageId} for those it holds
 *   POST /reports/pull  {max?, waitMs?}        → {reports: [{id, reference, providerMessageId, status, doneAt}]}
 *   POST /reports/ack   {ids}                  → 204; unacknowledged reports are handed out again after 10 s
 *   POST /inbound       {from, to, text}       → {providerId}: a handset writes to `to` (kept until acknowledged)
 *   POST /inbound/pull  {max?}                 → {messages: [{id, providerId, from, to, text, receivedAt}]}
 *   POST /inbound/ack   {ids}                  → 204
 *   GET  /counter                              → {totalSubmits, accepted, lastAcceptAt, owedReports}
 *   GET  /stats?prefix=                        → {accepted, duplicates, totalSubmits} for references with prefix
 * With SIMULATOR_TOKEN set, every route wants `Authorization: Bearer <token>`.
 */
import crypto from 'node:crypto';
import type { Server } from 'node:http';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { SmsSimulator, type SimulatorOptions } from './simulator';
import { SubmitDeadlineError } from './types';

const outbound = z.object({
  reference: z.string().min(1).max(200),
  to: z.string().min(1).max(32),
  from: z.string().max(32).nullable(),
  text: z.string().max(10_000),
  flash: z.boolean(),
  mms: z.object({ subject: z.string().max(200).optional(), mediaUrl: z.string().url().max(2048) }).optional(),
});
const submitBody = z.object({ messages: z.array(outbound).max(10_000), deadline: z.number().optional() });
const inboundBody = z.object({ from: z.string().regex(/^\+?\d{3,15}$/), to: z.string().regex(/^\+?\d{3,15}$/), text: z.string().max(2000) });
const lookupBody = z.object({ references: z.array(z.string().max(200)).max(100_000) });
const pullBody = z.object({ max: z.number().int().min(1).max(10_000).default(5000), waitMs: z.number().int().min(0).max(30_000).default(0) });
const ackBody = z.object({ ids: z.array(z.number().int()).max(10_000) });

export interface SimulatorServerOptions extends SimulatorOptions {
  port: number;
  host?: string;
  token?: string;
}

export interface SimulatorServer {
  simulator: SmsSimulator;
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startSimulatorServer(options: SimulatorServerOptions): Promise<SimulatorServer> {
  const simulator = new SmsSimulator(options);
  const app = express();
  app.use(express.json({ limit: '32mb' }));
  if (options.token) {
    const expected = Buffer.from(`Bearer ${options.token}`);
    app.use((req: Request, res: Response, next: NextFunction) => {
      const got = Buffer.from(req.get('authorization') ?? '');
      if (got.length === expected.length && crypto.timingSafeEqual(got, expected)) return next();
      res.status(401).json({ error: 'missing or wrong bearer token' });
    });
  }
  const parse = <T>(schema: z.ZodType<T>, req: Request, res: Response): T | undefined => {
    const parsed = schema.safeParse(req.body);
    if (!parsed.success) res.status(400).json({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    return parsed.success ? parsed.data : undefined;
  };

  app.post('/submit', async (req, res) => {
    const body = parse(submitBody, req, res);
    if (!body) return;
    try {
      res.json(await simulator.submit(body.messages, { deadline: body.deadline }));
    } catch (err) {
      if (err instanceof SubmitDeadlineError) res.status(409).json({ error: err.message });
      else res.status(500).json({ error: (err as Error).message });
    }
  });
  app.post('/lookup', async (req, res) => {
    const body = parse(lookupBody, req, res);
    if (body) res.json(Object.fromEntries(await simulator.lookup(body.references)));
  });
  app.post('/reports/pull', async (req, res) => {
    const body = parse(pullBody, req, res);
    if (!body) return;
    // Long poll: answers as soon as something is due, or empty after waitMs.
    const until = Date.now() + body.waitMs;
    let reports = simulator.leaseDueReports(body.max);
    while (reports.length === 0 && Date.now() < until && !req.socket.destroyed) {
      await new Promise((r) => setTimeout(r, 50));
      reports = simulator.leaseDueReports(body.max);
    }
    res.json({ reports });
  });
  app.post('/reports/ack', (req, res) => {
    const body = parse(ackBody, req, res);
    if (!body) return;
    simulator.acknowledgeReports(body.ids);
    res.status(204).end();
  });
  app.post('/inbound', (req, res) => {
    const body = parse(inboundBody, req, res);
    if (body) res.json({ providerId: simulator.deliverInbound(body) });
  });
  app.post('/inbound/pull', (req, res) => {
    const body = parse(z.object({ max: z.number().int().min(1).max(1000).default(100) }), req, res);
    if (body) res.json({ messages: simulator.owedInboundBatch(body.max) });
  });
  app.post('/inbound/ack', (req, res) => {
    const body = parse(ackBody, req, res);
    if (!body) return;
    simulator.acknowledgeInbound(body.ids);
    res.status(204).end();
  });
  app.get('/counter', (_req, res) => {
    res.json({
      totalSubmits: simulator.totalSubmits,
      accepted: simulator.acceptedCount,
      lastAcceptAt: simulator.lastAcceptAt,
      owedReports: simulator.owedReports,
    });
  });
  app.get('/stats', (req, res) => {
    res.json(simulator.stats(String(req.query.prefix ?? '')));
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(options.port, options.host ?? '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  return {
    simulator,
    server,
    port: typeof address === 'object' && address ? address.port : options.port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await simulator.close();
    },
  };
}

/** The settings `npm run simulator` reads from the environment. */
export const simulatorEnvSchema = z.object({
  SIMULATOR_PORT: z.coerce.number().int().min(0).max(65535).default(3100),
  SIMULATOR_HOST: z.string().min(1).default('127.0.0.1'),
  SIMULATOR_TOKEN: z.string().min(8).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  SIMULATOR_FILE: z.string().min(1).optional(),
  SIMULATOR_DELIVERY_DELAY_MS: z.coerce.number().int().min(0).max(86_400_000).default(2000),
  SIMULATOR_SUBMIT_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  SIMULATOR_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  SIMULATOR_REJECT_RATE: z.coerce.number().min(0).max(1).default(0),
});

/** `npm run simulator` and the benchmarks and chaos tests run this file directly. */
export async function runSimulatorProcess(env: NodeJS.ProcessEnv = process.env, portArg?: string): Promise<void> {
  const settings = simulatorEnvSchema
    .safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (!settings.success) {
    process.stderr.write(`Invalid configuration: ${settings.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
    process.exit(1);
  }
  const s = settings.data;
  const running = await startSimulatorServer({
    port: portArg !== undefined ? Number(portArg) : s.SIMULATOR_PORT,
    host: s.SIMULATOR_HOST,
    token: s.SIMULATOR_TOKEN,
    file: s.SIMULATOR_FILE ?? path.join(path.resolve(s.DATA_DIR), 'simulator.sqlite'),
    deliveryDelayMs: s.SIMULATOR_DELIVERY_DELAY_MS,
    submitDelayMs: s.SIMULATOR_SUBMIT_DELAY_MS,
    failureRate: s.SIMULATOR_FAILURE_RATE,
    rejectRate: s.SIMULATOR_REJECT_RATE,
  });
  // One JSON line, so a parent process can read the port it got.
  process.stdout.write(`${JSON.stringify({ listening: running.port })}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  runSimulatorProcess(process.env, process.argv[2]).catch((err) => {
    process.stderr.write(`simulator failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
