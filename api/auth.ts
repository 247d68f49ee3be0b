import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from './errors';
import type { AccountRateLimiter } from './rate-limit';

export interface AuthOptions {
  /** Accept `?access_token=<key>` (ProTexting routes only: their clients authenticate that way). */
  allowQueryToken?: boolean;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Prefix of the bearer tokens `issueToken` makes, so that they are never mistaken for (or tried as) API keys. */
const TOKEN_PREFIX = 'at1.';
/** An hour, as Routee's own tokens. */
export const TOKEN_TTL_SECONDS = 3600;

/**
 * Resolves the caller's account from its API key. Keys are compared as SHA-256 digests with timingSafeEqual,
 * so neither the comparison time nor a map lookup leaks how much of a guessed key was right.
 */
export class ApiKeyAuthenticator {
  private readonly entries: Array<{ account: string; digest: Buffer }>;

  /**
   * With a limiter, every request that passes through `middleware()` takes one from its account's budget (a
   * caller with no valid key from its address's, so guessing keys is limited too) and its reply carries
   * X-Rate-Limit-Limit, -Remaining and -Reset (seconds until the budget is full again); over the limit, 429.
   */
  constructor(
    apiKeys: Map<string, string>,
    private readonly limiter?: AccountRateLimiter,
  ) {
    this.entries = [...apiKeys].map(([account, key]) => ({ account, digest: digest(key) }));
  }

  accountForKey(key: string): string | undefined {
    const d = digest(key);
    let found: string | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found ??= e.account;
    return found;
  }

  /**
   * A bearer token for the account (Routee's `/oauth/token` exchange): `at1.<account, expiry>.<HMAC>`, signed with
   * the digest of the account's key, so it needs no storage, dies at its expiry and dies with the key it came from.
   */
  issueToken(account: string, nowMs = Date.now(), ttlSeconds = TOKEN_TTL_SECONDS): string {
    const entry = this.entries.find((e) => e.account === account);
    if (!entry) throw new Error(`no key for account ${account}`);
    const payload = Buffer.from(JSON.stringify([account, Math.floor(nowMs / 1000) + ttlSeconds])).toString('base64url');
    return `${TOKEN_PREFIX}${payload}.${createHmac('sha256', entry.digest).update(payload).digest('base64url')}`;
  }

  /** The account of a token from `issueToken` that is still valid, else undefined. */
  accountForToken(token: string, nowMs = Date.now()): string | undefined {
    const [payload, signature] = token.slice(TOKEN_PREFIX.length).split('.', 2);
    if (!payload || !signature) return undefined;
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!Array.isArray(claims) || typeof claims[0] !== 'string' || typeof claims[1] !== 'number') return undefined;
    const [account, expiresAt] = claims as [string, number];
    if (expiresAt * 1000 <= nowMs) return undefined;
    const entry = this.entries.find((e) => e.account === account);
    if (!entry) return undefined;
    const expected = createHmac('sha256', entry.digest).update(payload).digest();
    const given = Buffer.from(signature, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected) ? account : undefined;
  }

  middleware(options: AuthOptions = {}): RequestHandler {
    return (req, res, next) => {
      const account = this.resolve(req.get('authorization'), options.allowQueryToken ? req.query.access_token : undefined);
      const admit = () => {
        if (!account) {
          res.set('WWW-Authenticate', 'App realm="sms", Bearer, Basic');
          next(new ApiError(401, 'UNAUTHORIZED', 'Invalid login details'));
          return;
        }
        res.locals.accountId = account;
        next();
      };
      if (!this.limiter) return admit();
      this.limiter.take(account ? `a:${account}` : `ip:${req.socket.remoteAddress ?? 'unknown'}`).then((d) => {
        res.set({ 'X-Rate-Limit-Limit': String(d.limit), 'X-Rate-Limit-Remaining': String(d.remaining), 'X-Rate-Limit-Reset': String(d.resetSeconds) });
        if (d.allowed) return admit();
        res.set('Retry-After', String(d.resetSeconds));
        next(new ApiError(429, 'TOO_MANY_REQUESTS', `Too many requests: at most ${d.limit} per ${this.limiter!.spec.seconds} s; try again in ${d.resetSeconds} s`));
      }, next);
    };
  }

  private resolve(header: string | undefined, queryToken: unknown): string | undefined {
    if (header) {
      const [scheme, credentials] = header.trim().split(/\s+/, 2);
      if (!scheme || !credentials || credentials.length > 1024) return undefined;
      switch (scheme.toLowerCase()) {
        case 'app':
          return this.accountForKey(credentials);
        case 'bearer':
          return credentials.startsWith(TOKEN_PREFIX) ? this.accountForToken(credentials) : this.accountForKey(credentials);
        case 'basic': {
          const decoded = Buffer.from(credentials, 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          if (colon < 0) return undefined;
          const account = this.accountForKey(decoded.slice(colon + 1));
          return account === decoded.slice(0, colon) ? account : undefined;
        }
        default:
          return undefined;
      }
    }
    if (typeof queryToken === 'string' && queryToken.length > 0 && queryToken.length <= 1024) {
      return this.accountForKey(queryToken);
    }
    return undefined;
  }
}
