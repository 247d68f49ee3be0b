/**
 * Prices per SMS part by destination prefix, in micro-units of the account currency (integers: no float drift
 * in a balance). `SMS_PRICES=default:0.05,30:0.04,4179:0.09` — the longest matching prefix of the number (as
 * digits, no '+') wins; without a default, a number no prefix matches costs nothing.
 */
export class Pricing {
  private readonly byPrefix: Array<[string, number]>;
  private readonly fallback: number;

  constructor(prices: ReadonlyMap<string, number>) {
    this.byPrefix = [...prices].filter(([p]) => p !== 'default').sort((a, b) => b[0].length - a[0].length);
    this.fallback = prices.get('default') ?? 0;
  }

  /** Micro-units for one part to this number. */
  partPriceMicros(to: string): number {
    const digits = to.replace(/^\+/, '');
    return this.byPrefix.find(([prefix]) => digits.startsWith(prefix))?.[1] ?? this.fallback;
  }

  /** Parses `SMS_PRICES`; amounts are decimal numbers ≥ 0 with at most 6 decimals. */
  static parse(raw: string | undefined): Pricing | undefined {
    if (!raw) return undefined;
    const prices = new Map<string, number>();
    for (const item of raw.split(',')) {
      const [prefix, amount, ...rest] = item.trim().split(':');
      if (!prefix || !amount || rest.length > 0 || !/^(default|\d{1,15})$/.test(prefix) || !/^\d{1,9}(\.\d{1,6})?$/.test(amount)) {
        throw new Error(`SMS_PRICES: expected prefix:price[,prefix:price…] with prefix "default" or digits, got "${item.trim()}"`);
      }
      prices.set(prefix, toMicros(amount));
    }
    return new Pricing(prices);
  }
}

/** "12.5" → 12,500,000 micro-units, exactly. */
export function toMicros(amount: string): number {
  const [whole, fraction = ''] = amount.split('.');
  return Number(whole) * 1_000_000 + Number(fraction.padEnd(6, '0'));
}

export function fromMicros(micros: number): number {
  return Math.round(micros) / 1_000_000;
}

/** `ACCOUNT_BALANCES=acme:100,globex:5.5`: the starting balance of each account named (others are unlimited). */
export function parseBalances(raw: string | undefined): Map<string, number> {
  const balances = new Map<string, number>();
  if (!raw) return balances;
  for (const item of raw.split(',')) {
    const [account, amount, ...rest] = item.trim().split(':');
    if (!account || !amount || rest.length > 0 || !/^[A-Za-z0-9_.-]{1,64}$/.test(account) || !/^\d{1,12}(\.\d{1,6})?$/.test(amount)) {
      throw new Error(`ACCOUNT_BALANCES: expected account:amount[,account:amount…], got "${item.trim()}"`);
    }
    balances.set(account, toMicros(amount));
  }
  return balances;
}
