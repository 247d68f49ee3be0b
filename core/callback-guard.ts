import dns from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

export class CallbackRefusedError extends Error {
  override name = 'CallbackRefusedError';
}

/**
 * Keeps notify/callback URLs from reaching the platform's own network (SSRF): a URL whose host resolves to a
 * loopback, private, link-local or otherwise non-public address is refused, unless the operator allow-listed
 * the host name or a CIDR containing the address in CALLBACK_ALLOW_HOSTS (local development, tests).
 * Checked when a bulk is submitted and again before every push, since DNS can change in between.
 */
export class CallbackGuard {
  private readonly hosts = new Set<string>();
  private readonly cidrs: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];

  constructor(allow: string[]) {
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
        addresses = (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
      } catch {
        // Unresolvable now: refused at push time (requireResolution); at submit time DNS may simply lag.
        if (requireResolution) throw new CallbackRefusedError(`host ${host} does not resolve`);
        return;
      }
    }
    const blocked = addresses.find((a) => !this.allowedAddress(a));
    if (blocked) throw new CallbackRefusedError(`host ${host} resolves to a non-public address (${blocked})`);
  }
}
