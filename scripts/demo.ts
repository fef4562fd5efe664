/**
 * The demo system on embedded defaults: the cloud (HTTP API + in-process relay + SQLite store), one
 * registered agent as its own process, and the embedded directory with a demo tenant and users.
 * State lives in DATA_DIR (default .data/); a second start reuses it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { registerAgent } from '@writeback/agent';
import { createCloud, useStderrLogging, type Mailer, type SmsProvider } from '@writeback/cloud';
import { HASH_COST, openEmbeddedDirectory } from '@writeback/directory';
import { createLogger } from '@writeback/protocol';

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
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const cloud = await createCloud(
    { port, databaseUrl: `sqlite:${join(dataDir, 'writeback.db')}` },
    // The first start writes the operator key to DATA_DIR/operator.key (0600); the banner says where.
    { log, mailer: outboxMailer, sms: outboxSms },
  );
  const demoPath = join(dataDir, 'demo.json');
  let demo: Demo;
  if (existsSync(demoPath)) demo = DemoSchema.parse(JSON.parse(await readFile(demoPath, 'utf8')));
  else {
    demo = await firstRun(cloud.url, (o) => cloud.bootstrap(o));
    await writeFile(demoPath, JSON.stringify(demo, null, 2), { mode: 0o600 });
    await chmod(demoPath, 0o600);
  }

  const agent = spawn(
    process.execPath,
    [join(root, 'packages/agent/bin/writeback-agent.js'), 'run', '--state', join(dataDir, 'agent.json')],
    {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const until = Date.now() + 15_000;
  while ((await cloud.relayClient.allAgents()).length === 0 && Date.now() < until)
    await new Promise((r) => setTimeout(r, 50));
  const connected = (await cloud.relayClient.allAgents()).length;
  // The cloud syncs the directory's users on its own (every second); wait for the first full sync.
  const tenant = (await cloud.bootstrap({ tenant: { slug: demo.tenant } })).tenant;
  const syncUntil = Date.now() + 15_000;
  while (connected && tenant && !(await cloud.sync.hasSynced(tenant.id)) && Date.now() < syncUntil)
    await new Promise((r) => setTimeout(r, 100));
  const synced = tenant ? await cloud.sync.status(tenant.id) : null;

  const u = cloud.url;
  const k = demo.apiKey;
  const operatorKeyFile = join(dataDir, 'operator.key');
  const operatorKey = existsSync(operatorKeyFile)
    ? `in ${operatorKeyFile} (readable by you only; never printed)
  curl -s ${u}/api/v1/tenants -H "authorization: Bearer $(cat ${operatorKeyFile})"`
    : `not on disk (deleted, or made before keys were written to a file). A new one (revokes the old):
  DATABASE_URL=sqlite:${join(dataDir, 'writeback.db')} node --import tsx packages/cloud/src/main.ts bootstrap-operator-key --rotate`;
  process.stdout.write(`
writeback is running on ${u}  (agent ${connected ? 'connected' : 'NOT connected yet'}; data in ${dataDir})

Tenant "demo". Admin API key (keep it; it is stored hashed):
  ${k}
Admin account: ${demo.admin.login} / ${demo.admin.password}
Operator API key (creates tenants, manages every one; see docs/operations.md) ${operatorKey}

Demo users in the embedded directory (${synced?.firstFullSyncAt ? `synced to the cloud: ${synced.total} users` : 'not synced yet'}):
${USERS.map((x) => `  ${x.login.padEnd(6)} ${demo.users[x.login]?.padEnd(20)} ${x.note}`).join('\n')}

In a browser:
  ${u}/t/demo/signin          self-service: sign in (e.g. alice), change the password, set up methods
  ${u}/t/demo/forgot          forgot password (codes "sent" by mail land in ${outbox}/)
  ${u}/t/demo/admin/signin    admin portal: ${demo.admin.login} / ${demo.admin.password}, then enrol an authenticator app (TOTP)

Try it with the API:
  # admin reset (set, or omit newPassword to generate one shown once)
  curl -s -X POST ${u}/api/v1/tenants/demo/users/alice/password/reset -H 'authorization: Bearer ${k}' -H 'content-type: application/json' -d '{"newPassword":"Sunny-Day-2025!","forceChange":false}'
  # a policy failure says which rule and what the rule is
  curl -s -X POST ${u}/api/v1/tenants/demo/users/alice/password/reset -H 'authorization: Bearer ${k}' -H 'content-type: application/json' -d '{"newPassword":"short"}'
  # user change (current + new); the directory checks the current password in the same write
  curl -s -X POST ${u}/api/v1/tenants/demo/password/change -H 'content-type: application/json' -d '{"username":"bob","currentPassword":"${demo.users.bob}","newPassword":"River-Stone-2025!"}'
  # minimum age (fine-grained policy): says when the next change is allowed
  curl -s -X POST ${u}/api/v1/tenants/demo/password/change -H 'content-type: application/json' -d '{"username":"frank","currentPassword":"${demo.users.frank}","newPassword":"Harbor-Night-2025!!"}'
  # effective policy, protected and disabled accounts, unlock, audit log
  curl -s ${u}/api/v1/tenants/demo/users/frank/policy -H 'authorization: Bearer ${k}'
  curl -s -X POST ${u}/api/v1/tenants/demo/users/dave/password/reset -H 'authorization: Bearer ${k}' -H 'content-type: application/json' -d '{"newPassword":"Valid-Pass-2025!"}'
  curl -s -X POST ${u}/api/v1/tenants/demo/users/carol/unlock -H 'authorization: Bearer ${k}'
  curl -s ${u}/api/v1/tenants/demo/audit -H 'authorization: Bearer ${k}'
  curl -s ${u}/healthz ; curl -s ${u}/openapi.json | head -c 300
  # the users the cloud synced from the directory, one user (is writeback offered?), the sync state
  curl -s '${u}/api/v1/tenants/demo/users?search=a' -H 'authorization: Bearer ${k}'
  curl -s ${u}/api/v1/tenants/demo/users/carol -H 'authorization: Bearer ${k}'
  curl -s ${u}/api/v1/tenants/demo/sync -H 'authorization: Bearer ${k}'
  # end-user sign-in: the first goes to the directory (pass-through), the next uses the cloud's own hash
  curl -s -X POST ${u}/api/v1/tenants/demo/sign-in -H 'content-type: application/json' -d '{"login":"alice@demo.example","password":"${demo.users.alice}"}'
  # sign-in mode and the mass-delete guard are tenant settings
  curl -s -X PATCH ${u}/api/v1/tenants/demo/settings -H 'authorization: Bearer ${k}' -H 'content-type: application/json' -d '{"signIn":{"mode":"pass_through"}}'
Stop the agent (Ctrl-Z / kill ${agent.pid}) and try again: agent_unavailable, at once.

Ctrl-C stops everything. Delete ${dataDir} to start from scratch.
`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    await cloud.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  agent.on('exit', (code) => {
    if (!stopping) process.stderr.write(`agent exited (${code}); the API now answers agent_unavailable\n`);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`writeback demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
