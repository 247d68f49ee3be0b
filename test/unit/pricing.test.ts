import { fromMicros, parseBalances, Pricing, toMicros } from '../../core/pricing';

test('amounts are exact micro-units', () => {
  expect(toMicros('0.05')).toBe(50_000);
  expect(toMicros('12')).toBe(12_000_000);
  expect(toMicros('0.000001')).toBe(1);
  expect(fromMicros(toMicros('0.1') + toMicros('0.2'))).toBe(0.3);
});

test('the longest matching prefix wins, then default, else free', () => {
  const p = Pricing.parse('default:0.05,30:0.04,4179:0.09,41:0.07')!;
  expect(p.partPriceMicros('306948530920')).toBe(40_000);
  expect(p.partPriceMicros('+41793026727')).toBe(90_000);
  expect(p.partPriceMicros('41443026727')).toBe(70_000);
  expect(p.partPriceMicros('4915112345678')).toBe(50_000);
  expect(Pricing.parse('30:0.04')!.partPriceMicros('4915112345678')).toBe(0);
  expect(Pricing.parse(undefined)).toBeUndefined();
});

test('bad prices and balances stop the start with the reason', () => {
  for (const bad of ['30', 'x:1', '30:-1', '30:1.1234567', '30:1:2']) expect(() => Pricing.parse(bad)).toThrow(/SMS_PRICES/);
  expect(parseBalances('acme:100,globex:5.5')).toEqual(new Map([['acme', 100_000_000], ['globex', 5_500_000]]));
  expect(parseBalances(undefined).size).toBe(0);
  for (const bad of ['acme', 'acme:x', 'a b:1', 'acme:-5']) expect(() => parseBalances(bad)).toThrow(/ACCOUNT_BALANCES/);
});
