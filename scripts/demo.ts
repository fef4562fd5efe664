/**
 * The demo system on embedded defaults: the cloud (HTTP API + in-process relay + SQLite store), one
 * registered agent as its own process, and the embedded directory with a demo tenant and users.
 * State lives in DATA_DIR (default .data/); a second start reuses it, and its agent follows the port
 * the cloud runs on now (PORT may change between starts).
 *
 * Nothing of the demo outlives it (issue 12): its agent ends when the demo's process does, however
 * it ends (demo-agent-guard.mjs), and the demo ends when `npm start` is stopped, even by a SIGTERM
 * to npm, which does not reach us through npm's shell (demo-lifetime.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { loadState, registerAgent, writeState } from '@writeback/agent';
import { createCloud, useStderrLogging, type Mailer, type SmsProvider } from '@writeback/cloud';
import { HASH_COST, openEmbeddedDirectory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';
import { demoExamples, formatExamples } from './demo-examples.js';
import { onLauncherGone, stopAgentProcess } from './demo-lifetime.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const dataDir = resolve(process.env.DATA_DIR ?? join(root, '.data'));
const port = Number(process.env.PORT ?? 8080);
useStderrLogging();
const log = createLogger({ name: 'demo', level: (process.env.LOG_LEVEL as 'info' | undefined) ?? 'warn' });

const DemoSchema = z.object({
  tenant: z.string(),
  apiKey: z.string(),
  admin: z.object({ login: z.string(), password: z.string() }),
  users: z.record(z.string(), z.string()),
});
type Demo = z.infer<typeof DemoSchema>;

const USERS = [
  { login: 'alice', displayName: 'Alice Martin', password: 'Orchid-Rain-2024!', note: 'ordinary user' },
  { login: 'bob', displayName: 'Bob Stone', password: 'Pebble-Wind-2024!', note: 'ordinary user' },
  {
    login: 'carol',
    displayName: 'Carol Reed',
    password: 'Meadow-Lake-2024!',
    note: 'disabled account',
    enabled: false,
  },
  {
    login: 'dave',
    displayName: 'Dave Admin',
    password: 'Granite-Peak-2024!',
    note: 'protected (admin) account',
    protected: true,
  },
  {
    login: 'frank',
    displayName: 'Frank Strict',
    password: 'Harbor-Light-2024!',
    note: 'fine-grained policy: 14 characters, 1-day minimum age',
    policyName: 'strict',
  },
] as const;

async function firstRun(
  cloudUrl: string,
  bootstrap: Awaited<ReturnType<typeof createCloud>>['bootstrap'],
): Promise<Demo> {
  const adminPassword = `Admin-${Math.random().toString(36).slice(2, 10)}-9!`;
  const boot = await bootstrap({
    tenant: { slug: 'demo', name: 'Demo Corp' },
    apiKey: { name: 'demo key' },
    admin: { login: 'admin', password: adminPassword, role: 'admin' },
    agentToken: true,
  });
  const directoryConfig = {
    kind: 'embedded' as const,
    path: join(dataDir, 'directory'),
    // The demo favours speed over hash strength; production agents use the standard cost.
    hash: { ...HASH_COST.fast },
    policy: {
      minLength: 10,
      complexity: true,
      historyLength: 24,
      minAgeSeconds: 0,
      maxAgeSeconds: 0,
      lockoutThreshold: 5,
      lockoutDurationSeconds: 900,
    },
  };
  const directory = await openEmbeddedDirectory(directoryConfig, { log });
  await directory.definePolicy('strict', { minLength: 14, minAgeSeconds: 86_400 });
  for (const u of USERS) {
    await directory.createUser({
      login: u.login,
      displayName: u.displayName,
      mail: `${u.login}@demo.example`,
      groups: ['staff'],
      password: u.password,
      enabled: 'enabled' in u ? u.enabled : true,
      protected: 'protected' in u ? u.protected : false,
      ...('policyName' in u ? { policyName: u.policyName } : {}),
    });
  }
  await directory.close();
  await registerAgent({
    cloudUrl,
    token: boot.agentToken?.token ?? '',
    name: 'demo-agent',
    statePath: join(dataDir, 'agent.json'),
    directory: directoryConfig,
    log,
  });
  return {
    tenant: 'demo',
    apiKey: boot.apiKey ?? '',
    admin: { login: 'admin', password: adminPassword },
    users: Object.fromEntries(USERS.map((u) => [u.login, u.password])),
  };
}

/**
 * The demo has no mail server: mail and text messages (one-time codes of the forgot-password flow,
 * change notifications) are written as files into DATA_DIR/outbox, readable by this user only, in
 * place of a delivery. The log says only that one was written. (SMTP_HOST configures real mail.)
 */
const outbox = join(dataDir, 'outbox');
let outboxSeq = 0;
async function toOutbox(to: string, body: string): Promise<void> {
  await mkdir(outbox, { recursive: true, mode: 0o700 });
  const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${++outboxSeq}-${to.replace(/[^A-Za-z0-9@.+-]/g, '_')}.txt`;
  await writeFile(join(outbox, name), body, { mode: 0o600 });
}
const outboxMailer: Mailer = {
  kind: 'memory',
  send: (m) => toOutbox(m.to, `To: ${m.to}\nSubject: ${m.subject}\n\n${m.text}\n`),
  close: async () => {},
};
const outboxSms: SmsProvider = { kind: 'outbox', send: (m) => toOutbox(m.to, `SMS to ${m.to}\n\n${m.text}\n`) };

async function main() {
  let cloud: Awaited<ReturnType<typeof createCloud>> | null = null;
  let agent: ChildProcess | null = null;
  let agentExited: Promise<void> = Promise.resolve();
  let stopping = false;
  // However it is stopped (Ctrl-C, SIGTERM, the terminal closing, npm stopped): the agent first,
  // then the cloud. Bounded: a stop that hangs still ends the process.
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info('demo stopping', { why });
    setTimeout(() => {
      process.stderr.write('writeback demo: the stop did not finish within 20 s; exiting anyway\n');
      process.exit(1);
    }, 20_000).unref();
    if (agent) await stopAgentProcess(agent, agentExited);
    await cloud?.close();
    process.stderr.write(`writeback demo stopped (${why})\n`);
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
  onLauncherGone(() => void stop('launcher gone'));

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const started = await createCloud(
    { port, databaseUrl: `sqlite:${join(dataDir, 'writeback.db')}` },
    // The first start writes the operator key to DATA_DIR/operator.key (0600); the banner says where.
    { log, mailer: outboxMailer, sms: outboxSms },
  );
  cloud = started;
  const demoPath = join(dataDir, 'demo.json');
  const statePath = join(dataDir, 'agent.json');
  let demo: Demo;
  const again = existsSync(demoPath);
  if (again) demo = DemoSchema.parse(JSON.parse(await readFile(demoPath, 'utf8')));
  else {
    demo = await firstRun(started.url, (o) => started.bootstrap(o));
    await writeFile(demoPath, JSON.stringify(demo, null, 2), { mode: 0o600 });
    await chmod(demoPath, 0o600);
  }
  await followCloud(statePath, started);

  agent = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(root, 'scripts/demo-agent-guard.mjs')).href,
      join(root, 'packages/agent/bin/writeback-agent.js'),
      'run',
      '--state',
      statePath,
    ],
    {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
      // stdin: a pipe the agent watches; it closes when this process ends, whatever ends it.
      stdio: ['pipe', 'inherit', 'inherit'],
    },
  );
  const child = agent;
  agentExited = new Promise((resolve) => child.once('exit', () => resolve()));
  child.on('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`agent exited (${code ?? signal}); the API now answers agent_unavailable\n`);
  });
  const relay = started.relayClient;
  const until = Date.now() + 15_000;
  while ((await relay.allAgents()).length === 0 && Date.now() < until && !stopping)
    await new Promise((r) => setTimeout(r, 50));
  const connected = (await relay.allAgents()).length;
  // The cloud syncs the directory's users on its own (every second); wait for the first full sync.
  const tenant = (await started.bootstrap({ tenant: { slug: demo.tenant } })).tenant;
  const syncUntil = Date.now() + 15_000;
  while (connected && tenant && !(await started.sync.hasSynced(tenant.id)) && Date.now() < syncUntil && !stopping)
    await new Promise((r) => setTimeout(r, 100));
  const synced = tenant ? await started.sync.status(tenant.id) : null;
  if (stopping) return;
  process.stdout.write(banner({ cloud: started, demo, again, connected: connected > 0, synced, agentPid: child.pid }));
}

/**
 * The agent's state names the cloud and relay URL of its registration; a later start on another
 * PORT moves them (the demo's agent dialed the old port forever). Rewritten 0600, atomically.
 */
async function followCloud(statePath: string, cloud: { url: string; relayUrl: string }): Promise<void> {
  const state = await loadState(statePath);
  const cloudUrl = new URL(cloud.url).href;
  if (state.cloudUrl === cloudUrl && state.relayUrl === cloud.relayUrl && !state.relayUrls) return;
  const { relayUrls: _old, ...rest } = state;
  await writeState(statePath, { ...rest, cloudUrl, relayUrl: cloud.relayUrl });
  process.stderr.write(
    `the cloud runs on ${cloud.url} now: the demo's agent dials ${cloud.relayUrl} (was ${state.relayUrl})\n`,
  );
}

function banner(o: {
  cloud: { url: string };
  demo: Demo;
  again: boolean;
  connected: boolean;
  synced: { firstFullSyncAt?: unknown; total?: number } | null;
  agentPid: number | undefined;
}): string {
  const { demo } = o;
  const u = o.cloud.url;
  const k = demo.apiKey;
  const operatorKeyFile = join(dataDir, 'operator.key');
  const operatorKey = existsSync(operatorKeyFile)
    ? `in ${operatorKeyFile} (readable by you only; never printed)
  curl -s ${u}/api/v1/tenants -H "authorization: Bearer $(cat ${operatorKeyFile})"`
    : `not on disk (deleted, or made before keys were written to a file). A new one (revokes the old):
  DATABASE_URL=sqlite:${join(dataDir, 'writeback.db')} node --import tsx packages/cloud/src/main.ts bootstrap-operator-key --rotate`;
  const tag = String(Math.floor(1000 + Math.random() * 9000));
  const examples = formatExamples(demoExamples({ url: u, apiKey: k, users: demo.users, tag }));
  return `
writeback is running on ${u}  (agent ${o.connected ? 'connected' : 'NOT connected yet'}; data in ${dataDir})

Tenant "demo". Admin API key (keep it; it is stored hashed):
  ${k}
Admin account: ${demo.admin.login} / ${demo.admin.password}
Operator API key (creates tenants, manages every one; see docs/operations.md) ${operatorKey}

Demo users in the embedded directory (${o.synced?.firstFullSyncAt ? `synced to the cloud: ${o.synced.total} users` : 'not synced yet'}):
${USERS.map((x) => `  ${x.login.padEnd(6)} ${demo.users[x.login]?.padEnd(20)} ${x.note}`).join('\n')}${
  o.again
    ? `
  (the passwords the demo set at its first start: examples or pages you used since may have changed
  them, and frank's minimum age ends a day after it; delete ${dataDir} to start from scratch)`
    : ''
}

In a browser:
  ${u}/t/demo/signin          self-service: sign in (e.g. alice), change the password, set up methods
  ${u}/t/demo/forgot          forgot password (codes "sent" by mail land in ${outbox}/)
  ${u}/t/demo/admin/signin    admin portal: ${demo.admin.login} / ${demo.admin.password}, then enrol an authenticator app (TOTP)

Try it with the API, in this order (each says what it shows → the outcome it ends in):
${examples}
  # ${u}/openapi.json describes every endpoint.
Stop the agent (kill ${o.agentPid}) and run example 1 again: agent_unavailable, at once, nothing written.

Ctrl-C stops everything. Delete ${dataDir} to start from scratch.
`;
}

main().catch((err: unknown) => {
  process.stderr.write(`writeback demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
