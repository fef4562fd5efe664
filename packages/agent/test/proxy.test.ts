/**
 * Issue 11 item 8: agents behind a corporate outbound proxy. The relay links, registration and the
 * doctor go through an HTTP CONNECT tunnel of a real Debian tinyproxy (Basic auth, the password from
 * a file); a wrong password is said as proxy_auth_failed (the link's lastError, the doctor's
 * proxy.connect code); NO_PROXY goes direct; wss:// through HTTPS_PROXY trusts the CA of
 * WRITEBACK_PROXY_CA_FILE. The environment rules (NO_PROXY forms, credentials) are pinned first.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { issueAgentCertificate } from '@writeback/protocol';
import {
  AgentError,
  registerAgent,
  runDoctor,
  startAgent,
  writeState,
  type AgentState,
  type RunningAgent,
} from '../src/index.js';
import { bypassesProxy, openTunnel, proxyFor, proxySettingsFromEnv } from '../src/proxy.js';
import {
  FakeDirectory,
  captureLog,
  makeCloud,
  makeState,
  resetOutcome,
  startFakeCloud,
  startHub,
  startTlsHub,
  tempDir,
  waitFor,
  type HubFixture,
} from './fixtures.js';
import { TINYPROXY_BIN, startTinyproxy, type Tinyproxy } from './tinyproxy.js';

const cloud = makeCloud();
const fastBackoff = { baseMs: 20, capMs: 200, stableMs: 10_000 };

describe('proxy settings from the environment', () => {
  const url = (u: string) => new URL(u);
  test('NO_PROXY: *, a host, .domain and *.domain (with the domain itself), host:port, IP literals', () => {
    const rules = [
      'relay.corp.example',
      '.internal.example',
      '*.lab.example',
      'cloud.example:8443',
      '10.0.0.7',
      '[::1]',
    ];
    assert.equal(bypassesProxy(url('wss://relay.corp.example/agent'), rules), true);
    assert.equal(bypassesProxy(url('wss://a.relay.corp.example/agent'), rules), true);
    assert.equal(bypassesProxy(url('wss://relay.corp.example.evil.test/agent'), rules), false);
    assert.equal(bypassesProxy(url('https://internal.example/'), rules), true);
    assert.equal(bypassesProxy(url('https://x.internal.example/'), rules), true);
    assert.equal(bypassesProxy(url('https://y.lab.example/'), rules), true);
    assert.equal(bypassesProxy(url('https://cloud.example:8443/'), rules), true);
    assert.equal(bypassesProxy(url('https://cloud.example/'), rules), false, 'another port');
    assert.equal(bypassesProxy(url('wss://10.0.0.7/agent'), rules), true);
    assert.equal(bypassesProxy(url('wss://110.0.0.7/agent'), rules), false);
    assert.equal(bypassesProxy(url('ws://[::1]:8080/agent'), rules), true);
    assert.equal(bypassesProxy(url('wss://anything.example/'), ['*']), true);
    assert.equal(bypassesProxy(url('wss://anything.example/'), []), false);
  });

  test('https_proxy for wss/https, http_proxy for ws/http; lower case wins; NO_PROXY applies to both', () => {
    const s = proxySettingsFromEnv({
      https_proxy: 'http://lower.example:3128',
      HTTPS_PROXY: 'http://upper.example:3128',
      HTTP_PROXY: 'plain.example:8080',
      NO_PROXY: 'direct.example',
    });
    assert.equal(proxyFor(url('wss://relay.example/agent'), s)?.url.host, 'lower.example:3128');
    assert.equal(proxyFor(url('ws://relay.example/agent'), s)?.url.host, 'plain.example:8080');
    assert.equal(proxyFor(url('wss://direct.example/agent'), s), null);
    assert.equal(proxyFor(url('wss://relay.example/agent'), proxySettingsFromEnv({})), null);
  });

  test('credentials: from the file (it wins over the URL), from the URL; never in the proxy URL kept', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'proxy-auth');
      await writeFile(file, 'fileuser:file-pass:with-colon\n', { mode: 0o600 });
      const fromFile = proxySettingsFromEnv({
        HTTPS_PROXY: 'http://urluser:url-pass@proxy.example:3128',
        WRITEBACK_PROXY_AUTH_FILE: file,
      }).https;
      assert.equal(fromFile?.authFrom, 'file');
      assert.equal(fromFile?.authorization, `Basic ${Buffer.from('fileuser:file-pass:with-colon').toString('base64')}`);
      assert.equal(fromFile?.url.href, 'http://proxy.example:3128/');
      const fromUrl = proxySettingsFromEnv({ HTTPS_PROXY: 'http://urluser:url%40pass@proxy.example:3128' }).https;
      assert.equal(fromUrl?.authFrom, 'url');
      assert.equal(fromUrl?.authorization, `Basic ${Buffer.from('urluser:url@pass').toString('base64')}`);
      assert.ok(!fromUrl?.url.href.includes('url'), 'no credentials in the kept URL');
      assert.throws(
        () => proxySettingsFromEnv({ HTTPS_PROXY: 'http://p:3128', WRITEBACK_PROXY_AUTH_FILE: join(dir.path, 'none') }),
        (e: unknown) => e instanceof AgentError && e.code === 'invalid_config',
      );
      await writeFile(join(dir.path, 'bad'), 'no-colon-here\n');
      assert.throws(
        () => proxySettingsFromEnv({ HTTPS_PROXY: 'http://p:3128', WRITEBACK_PROXY_AUTH_FILE: join(dir.path, 'bad') }),
        (e: unknown) => e instanceof AgentError && e.code === 'invalid_config' && !e.message.includes('no-colon-here'),
      );
      assert.throws(
        () => proxySettingsFromEnv({ HTTPS_PROXY: 'ftp://user:pw-in-url@p:21' }),
        (e: unknown) => e instanceof AgentError && e.code === 'invalid_config' && !e.message.includes('pw-in-url'),
      );
    } finally {
      await dir.remove();
    }
  });

  test('a proxy answering 403 is proxy_forbidden; one that is not there is proxy_unreachable', async () => {
    const server = createServer((s) => {
      s.once('data', () => s.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const s = proxySettingsFromEnv({ HTTPS_PROXY: `http://127.0.0.1:${port}` });
      const proxy = s.https;
      assert.ok(proxy);
      await assert.rejects(
        openTunnel(proxy, { host: 'relay.example', port: 443 }),
        (e: unknown) => e instanceof AgentError && e.code === 'proxy_forbidden',
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const gone = proxySettingsFromEnv({ HTTPS_PROXY: `http://127.0.0.1:${port}` }).https;
    assert.ok(gone);
    await assert.rejects(
      openTunnel(gone, { host: 'relay.example', port: 443 }),
      (e: unknown) => e instanceof AgentError && e.code === 'proxy_unreachable',
    );
  });
});

describe('through a real tinyproxy with Basic auth', { skip: !TINYPROXY_BIN && 'tinyproxy is not installed' }, () => {
  const user = 'wbagent';
  const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let proxy: Tinyproxy;
  let fx: HubFixture;
  let authFile: string;
  let wrongAuthFile: string;
  const running: RunningAgent[] = [];

  before(async () => {
    dir = await tempDir();
    proxy = await startTinyproxy(dir.path, { user, password });
    fx = await startHub(cloud);
    authFile = join(dir.path, 'proxy-auth');
    await writeFile(authFile, `${user}:${password}\n`, { mode: 0o600 });
    wrongAuthFile = join(dir.path, 'proxy-auth-wrong');
    await writeFile(wrongAuthFile, `${user}:not-the-password\n`, { mode: 0o600 });
  });
  after(async () => {
    for (const a of running) await a.stop();
    await fx?.close();
    await proxy?.stop();
    await dir?.remove();
  });

  async function agentVia(env: Record<string, string>, state: AgentState, log = captureLog()) {
    const agent = await startAgent({
      state,
      directory: new FakeDirectory(),
      log: log.log,
      proxy: proxySettingsFromEnv(env),
      backoff: fastBackoff,
    });
    running.push(agent);
    return agent;
  }

  test('the agent tunnels through the proxy (the CONNECT is in its log), requests succeed, no password is logged', async () => {
    const state = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-px', tenantId: 'tenant-px' });
    const log = captureLog();
    const agent = await agentVia({ HTTP_PROXY: proxy.url, WRITEBACK_PROXY_AUTH_FILE: authFile }, state, log);
    await agent.ready();
    assert.ok(
      proxy.requests().includes(`CONNECT 127.0.0.1:${fx.port} HTTP/1.1`),
      `tinyproxy logged the tunnel:\n${proxy.requests().join('\n')}`,
    );
    assert.equal(agent.status()[0]?.proxy, proxy.url);
    for (let i = 0; i < 3; i++) assert.equal(await resetOutcome(cloud, fx.hub.client(), state), 'succeeded');
    const basic = Buffer.from(`${user}:${password}`).toString('base64');
    for (const line of log.lines) {
      assert.ok(!line.includes(password) && !line.includes(basic), `no credentials in ${line}`);
    }
    assert.ok(
      log.lines.some((l) => l.includes(proxy.url)),
      'the log names the proxy',
    );
  });

  test('a wrong password: the link says proxy_auth_failed and never gets in; doctor fails proxy.connect with that code', async () => {
    const state = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-px-bad', tenantId: 'tenant-px-bad' });
    const env = { HTTP_PROXY: proxy.url, WRITEBACK_PROXY_AUTH_FILE: wrongAuthFile };
    const log = captureLog();
    const agent = await agentVia(env, state, log);
    await waitFor(() => agent.status()[0]?.lastError === 'proxy_auth_failed', { what: 'proxy_auth_failed' });
    assert.notEqual(agent.status()[0]?.status, 'ready');
    assert.equal((await fx.hub.client().listAgents('tenant-px-bad')).length, 0);
    assert.ok(log.lines.every((l) => !l.includes('not-the-password')));

    const statePath = join(dir.path, 'state-bad.json');
    await writeState(statePath, state);
    const report = await runDoctor({ statePath, env, timeoutMs: 5_000, log: captureLog().log });
    const check = (id: string) => report.checks.find((c) => c.id === id);
    assert.equal(check('proxy')?.status, 'pass');
    assert.ok(check('proxy')?.summary.includes(`via ${proxy.url}`), check('proxy')?.summary);
    assert.equal(check('proxy.connect')?.status, 'fail');
    assert.equal(check('proxy.connect')?.code, 'proxy_auth_failed');
    assert.ok(check('proxy.connect')?.fix);
    assert.equal(check('relay.reach')?.status, 'fail');
    assert.equal(check('relay.auth')?.status, 'fail');
    assert.equal(report.status, 'fail');
    assert.ok(!JSON.stringify(report).includes('not-the-password'));

    // No credentials at all: the same code (the proxy asks for them).
    const none = await runDoctor({
      statePath,
      env: { HTTP_PROXY: proxy.url },
      timeoutMs: 5_000,
      log: captureLog().log,
    });
    assert.equal(none.checks.find((c) => c.id === 'proxy.connect')?.code, 'proxy_auth_failed');
  });

  test('doctor through the proxy: proxy says the route, proxy.connect, relay.reach and relay.auth pass', async () => {
    const state = makeState(cloud, { relayUrl: fx.url, agentId: 'agent-px-doc', tenantId: 'tenant-px-doc' });
    const statePath = join(dir.path, 'state-doc.json');
    await writeState(statePath, state);
    const report = await runDoctor({
      statePath,
      env: { HTTP_PROXY: proxy.url, WRITEBACK_PROXY_AUTH_FILE: authFile },
      timeoutMs: 5_000,
      log: captureLog().log,
    });
    for (const id of ['proxy', 'proxy.connect', 'relay.reach', 'relay.auth', 'clock_skew'])
      assert.equal(report.checks.find((c) => c.id === id)?.status, 'pass', JSON.stringify(report.checks));
  });

  test('NO_PROXY sends the relay direct: no CONNECT reaches the proxy', async () => {
    const other = await startHub(cloud);
    try {
      const state = makeState(cloud, { relayUrl: other.url, agentId: 'agent-np', tenantId: 'tenant-np' });
      const agent = await agentVia(
        { HTTP_PROXY: proxy.url, WRITEBACK_PROXY_AUTH_FILE: authFile, NO_PROXY: 'localhost,127.0.0.1' },
        state,
      );
      await agent.ready();
      assert.equal(await resetOutcome(cloud, other.hub.client(), state), 'succeeded');
      assert.equal(agent.status()[0]?.proxy, null);
      assert.ok(!proxy.requests().some((r) => r.includes(`:${other.port} `)), proxy.requests().join('\n'));
      await agent.stop();
    } finally {
      await other.close();
    }
  });

  test("wss:// through HTTPS_PROXY: TLS inside the tunnel, the relay's CA from WRITEBACK_PROXY_CA_FILE", async (t) => {
    const tls = await startTlsHub(cloud, dir.path);
    if (!tls) return t.skip('openssl not available');
    try {
      const state = makeState(cloud, {
        relayUrl: `wss://localhost:${tls.port}/agent`,
        agentId: 'agent-pxtls',
        tenantId: 'tenant-pxtls',
      });
      const env = { HTTPS_PROXY: proxy.url, WRITEBACK_PROXY_AUTH_FILE: authFile };
      // Without the CA the certificate is refused inside the tunnel.
      const refused = await agentVia(env, state);
      await waitFor(() => refused.status()[0]?.lastError === 'socket_error', { what: 'the TLS refusal' });
      await refused.stop();
      const agent = await agentVia({ ...env, WRITEBACK_PROXY_CA_FILE: tls.caFile }, state);
      await agent.ready();
      assert.ok(proxy.requests().includes(`CONNECT localhost:${tls.port} HTTP/1.1`), proxy.requests().join('\n'));
      assert.equal(await resetOutcome(cloud, tls.hub.client(), state), 'succeeded');
    } finally {
      await tls.close();
    }
  });

  test('registration goes through the proxy too (and keeps the relay list the cloud hands out)', async () => {
    const fake = await startFakeCloud((raw) => {
      const body = raw as { name: string; signingKey: string; encryptionKey: string };
      const certificate = issueAgentCertificate(
        {
          agentId: 'agent-reg',
          tenantId: 'tenant-reg',
          name: body.name,
          signingKey: body.signingKey,
          encryptionKey: body.encryptionKey,
          issuedAt: Date.now(),
        },
        cloud.signingKey,
      );
      return {
        status: 201,
        body: {
          agentId: 'agent-reg',
          tenantId: 'tenant-reg',
          certificate,
          cloudSigningKey: cloud.publicKey,
          relayUrl: 'wss://r1.example.test/agent',
          relayUrls: ['wss://r1.example.test/agent', 'wss://r2.example.test/agent'],
        },
      };
    });
    try {
      const port = new URL(fake.url).port;
      const state = await registerAgent({
        cloudUrl: fake.url,
        token: 'tok.secret',
        name: 'behind-proxy',
        statePath: join(dir.path, 'registered.json'),
        directory: { kind: 'embedded' },
        proxy: proxySettingsFromEnv({ HTTP_PROXY: proxy.url, WRITEBACK_PROXY_AUTH_FILE: authFile }),
        fetch: () => Promise.reject(new Error('fetch must not be used through a proxy')),
        log: captureLog().log,
      });
      assert.equal(fake.received.length, 1);
      assert.ok(proxy.requests().includes(`CONNECT 127.0.0.1:${port} HTTP/1.1`), proxy.requests().join('\n'));
      assert.deepEqual(state.relayUrls, ['wss://r1.example.test/agent', 'wss://r2.example.test/agent']);
      // A wrong password: the proxy's code, not cloud_unreachable.
      await assert.rejects(
        registerAgent({
          cloudUrl: fake.url,
          token: 'tok.secret',
          name: 'behind-proxy',
          statePath: join(dir.path, 'registered-2.json'),
          directory: { kind: 'embedded' },
          proxy: proxySettingsFromEnv({ HTTP_PROXY: proxy.url, WRITEBACK_PROXY_AUTH_FILE: wrongAuthFile }),
          log: captureLog().log,
        }),
        (e: unknown) => e instanceof AgentError && e.code === 'proxy_auth_failed',
      );
      assert.equal(fake.received.length, 1);
    } finally {
      await fake.close();
    }
  });
});
