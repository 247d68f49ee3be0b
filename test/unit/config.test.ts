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

test('INBOUND_NUMBERS: number → account; one number for two accounts, or a bad number, stops startup', () => {
  expect([...loadConfig({ INBOUND_NUMBERS: 'acme:+15550001111, acme:15550001112,globex:15550002222' }).INBOUND_NUMBERS!]).toEqual([
    ['15550001111', 'acme'],
    ['15550001112', 'acme'],
    ['15550002222', 'globex'],
  ]);
  expect(() => loadConfig({ INBOUND_NUMBERS: 'acme:15550001111,globex:+15550001111' })).toThrow(/INBOUND_NUMBERS: number 15550001111 is given to two accounts/);
  expect(() => loadConfig({ INBOUND_NUMBERS: 'acme:12' })).toThrow(/INBOUND_NUMBERS:/);
});

test.each([
  [{ SMS_PROVIDER: 'infobip' }, /needs INFOBIP_BASE_URL and INFOBIP_API_KEY/],
  [{ SMS_PROVIDER: 'infobip', INFOBIP_BASE_URL: 'https://api.example.com', INFOBIP_API_KEY: 'key-12345678', INFOBIP_NOTIFY_URL: 'https://us.example.com' }, /needs INFOBIP_NOTIFY_TOKEN/],
  [{ SMS_PROVIDER: 'smpp' }, /SMS_PROVIDER=smpp needs SMPP_HOST, SMPP_SYSTEM_ID and SMPP_PASSWORD/],
  [{ SMS_PROVIDER: 'smpp', SMPP_HOST: 'smsc.example', SMPP_SYSTEM_ID: 'a-system-id-too-long', SMPP_PASSWORD: 'pw' }, /SMPP_SYSTEM_ID: at most 15 characters/],
  [{ SMS_PROVIDER: 'smpp', SMPP_HOST: 'smsc.example', SMPP_SYSTEM_ID: 'acme', SMPP_PASSWORD: 'pw', SMPP_BIND: 'receiver' }, /SMPP_BIND/],
  [{ SMS_PROVIDER: 'smpp', SMPP_HOST: 'smsc.example', SMPP_SYSTEM_ID: 'acme', SMPP_PASSWORD: 'pw', SMPP_WINDOW: '0' }, /SMPP_WINDOW/],
  [{ PROVIDER_MAX_TPS: '0' }, /PROVIDER_MAX_TPS:/],
])('a provider set up halfway stops startup with a line that says what is missing (%#)', (env, message) => {
  expect(() => loadConfig(env)).toThrow(ConfigError);
  expect(() => loadConfig(env)).toThrow(message);
});
