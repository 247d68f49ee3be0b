import dns from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';

/** Resolves a host name to all its addresses (dns.lookup by default; tests inject their own). */
export type Resolver = (host: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (host) => dns.lookup(host, { all: true, verbatim: true });

export class CallbackRefusedError extends Error {
  override name = 'CallbackRefusedError';
}

/**
 * Keeps notify/callback URLs from reaching the platform's own network (SSRF): a URL whose host resolves to a
 * loopback, private, link-local or otherwise non-public address is refused, unless the operator allow-listed
 * the host name or a CIDR containing the address in CALLBACK_ALLOW_HOSTS (local development, tests).
 * Checked when a bulk is submitted and again before every push, since DNS can change in between; and the
 * pushes themselves go through `dispatcher`, which checks the addresses it actually connects to, so a name
 * cannot resolve to a public address for the check and to an internal one for the request (DNS rebinding).
 */
export class CallbackGuard {
  private readonly hosts = new Set<string>();
  private readonly cidrs: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];
  private agent: Agent | undefined;

  constructor(
    allow: string[],
    private readonly resolve: Resolver = systemResolver,
  ) {
    for (const entry of allow) {
      if (entry.includes('/')) this.cidrs.push(ipaddr.parseCIDR(entry));
      else if (ipaddr.isValid(entry)) this.cidrs.push(ipaddr.parseCIDR(`${entry}/${ipaddr.parse(entry).kind() === 'ipv4' ? 32 : 128}`));
      else this.hosts.add(entry.toLowerCase());
    }
  }

  private allowedAddress(address: string): boolean {
    let ip = ipaddr.parse(address);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
    if (this.cidrs.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net as never, bits))) return true;
    return ip.range() === 'unicast';
  }

  /** Resolves when the URL may be called; throws CallbackRefusedError otherwise. */
  async check(rawUrl: string, { requireResolution = false } = {}): Promise<void> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new CallbackRefusedError('is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CallbackRefusedError('must be http or https');
    if (url.username || url.password) throw new CallbackRefusedError('must not carry credentials');
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (this.hosts.has(host)) return;
    let addresses: string[];
    if (ipaddr.isValid(host)) {
      addresses = [host];
    } else {
      try {
        addresses = (await this.resolve(host)).map((a) => a.address);
      } catch {
        // Unresolvable now: refused at push time (requireResolution); at submit time DNS may simply lag.
        if (requireResolution) throw new CallbackRefusedError(`host ${host} does not resolve`);
        return;
      }
    }
    this.refuseBlocked(host, addresses);
  }

  /** The one rule for check() and for connections: every address a host resolves to must be allowed. */
  private refuseBlocked(host: string, addresses: string[]): void {
    const blocked = addresses.find((a) => !this.allowedAddress(a));
    if (blocked) throw new CallbackRefusedError(`host ${host} resolves to a non-public address (${blocked})`);
  }

  /**
   * An HTTP dispatcher (for undici's fetch) that resolves names at connect time with the same rules as check():
   * a connection to a non-public address is refused unless allow-listed. IP-literal hosts are not looked up:
   * check() has already judged them, and they cannot change.
   */
  get dispatcher(): Agent {
    this.agent ??= new Agent({
      connect: {
        lookup: ((hostname, options, callback) => {
          this.connectAddresses(hostname).then(
            (addresses) => (options.all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family)),
            (err: Error) => callback(err, ''),
          );
        }) satisfies LookupFunction,
      },
    });
    return this.agent;
  }

  private async connectAddresses(hostname: string): Promise<LookupAddress[]> {
    const host = hostname.toLowerCase();
    const addresses = await this.resolve(host);
    if (addresses.length === 0) throw new CallbackRefusedError(`host ${host} does not resolve`);
    if (!this.hosts.has(host)) this.refuseBlocked(host, addresses.map((a) => a.address));
    return addresses;
  }

  async close(): Promise<void> {
    await this.agent?.close();
    this.agent = undefined;
  }
}
