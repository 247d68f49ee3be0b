import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { freePort } from './temporal';

/** One submit_sm the SMSC accepted, as its journal line has it. */
export interface AcceptedSubmit {
  id: string;
  to: string;
  from: string;
  dataCoding: number;
  esmClass: number;
  registeredDelivery: number;
  validityPeriod: string;
  /** Hex of short_message (UDH included). */
  shortMessage: string;
  messagePayload?: string;
  SAR_MSG_REF_NUM?: number;
  SAR_TOTAL_SEGMENTS?: number;
  SAR_SEGMENT_SEQNUM?: number;
  umr?: number;
  /** When the SMSC accepted it (epoch ms). */
  at: number;
}

export interface SmscOptions {
  systemId?: string;
  password?: string;
  throttleEvery?: number;
  rejectPrefix?: string;
  undeliverablePrefix?: string;
  /** Halts (exit without answering) right after journaling the Nth accepted submit_sm. */
  haltAfter?: number;
  receiptDelayMs?: number;
  echoReference?: boolean;
  /** SMPP over TLS with this Java keystore (PKCS12) and its password. */
  tls?: { keystore: string; password: string };
}

/**
 * A self-signed certificate for 127.0.0.1 in a PKCS12 keystore (keytool, from the JDK the SMSC runs on), and the
 * certificate as PEM for the client to trust.
 */
export function selfSignedKeystore(): { keystore: string; password: string; certPem: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smsc-tls-'));
  const keystore = path.join(dir, 'smsc.p12');
  const password = 'changeit-test';
  const run = (args: string[]) => execFileSync('keytool', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  run(['-genkeypair', '-alias', 'smsc', '-keyalg', 'RSA', '-keysize', '2048', '-validity', '2', '-dname', 'CN=127.0.0.1', '-ext', 'SAN=ip:127.0.0.1', '-storetype', 'PKCS12', '-keystore', keystore, '-storepass', password, '-keypass', password]);
  const certPem = run(['-exportcert', '-rfc', '-alias', 'smsc', '-keystore', keystore, '-storepass', password]).toString();
  return { keystore, password, certPem };
}

/**
 * The test SMSC (test/smsc, jsmpp's server side) as a child process: started on a free port with a journal file,
 * killed and restarted on the same port and journal. SMSC_CLASSPATH comes from scripts/smsc.sh (npm test sets it).
 */
export class TestSmsc {
  private child: ChildProcess | undefined;
  private output = '';
  readonly journalFile: string;

  private constructor(
    readonly port: number,
    private options: SmscOptions,
  ) {
    this.journalFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'smsc-')), 'journal.jsonl');
  }

  static async start(options: SmscOptions = {}): Promise<TestSmsc> {
    const smsc = new TestSmsc(await freePort(), options);
    await smsc.run();
    return smsc;
  }

  get systemId(): string {
    return this.options.systemId ?? 'orchestra';
  }

  get password(): string {
    return this.options.password ?? 'secret12';
  }

  /** How a provider binds to this SMSC: a transceiver, plain TCP (override what a test varies). */
  bindOptions() {
    return { host: '127.0.0.1', port: this.port, systemId: this.systemId, password: this.password, bind: 'transceiver' as const, tls: false };
  }

  /** Starts the process (again), optionally with other fault options, and waits until it listens. */
  async run(options?: SmscOptions): Promise<void> {
    if (options) this.options = options;
    const classpath = process.env.SMSC_CLASSPATH;
    if (!classpath) throw new Error('SMSC_CLASSPATH is not set: run the tests with `npm test` (scripts/smsc.sh builds the test SMSC)');
    const o = this.options;
    const args = ['-cp', classpath, 'smsc.TestSmsc', '--port', String(this.port), '--system-id', this.systemId, '--password', this.password, '--journal', this.journalFile];
    if (o.throttleEvery) args.push('--throttle-every', String(o.throttleEvery));
    if (o.rejectPrefix) args.push('--reject-prefix', o.rejectPrefix);
    if (o.undeliverablePrefix) args.push('--undeliverable-prefix', o.undeliverablePrefix);
    if (o.haltAfter) args.push('--halt-after', String(o.haltAfter));
    if (o.receiptDelayMs !== undefined) args.push('--receipt-delay-ms', String(o.receiptDelayMs));
    if (o.echoReference === false) args.push('--no-echo-reference');
    const jvm = o.tls ? [`-Djavax.net.ssl.keyStore=${o.tls.keystore}`, `-Djavax.net.ssl.keyStorePassword=${o.tls.password}`, '-Djavax.net.ssl.keyStoreType=PKCS12'] : [];
    if (o.tls) args.push('--tls');
    const child = spawn('java', ['-Xss512k', '-XX:+UseSerialGC', ...jvm, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    const listening = new Promise<void>((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        this.output += `${line}\n`;
        if (line.startsWith('LISTENING')) resolve();
      });
      child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
      child.once('exit', (code) => reject(new Error(`the test SMSC exited (${String(code)}) before listening:\n${this.output}`)));
    });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the test SMSC did not listen within 30 s:\n${this.output}`)), 30_000).unref());
    await Promise.race([listening, timeout]);
  }

  /** Resolves when the process has exited (a halt it was told to do, or a kill). */
  exited(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** SIGKILL: no unbind, no goodbye, as a crashed SMSC. */
  async kill(): Promise<void> {
    const done = this.exited();
    this.child?.kill('SIGKILL');
    await done;
  }

  /** A mobile-originated message, delivered to the bound receiver. */
  injectMo(from: string, to: string, text: string): void {
    this.child!.stdin!.write(`MO ${from} ${to} ${text}\n`);
  }

  /** The SMSC process's pid (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  log(): string {
    return this.output;
  }

  accepted(): AcceptedSubmit[] {
    if (!fs.existsSync(this.journalFile)) return [];
    return fs
      .readFileSync(this.journalFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AcceptedSubmit & { event: string })
      .filter((r) => r.event === 'accepted');
  }

  receiptsAcknowledged(): number {
    if (!fs.existsSync(this.journalFile)) return 0;
    return fs.readFileSync(this.journalFile, 'utf8').split('\n').filter((l) => l.includes('"receipt-acked"')).length;
  }
}
