/** Configuration: defaults, environment parsing, TypeErrors naming the option, warnings, freezing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configWarnings, loadConfig } from '../src/config.js';

test('defaults match the documented ones', () => {
  const c = loadConfig();
  assert.equal(c.port, 8080);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.databaseUrl, 'sqlite:.data/writeback.db');
  assert.equal(c.relayMode, 'embedded');
  assert.equal(c.writebackDeadlineMs, 10_000);
  assert.deepEqual(c.rateLimits.passwordChangePerUser, { limit: 5, windowSeconds: 900 });
  assert.deepEqual(c.rateLimits.passwordChangePerIp, { limit: 30, windowSeconds: 900 });
  assert.equal(c.bodyLimitBytes, 16 * 1024);
  assert.equal(c.agentTokenTtlSeconds, 3600);
});

test('the environment is read, and code overrides win over it', () => {
  const c = loadConfig({
    env: {
      PORT: '9000',
      HOST: '0.0.0.0',
      WRITEBACK_DEADLINE_MS: '2500',
      RATE_LIMIT_CHANGE_PER_USER: '3',
      TRUST_PROXY: 'true',
      PUBLIC_URL: 'https://id.example.com',
    },
    overrides: { port: 9100 },
  });
  assert.equal(c.port, 9100);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.writebackDeadlineMs, 2500);
  assert.deepEqual(c.rateLimits.passwordChangePerUser, { limit: 3, windowSeconds: 900 });
  assert.equal(c.trustProxy, true);
});

test('every rate-limit variable works alone: the window it does not set keeps its default', () => {
  // Regression (issue 9 clean-up): RATE_LIMIT_SIGNIN_PER_ACCOUNT, RATE_LIMIT_ADMIN_SIGNIN_PER_ACCOUNT,
  // RATE_LIMIT_CHANGE_PER_ACCOUNT and RATE_LIMIT_API_AUTH_FAILURES_PER_IP alone used to stop the
  // cloud from starting (their windowSeconds had no default when the limit came from the environment).
  const c = loadConfig({
    env: {
      RATE_LIMIT_SIGNIN_PER_ACCOUNT: '4',
      RATE_LIMIT_ADMIN_SIGNIN_PER_ACCOUNT: '5',
      RATE_LIMIT_CHANGE_PER_ACCOUNT: '6',
      RATE_LIMIT_API_AUTH_FAILURES_PER_IP: '7',
    },
  });
  assert.deepEqual(c.rateLimits.userSignInPerAccount, { limit: 4, windowSeconds: 3600 });
  assert.deepEqual(c.rateLimits.adminSignInPerAccount, { limit: 5, windowSeconds: 3600 });
  assert.deepEqual(c.rateLimits.passwordChangePerAccount, { limit: 6, windowSeconds: 3600 });
  assert.deepEqual(c.rateLimits.apiAuthFailuresPerIp, { limit: 7, windowSeconds: 900 });
  const windowOnly = loadConfig({ env: { RATE_LIMIT_WINDOW_SECONDS: '60' } });
  assert.deepEqual(windowOnly.rateLimits.passwordChangePerIp, { limit: 30, windowSeconds: 60 });
});

test('bad options throw a TypeError naming the dotted option and its variable', () => {
  const cases: [Parameters<typeof loadConfig>[0], string][] = [
    [{ env: { PORT: 'eighty' } }, 'config.port (PORT)'],
    [{ env: { DATABASE_URL: 'mysql://x' } }, 'config.databaseUrl (DATABASE_URL)'],
    [
      { env: { RATE_LIMIT_CHANGE_PER_USER: '-1' } },
      'config.rateLimits.passwordChangePerUser.limit (RATE_LIMIT_CHANGE_PER_USER)',
    ],
    [{ env: { WRITEBACK_MASTER_KEY: 'short' } }, 'config.masterKey (WRITEBACK_MASTER_KEY)'],
    [{ env: { RELAY_MODE: 'nats' } }, 'config.natsUrl (NATS_URL)'],
    [{ env: { RELAY_MODE: 'nats', NATS_URL: 'nats//127.0.0.1:4222' } }, 'config.natsUrl (NATS_URL)'],
    [{ env: { RELAY_MODE: 'nats', NATS_URL: 'http://127.0.0.1:4222' } }, 'config.natsUrl (NATS_URL)'],
    [{ overrides: { writebackDeadlineMs: 10 * 60_000 } }, 'config.writebackDeadlineMs'],
  ];
  for (const [input, named] of cases)
    assert.throws(
      () => loadConfig(input),
      (e: unknown) => e instanceof TypeError && e.message.startsWith(named),
      named,
    );
});

test('RELAY_URLS is a comma-separated list of ws(s) URLs', () => {
  const c = loadConfig({ env: { RELAY_URLS: 'wss://a.example/agent, wss://b.example/agent' } });
  assert.deepEqual(c.relayUrls, ['wss://a.example/agent', 'wss://b.example/agent']);
  assert.throws(
    () => loadConfig({ env: { RELAY_URLS: 'wss://a.example/agent,https://b.example/agent' } }),
    (e: unknown) => e instanceof TypeError && e.message.startsWith('config.relayUrls'),
  );
});

test('NATS_URL takes what nats.js takes: URLs of its schemes or host:port, several with commas', () => {
  for (const url of [
    'nats://127.0.0.1:4222',
    'tls://nats.example:4222',
    'nats://a:1, nats://b:2',
    '127.0.0.1:4222',
    'wss://n.example',
  ])
    assert.equal(loadConfig({ env: { RELAY_MODE: 'nats', NATS_URL: url } }).natsUrl, url);
});

test('the result is deeply frozen', () => {
  const c = loadConfig();
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.rateLimits));
  assert.ok(Object.isFrozen(c.rateLimits.passwordChangePerIp));
});

test('insecure choices produce warnings; a safe set-up produces none', () => {
  const unsafe = configWarnings(
    loadConfig({ env: { HOST: '0.0.0.0', TRUST_PROXY: '1', RATE_LIMIT_CHANGE_PER_IP: '0' } }),
  );
  assert.ok(unsafe.some((w) => w.includes('without TLS')));
  assert.ok(unsafe.some((w) => w.includes('WRITEBACK_MASTER_KEY')));
  assert.ok(unsafe.some((w) => w.includes('TRUST_PROXY')));
  assert.ok(unsafe.some((w) => w.includes('passwordChangePerIp')));
  const safe = configWarnings(
    loadConfig({ env: { WRITEBACK_MASTER_KEY: 'A'.repeat(43), PUBLIC_URL: 'https://id.example.com' } }),
  );
  assert.deepEqual(safe, []);
});
