/**
 * Registration against a real HTTP server playing the cloud, the state file (0600, atomic, checked
 * on load), and the CLI's register/status commands.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  PublicKeySchema,
  generateSigningKeyPair,
  issueAgentCertificate,
  privateKeyObject,
  verifyAgentCertificate,
} from '@writeback/protocol';
import { AgentError, loadState, registerAgent, runCli, writeState } from '../src/index.js';
import { captureCliIo, captureLog, makeCloud, makeState, startFakeCloud, tempDir } from './fixtures.js';

const cloud = makeCloud();
const GOOD_TOKEN = 'tok_abc.s3cret';
const RegisterBody = z.object({
  token: z.string(),
  name: z.string(),
  signingKey: PublicKeySchema,
  encryptionKey: PublicKeySchema,
  agentVersion: z.string(),
  directory: z.string(),
});

/** The cloud's register endpoint: issues a certificate for the keys it was sent. */
function cloudHandler(opts: { issuer?: ReturnType<typeof makeCloud> } = {}) {
  let n = 0;
  return (raw: unknown) => {
    const body = RegisterBody.safeParse(raw);
    if (!body.success) return { status: 400, body: { error: { code: 'invalid_request', message: 'bad body' } } };
    if (body.data.token !== GOOD_TOKEN)
      return { status: 401, body: { error: { code: 'invalid_token', message: 'unknown token' } } };
    const agentId = `agent-${++n}`;
    const certificate = issueAgentCertificate(
      {
        agentId,
        tenantId: 'tenant-1',
        name: body.data.name,
        signingKey: body.data.signingKey,
        encryptionKey: body.data.encryptionKey,
        issuedAt: Date.now(),
      },
      (opts.issuer ?? cloud).signingKey,
    );
    return {
      status: 201,
      body: {
        agentId,
        tenantId: 'tenant-1',
        certificate,
        cloudSigningKey: cloud.publicKey,
        relayUrl: 'wss://relay.example.test/agent',
      },
    };
  };
}

async function rejects(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (e: unknown) => e instanceof AgentError && e.code === code);
}

describe('registerAgent', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let fake: Awaited<ReturnType<typeof startFakeCloud>>;
  before(async () => {
    dir = await tempDir();
    fake = await startFakeCloud(cloudHandler());
  });
  after(async () => {
    await fake.close();
    await dir.remove();
  });

  test('sends only public keys, verifies the certificate, and writes a 0600 state file', async () => {
    const statePath = join(dir.path, 'agent.json');
    const { log, lines } = captureLog();
    const state = await registerAgent({
      cloudUrl: fake.url,
      token: GOOD_TOKEN,
      name: 'dc-site-1',
      statePath,
      directory: { kind: 'embedded', path: '/tmp/x' },
      log,
    });
    const sent = RegisterBody.parse(fake.received.at(-1));
    assert.equal(sent.directory, 'embedded');
    assert.equal(sent.signingKey, state.signing.publicKey);
    assert.equal(sent.encryptionKey, state.encryption.publicKey);
    assert.ok(!JSON.stringify(fake.received).includes(state.signing.privateJwk.d), 'private key never sent');
    assert.ok(!JSON.stringify(fake.received).includes(state.encryption.privateJwk.d), 'private key never sent');

    assert.equal((await stat(statePath)).mode & 0o777, 0o600);
    const loaded = await loadState(statePath);
    assert.deepEqual(loaded, state);
    assert.equal(loaded.agentId, 'agent-1');
    assert.equal(loaded.relayUrl, 'wss://relay.example.test/agent');
    assert.deepEqual(loaded.directory, { kind: 'embedded', path: '/tmp/x' });
    assert.ok(verifyAgentCertificate(loaded.certificate, cloud.verifyKey));
    // Atomic write leaves no temp files behind.
    assert.deepEqual(await readdir(dir.path), ['agent.json']);
    assert.ok(!lines.some((l) => l.includes(GOOD_TOKEN)), 'the token is never logged');
  });

  test('a bad token → invalid_token, and no state file', async () => {
    const statePath = join(dir.path, 'bad-token.json');
    await assert.rejects(
      registerAgent({
        cloudUrl: fake.url,
        token: 'tok_wrong.x',
        name: 'n',
        statePath,
        directory: { kind: 'ad' },
        log: captureLog().log,
      }),
      (e: unknown) =>
        e instanceof AgentError &&
        e.code === 'invalid_token' &&
        e.cloudCode === 'invalid_token' &&
        !e.message.includes('tok_wrong'),
    );
    await assert.rejects(stat(statePath));
  });

  test('an existing state file is not overwritten (checked before the token is spent)', async () => {
    const statePath = join(dir.path, 'exists.json');
    await writeFile(statePath, '{}', { mode: 0o600 });
    const before = fake.received.length;
    await rejects(
      registerAgent({
        cloudUrl: fake.url,
        token: GOOD_TOKEN,
        name: 'n',
        statePath,
        directory: { kind: 'ad' },
        log: captureLog().log,
      }),
      'state_exists',
    );
    assert.equal(fake.received.length, before);
  });

  test('a certificate not signed by the cloud key it sent → bad_cloud_response', async () => {
    const rogue = await startFakeCloud(cloudHandler({ issuer: makeCloud() }));
    try {
      await rejects(
        registerAgent({
          cloudUrl: rogue.url,
          token: GOOD_TOKEN,
          name: 'n',
          statePath: join(dir.path, 'rogue.json'),
          directory: { kind: 'ad' },
          log: captureLog().log,
        }),
        'bad_cloud_response',
      );
    } finally {
      await rogue.close();
    }
  });

  test('other refusals and transport problems have their own codes', async () => {
    const statePath = join(dir.path, 'x.json');
    const log = captureLog().log;
    await rejects(
      registerAgent({
        cloudUrl: 'http://cloud.example.test',
        token: GOOD_TOKEN,
        name: 'n',
        statePath,
        directory: { kind: 'ad' },
        log,
      }),
      'insecure_url',
    );
    await rejects(
      registerAgent({
        cloudUrl: 'http://127.0.0.1:1',
        token: GOOD_TOKEN,
        name: 'n',
        statePath,
        directory: { kind: 'ad' },
        log,
      }),
      'cloud_unreachable',
    );
    await rejects(
      registerAgent({ cloudUrl: fake.url, token: GOOD_TOKEN, name: 'n', statePath, directory: { nokind: true }, log }),
      'invalid_config',
    );
    const teapot = await startFakeCloud(() => ({ status: 403, body: { error: { code: 'tenant_suspended' } } }));
    try {
      await assert.rejects(
        registerAgent({
          cloudUrl: teapot.url,
          token: GOOD_TOKEN,
          name: 'n',
          statePath,
          directory: { kind: 'ad' },
          log,
        }),
        (e: unknown) =>
          e instanceof AgentError && e.code === 'registration_refused' && e.cloudCode === 'tenant_suspended',
      );
    } finally {
      await teapot.close();
    }
    const garbage = await startFakeCloud(() => ({ status: 201, body: { agentId: 'a' } }));
    try {
      await rejects(
        registerAgent({
          cloudUrl: garbage.url,
          token: GOOD_TOKEN,
          name: 'n',
          statePath,
          directory: { kind: 'ad' },
          log,
        }),
        'bad_cloud_response',
      );
    } finally {
      await garbage.close();
    }
  });
});

describe('state file', () => {
  test('a state file readable by group or others is refused', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'state.json');
      await writeState(path, makeState(cloud));
      await loadState(path);
      for (const mode of [0o640, 0o604, 0o644]) {
        await chmod(path, mode);
        await rejects(loadState(path), 'state_insecure_permissions');
      }
    } finally {
      await dir.remove();
    }
  });

  test('missing, non-JSON, or mismatched parts are refused with their codes', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'state.json');
      await rejects(loadState(path), 'state_not_found');
      await writeFile(path, 'not json', { mode: 0o600 });
      await rejects(loadState(path), 'state_invalid');
      const state = makeState(cloud);
      const other = generateSigningKeyPair();
      // Someone swapped the signing key: it no longer matches the certificate.
      await writeFile(path, JSON.stringify({ ...state, signing: other }), { mode: 0o600 });
      await rejects(loadState(path), 'state_invalid');
      // A certificate signed by another cloud.
      const forged = issueAgentCertificate(
        { ...state.certificate },
        privateKeyObject(generateSigningKeyPair().privateJwk),
      );
      await writeFile(path, JSON.stringify({ ...state, certificate: forged }), { mode: 0o600 });
      await rejects(loadState(path), 'state_invalid');
    } finally {
      await dir.remove();
    }
  });
});

describe('CLI', () => {
  test('register then status; the token can come from the environment', async () => {
    const dir = await tempDir();
    const fake = await startFakeCloud(cloudHandler());
    try {
      const statePath = join(dir.path, 'agent.json');
      const dirFile = join(dir.path, 'directory.json');
      await writeFile(dirFile, JSON.stringify({ kind: 'openldap', url: 'ldaps://ldap.example.test' }));
      const cli = captureCliIo({ WRITEBACK_AGENT_TOKEN: GOOD_TOKEN });
      const io = cli.io;
      const code = await runCli(
        ['register', '--cloud', fake.url, '--name', 'site-1', '--state', statePath, '--directory', `@${dirFile}`],
        io,
      );
      assert.equal(code, 0, cli.err);
      assert.match(cli.out, /agent-1/);
      assert.equal((await stat(statePath)).mode & 0o777, 0o600);
      assert.ok(!cli.err.includes(GOOD_TOKEN));

      cli.out = '';
      assert.equal(await runCli(['status', '--state', statePath, '--json'], io), 0);
      const status = z
        .object({ agentId: z.string(), directory: z.string(), daemon: z.null() })
        .parse(JSON.parse(cli.out));
      assert.deepEqual(status, { ...status, agentId: 'agent-1', directory: 'openldap', daemon: null });
      const saved = z
        .object({ directory: z.object({ url: z.string() }) })
        .parse(JSON.parse(await readFile(statePath, 'utf8')));
      assert.equal(saved.directory.url, 'ldaps://ldap.example.test');
    } finally {
      await fake.close();
      await dir.remove();
    }
  });

  test('usage errors exit 2, runtime errors exit 1 with the code', async () => {
    const cli = captureCliIo();
    const io = cli.io;
    assert.equal(await runCli(['--help'], io), 0);
    assert.match(cli.out, /register/);
    assert.equal(await runCli(['bogus'], io), 2);
    assert.equal(await runCli(['register', '--cloud', 'https://x'], io), 2);
    assert.equal(await runCli(['run', '--state', '/x', '--connections', '99'], io), 2);
    assert.equal(await runCli(['status', '--state', '/x', '--unknown-flag'], io), 2);
    cli.err = '';
    assert.equal(await runCli(['status', '--state', '/nonexistent/state.json'], io), 1);
    assert.match(cli.err, /\[state_not_found\]/);
  });
});
