import { ConfigError, loadConfig } from '../../config/env';

test('defaults follow the interface contract', () => {
  const config = loadConfig({});
  expect(config).toMatchObject({
    PORT: 3000,
    TEMPORAL_PORT: 7233,
    TEMPORAL_UI_PORT: 8233,
    SMS_PROVIDER: 'simulator',
    embeddedTemporal: true,
    temporalAddress: '127.0.0.1:7233',
  });
  expect(config.dataDir).toMatch(/data$/);
});

test('API_KEYS is parsed into account → key', () => {
  const config = loadConfig({ API_KEYS: 'acme:key-one-12345, globex:key-two-12345' });
  expect([...config.API_KEYS!]).toEqual([
    ['acme', 'key-one-12345'],
    ['globex', 'key-two-12345'],
  ]);
});

test.each([
  ['API_KEYS', 'no-colon-here'],
  ['API_KEYS', 'acme:short'],
  ['API_KEYS', 'acme:key:extra-part'],
  ['PORT', 'eighty'],
  ['TEMPORAL_ADDRESS', 'no-port'],
  ['DATABASE_URL', 'mysql://x'],
  ['SMS_PROVIDER', 'carrier-pigeon'],
])('a malformed %s stops startup with one line naming it', (name, value) => {
  expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
  try {
    loadConfig({ [name]: value });
  } catch (err) {
    expect((err as Error).message).toContain(`${name}:`);
    expect((err as Error).message).not.toContain('\n');
  }
});

test('TEMPORAL_ADDRESS switches off the embedded server', () => {
  expect(loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233' })).toMatchObject({
    embeddedTemporal: false,
    temporalAddress: 'temporal.internal:7233',
  });
});
