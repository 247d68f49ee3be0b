import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import smpp, { type PDU, type Session } from 'smpp';
import { Semaphore, waitInQueue } from './semaphore';

/** How to reach and bind to the SMSC (SMPP_* settings). */
export interface SmppBindSettings {
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType?: string;
  /** One transceiver session, or a transmitter and a receiver. */
  bind: 'transceiver' | 'transmitter-receiver';
  /** Requests (submit_sm) outstanding at once on the transmitting session. */
  window: number;
  tls: boolean;
  /** PEM certificates to trust for the SMSC's TLS certificate besides the system's (a private CA). */
  tlsCa?: string;
  /** Longest wait for any response. */
  responseTimeoutMs?: number;
  enquireLinkMs?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** A bind the SMSC refused for who we are (wrong system_id or password): not worth retrying. */
export class SmppBindRefusedError extends Error {
  override name = 'SmppBindRefusedError';
  constructor(readonly status: number) {
    super(`the SMSC refused the bind: ${commandStatusName(status)} — check SMPP_SYSTEM_ID and SMPP_PASSWORD`);
  }
}

/** The session a request went out on closed before its response came: the request is in doubt. */
export class SmppConnectionLostError extends Error {
  override name = 'SmppConnectionLostError';
}

/** The request never left (no bound session, or the socket was no longer writable): safe to send again. */
export class SmppNotSentError extends Error {
  override name = 'SmppNotSentError';
}

export class SmppTimeoutError extends Error {
  override name = 'SmppTimeoutError';
}

export function commandStatusName(status: number): string {
  const name = Object.entries(smpp.errors ?? {}).find(([, v]) => v === status)?.[0];
  return `${name ?? 'command_status'} (0x${status.toString(16).padStart(8, '0')})`;
}

const CREDENTIAL_ERRORS = new Set([0x0e /* ESME_RINVPASWD */, 0x0f /* ESME_RINVSYSID */]);

interface Pending {
  resolve(pdu: PDU): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One TCP/TLS connection, bound one way. */
class BoundSession {
  private readonly pending = new Map<number, Pending>();
  private closedWith: Error | undefined;
  private enquireTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;

  private constructor(
    readonly session: Session,
    private readonly responseTimeoutMs: number,
  ) {
    this.closed = new Promise((resolve) => session.once('close', () => resolve()));
    session.on('close', () => this.fail(new SmppConnectionLostError('the SMPP connection closed')));
    // An error is followed by close; requests fail there.
    session.on('error', () => undefined);
  }

  static async open(settings: SmppBindSettings, mode: 'bind_transceiver' | 'bind_transmitter' | 'bind_receiver'): Promise<BoundSession> {
    const responseTimeoutMs = settings.responseTimeoutMs ?? 10_000;
    const session = smpp.connect({
      url: `${settings.tls ? 'ssmpp' : 'smpp'}://${settings.host}:${settings.port}`,
      // tls.connect options: the system's CAs plus the configured ones; the name checked is SMPP_HOST.
      ...(settings.tls && settings.tlsCa ? { ca: [...tls.rootCertificates, settings.tlsCa] } : {}),
    });
    const bound = new BoundSession(session, responseTimeoutMs);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.destroy();
        reject(new SmppTimeoutError(`no connection to the SMSC at ${settings.host}:${settings.port} within ${responseTimeoutMs} ms`));
      }, responseTimeoutMs);
      session.once(settings.tls ? 'secureConnect' : 'connect', () => (clearTimeout(timer), resolve()));
      session.once('error', (err: Error) => (clearTimeout(timer), reject(err)));
    });
    const resp = await bound.request(mode, {
      system_id: settings.systemId,
      password: settings.password,
      system_type: settings.systemType ?? '',
      interface_version: 0x34,
    }).catch((err: Error) => {
      session.destroy();
      throw err;
    });
    if (resp.command_status !== 0) {
      session.destroy();
      if (CREDENTIAL_ERRORS.has(resp.command_status)) throw new SmppBindRefusedError(resp.command_status);
      throw new Error(`the SMSC refused the bind: ${commandStatusName(resp.command_status)}`);
    }
    bound.keepAlive(settings.enquireLinkMs ?? 30_000);
    return bound;
  }

  get isOpen(): boolean {
    return this.closedWith === undefined;
  }

  /** Sends a request and resolves with its response (any command_status), or rejects on timeout or close. */
  request(command: string, fields: Record<string, unknown>): Promise<PDU> {
    if (this.closedWith) return Promise.reject(new SmppNotSentError(this.closedWith.message));
    return new Promise<PDU>((resolve, reject) => {
      let pdu: PDU;
      let written: boolean;
      try {
        pdu = new smpp.PDU(command, fields) as PDU;
        written = this.session.send(pdu, (resp: PDU) => {
          const p = this.pending.get(resp.sequence_number);
          if (!p) return;
          this.pending.delete(resp.sequence_number);
          clearTimeout(p.timer);
          p.resolve(resp);
        });
      } catch (err) {
        // Encoding failed before anything was written.
        reject(new SmppNotSentError(`could not encode ${command}: ${(err as Error).message}`));
        return;
      }
      if (!written) {
        reject(new SmppNotSentError('the SMPP connection is not writable'));
        return;
      }
      // The library numbers the PDU as it sends it.
      const seq = pdu.sequence_number;
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new SmppTimeoutError(`no ${command}_resp within ${this.responseTimeoutMs} ms`));
      }, this.responseTimeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
    });
  }

  private keepAlive(everyMs: number): void {
    this.enquireTimer = setInterval(() => {
      // A link that does not answer its enquire_link is dead although TCP has not noticed: drop it.
      this.request('enquire_link', {}).catch(() => this.session.destroy());
    }, everyMs);
    this.enquireTimer.unref();
  }

  private fail(err: Error): void {
    this.closedWith ??= err;
    clearInterval(this.enquireTimer);
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(seq);
    }
  }

  async unbind(): Promise<void> {
    if (!this.isOpen) return;
    await this.request('unbind', {}).catch(() => undefined);
    this.session.close();
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, 2000))]);
    this.session.destroy();
  }
}

/**
 * The product's bind to an SMSC: connects and binds (a transceiver, or a transmitter plus a receiver), keeps the
 * link alive with enquire_link, answers the SMSC's own enquire_link and unbind, reconnects with backoff after a
 * drop, and bounds the submit_sm outstanding at once (the window). Incoming deliver_sm are emitted as 'deliver'
 * with a `respond(status)` the listener must call once it has stored what it needs.
 */
export class SmppLink extends EventEmitter {
  private tx: BoundSession | undefined;
  private rx: BoundSession | undefined;
  private stopped = false;
  private connecting: Promise<void> | undefined;
  private readonly window: Semaphore;
  private readonly upWaiters: Array<() => void> = [];
  private attempt = 0;
  lastError: Error | undefined;

  constructor(private readonly settings: SmppBindSettings) {
    super();
    this.window = new Semaphore(settings.window);
  }

  get isBound(): boolean {
    return !!this.tx?.isOpen && (this.settings.bind === 'transceiver' || !!this.rx?.isOpen);
  }

  /** Binds once; rejects when the SMSC is unreachable or refuses the bind (start-up uses this to fail fast). */
  async start(): Promise<void> {
    await this.connect();
  }

  private connect(): Promise<void> {
    this.connecting ??= this.bindAll().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async bindAll(): Promise<void> {
    const s = this.settings;
    try {
      if (s.bind === 'transceiver') {
        this.tx = await BoundSession.open(s, 'bind_transceiver');
        this.rx = this.tx;
      } else {
        this.tx = await BoundSession.open(s, 'bind_transmitter');
        this.rx = await BoundSession.open(s, 'bind_receiver');
      }
    } catch (err) {
      await this.tx?.unbind();
      this.tx = this.rx = undefined;
      this.lastError = err as Error;
      throw err;
    }
    this.attempt = 0;
    this.lastError = undefined;
    for (const b of new Set([this.tx, this.rx])) this.wire(b);
    this.emit('bound');
    for (const w of this.upWaiters.splice(0)) w();
  }

  private wire(bound: BoundSession): void {
    const session = bound.session;
    session.on('enquire_link', (pdu: PDU) => session.send(pdu.response()));
    session.on('unbind', (pdu: PDU) => {
      session.send(pdu.response());
      session.close();
    });
    session.on('deliver_sm', (pdu: PDU) => {
      let answered = false;
      const respond = (status = 0) => {
        if (answered || !bound.isOpen) return;
        answered = true;
        session.send(pdu.response({ command_status: status }));
      };
      this.emit('deliver', pdu, respond);
    });
    void bound.closed.then(() => this.lost());
  }

  private lost(): void {
    if (this.stopped) return;
    // Either session gone: drop both and bind again.
    void this.tx?.unbind();
    if (this.rx !== this.tx) void this.rx?.unbind();
    this.tx = this.rx = undefined;
    this.emit('unbound');
    this.reconnectLater();
  }

  private reconnectLater(): void {
    if (this.stopped) return;
    const min = this.settings.reconnectMinMs ?? 500;
    const max = this.settings.reconnectMaxMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** this.attempt++) * (0.75 + Math.random() / 2);
    setTimeout(() => {
      if (this.stopped || this.isBound) return;
      this.connect().catch((err: Error) => {
        this.emit('reconnect-failed', err);
        this.reconnectLater();
      });
    }, delay).unref();
  }

  /** Resolves once bound (now or after a reconnect), or rejects when `signal` aborts first. */
  private async waitBound(signal?: AbortSignal): Promise<BoundSession> {
    while (!this.isBound || !this.tx) {
      if (this.stopped) throw new SmppConnectionLostError('the SMPP link is stopped');
      signal?.throwIfAborted();
      await waitInQueue(this.upWaiters, signal);
    }
    return this.tx;
  }

  /**
   * Waits for a bound link and a free slot of the window (or `signal`), then `use` gets the session to send one
   * submit_sm on. The slot is freed when `use` settles.
   */
  async withSlot<T>(signal: AbortSignal | undefined, use: (send: (fields: Record<string, unknown>) => Promise<PDU>) => Promise<T>): Promise<T> {
    await this.window.acquire(signal);
    try {
      const bound = await this.waitBound(signal);
      return await use((fields) => bound.request('submit_sm', fields));
    } finally {
      this.window.release();
    }
  }

  /** Unbinds cleanly (waits for the unbind_resp, briefly) and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.upWaiters.splice(0)) w();
    if (this.connecting) await this.connecting.catch(() => undefined);
    const sessions = new Set([this.tx, this.rx].filter((b): b is BoundSession => !!b));
    this.tx = this.rx = undefined;
    await Promise.all([...sessions].map((b) => b.unbind()));
  }
}
