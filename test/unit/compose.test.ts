/**
 * docker-compose.yml is not run here (no container engine), so what can be checked without one is: every
 * environment name it gives the product's services is one the product reads (a typo there is a setting that
 * silently does nothing), the values parse with the product's own schemas, and the database it points at is
 * created by the init script it mounts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { envSchema, loadConfig } from '../../config/env';
import { simulatorEnvSchema } from '../../providers/simulator-server';

const root = path.join(__dirname, '../..');
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { build?: string; command?: string[]; environment?: Record<string, string | number>; volumes?: string[] }>;
};
const ours = Object.entries(compose.services).filter(([, s]) => s.build === '.');

/** `${NAME:?message}` as compose would substitute it when NAME is set. */
const sample: Record<string, string> = { API_KEYS: 'acme:acme-key-123456', WEBHOOK_SECRETS: 'acme:whsec-123456', SIMULATOR_TOKEN: 'sim-token-123456' };
const substitute = (v: string | number) => String(v).replace(/\$\{(\w+):\?[^}]*\}/g, (_m, name: string) => sample[name] ?? '');

test('the product runs as api, worker and simulator from one image', () => {
  expect(ours.map(([name, s]) => [name, s.command?.join(' ')]).sort()).toEqual([
    ['api', 'npm run api'],
    ['simulator', 'npm run simulator'],
    ['worker', 'npm run worker'],
  ]);
});

test.each(ours.map(([name]) => name))('every environment name given to %s is one it reads, with a valid value', (name) => {
  const env = Object.fromEntries(Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [k, substitute(v)]));
  const schema = name === 'simulator' ? simulatorEnvSchema : envSchema;
  const known = new Set(Object.keys(schema.shape));
  expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
  if (name === 'simulator') expect(simulatorEnvSchema.safeParse(env).success).toBe(true);
  else expect(() => loadConfig(env)).not.toThrow();
});

test('the database the orchestrator is pointed at is created by the mounted init script', () => {
  const url = new URL(String(compose.services.api!.environment!.DATABASE_URL));
  const database = url.pathname.slice(1);
  const mount = compose.services.postgresql!.volumes!.find((v) => v.includes('docker-entrypoint-initdb.d'))!;
  const script = fs.readFileSync(path.join(root, mount.split(':')[0]!), 'utf8');
  expect(script).toMatch(new RegExp(`CREATE DATABASE ${database};`, 'i'));
  expect(fs.existsSync(path.join(root, 'Dockerfile'))).toBe(true);
});
