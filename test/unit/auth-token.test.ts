import { ApiKeyAuthenticator } from '../../api/auth';

const auth = new ApiKeyAuthenticator(new Map([['acme', 'acme-key'], ['globex', 'globex-key']]));
const now = Date.UTC(2026, 11, 6, 12);

test('a token is valid for its account until it expires, and not a second after', () => {
  const token = auth.issueToken('acme', now);
  expect(auth.accountForToken(token, now)).toBe('acme');
  expect(auth.accountForToken(token, now + 3599_000)).toBe('acme');
  expect(auth.accountForToken(token, now + 3600_000)).toBeUndefined();
});

test('a token dies with the key it was signed with', () => {
  const token = auth.issueToken('acme', now);
  const rotated = new ApiKeyAuthenticator(new Map([['acme', 'acme-key-2']]));
  expect(rotated.accountForToken(token, now)).toBeUndefined();
});

test('garbage is refused, never thrown', () => {
  for (const t of ['at1.', 'at1..', 'at1.bm90IGpzb24.x', `at1.${Buffer.from('{"a":1}').toString('base64url')}.x`, 'at1.W10.x']) {
    expect(auth.accountForToken(t, now)).toBeUndefined();
  }
});
