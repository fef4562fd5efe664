/**
 * `npm run bench:oracles`: does the time of an answer tell whether an account exists (issue 10)?
 * Against the whole system (cloud + in-process relay + in-process agent + embedded directory at
 * the standard scrypt cost), it sends 50 samples of each kind of probe, interleaved so that machine
 * noise falls on every kind alike, and prints the median and p90 per kind, then the ratio of each
 * kind's median to the known-user-wrong-password one (1.00 = indistinguishable).
 *
 * Probes: the sign-in API and the sign-in page, in both sign-in modes (cloud_hash, pass_through),
 * and the public change API: an unknown name, a known user with a wrong password, a disabled
 * account. Options: --n <samples per kind> (default 50).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { updateTenantSettings } from '@writeback/cloud';
import { openEmbeddedDirectory } from '@writeback/directory';
import { agentConnected, quietLog, registerTestAgent, startCloud, startTestAgent } from '@writeback/testkit';

const { values } = parseArgs({ options: { n: { type: 'string', default: '50' } } });
const N = Number(values.n);

const dir = await mkdtemp(join(tmpdir(), 'wb-oracles-'));
const started = await startCloud({
  config: {
    rateLimits: {
      userSignInPerLogin: { limit: 0, windowSeconds: 900 },
      userSignInPerIp: { limit: 0, windowSeconds: 900 },
      passwordChangePerUser: { limit: 0, windowSeconds: 900 },
      passwordChangePerIp: { limit: 0, windowSeconds: 900 },
    },
  },
});
const { cloud } = started;
const boot = await cloud.bootstrap({ tenant: { slug: 'acme', name: 'Acme' }, agentToken: true });
const tenantId = boot.tenant?.id ?? '';
const directoryConfig = {
  kind: 'embedded' as const,
  path: join(dir, 'directory'),
  // A lockout that never triggers: the probes repeat wrong passwords on purpose.
  policy: { minLength: 10, complexity: true, lockoutThreshold: 0 },
};
const directory = await openEmbeddedDirectory(directoryConfig);
await directory.createUser({ login: 'alice', displayName: 'Alice Martin', password: 'Tulip-Initial-2024!' });
await directory.createUser({
  login: 'carol',
  displayName: 'Carol Off',
  password: 'Cedar-Initial-2024!',
  enabled: false,
});
const state = await registerTestAgent({
  cloud,
  token: boot.agentToken?.token ?? '',
  statePath: join(dir, 'agent.json'),
  directory: directoryConfig,
});
const agent = await startTestAgent({ state, directory, log: quietLog() });
await agentConnected(cloud, { tenantId });
await cloud.sync.runOnce(tenantId, { full: true });

const base = cloud.url;
const json = async (path: string, body: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
};
/** The sign-in page needs its CSRF cookie and token first (fetched once per kind, not timed). */
async function pageSignIn(): Promise<(login: string, password: string) => Promise<void>> {
  const first = await fetch(`${base}/t/acme/signin`);
  const cookie = first.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const token = /name="_csrf" value="([^"]+)"/.exec(await first.text())?.[1] ?? '';
  return async (login, password) => {
    const res = await fetch(`${base}/t/acme/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ _csrf: token, login, password }).toString(),
    });
    await res.arrayBuffer();
  };
}

type Probe = () => Promise<void>;
async function measure(kinds: Record<string, Probe>): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>(Object.keys(kinds).map((k) => [k, []]));
  for (const probe of Object.values(kinds)) await probe(); // warm-up
  for (let i = 0; i < N; i++) {
    for (const [kind, probe] of Object.entries(kinds)) {
      const t0 = performance.now();
      await probe();
      times.get(kind)?.push(performance.now() - t0);
    }
  }
  return times;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

function report(title: string, times: Map<string, number[]>, reference: string): void {
  const ref = pct(times.get(reference) ?? [], 50);
  console.log(`\n${title} (${N} samples each, ms)`);
  console.log(`${'probe'.padEnd(34)} ${'p50'.padStart(8)} ${'p90'.padStart(8)} ${'p50 / known-wrong'.padStart(18)}`);
  for (const [kind, xs] of times)
    console.log(
      `${kind.padEnd(34)} ${pct(xs, 50).toFixed(1).padStart(8)} ${pct(xs, 90).toFixed(1).padStart(8)} ${(pct(xs, 50) / ref).toFixed(2).padStart(18)}`,
    );
}

const WRONG = 'Not-The-Password-1!';
for (const mode of ['pass_through', 'cloud_hash'] as const) {
  await updateTenantSettings(cloud.store, tenantId, { signIn: { mode } }, Date.now());
  const page = await pageSignIn();
  const times = await measure({
    'sign-in API: known, wrong': () => json('/api/v1/tenants/acme/sign-in', { login: 'alice', password: WRONG }),
    'sign-in API: unknown name': () => json('/api/v1/tenants/acme/sign-in', { login: 'nobody-here', password: WRONG }),
    'sign-in API: disabled': () => json('/api/v1/tenants/acme/sign-in', { login: 'carol', password: WRONG }),
    'sign-in page: known, wrong': () => page('alice', WRONG),
    'sign-in page: unknown name': () => page('nobody-here', WRONG),
  });
  report(`sign-in, mode ${mode}`, times, 'sign-in API: known, wrong');
}
const change = (username: string) =>
  json('/api/v1/tenants/acme/password/change', { username, currentPassword: WRONG, newPassword: 'short' });
report(
  'public change API',
  await measure({
    'change: known, wrong current': () => change('alice'),
    'change: unknown name': () => change('nobody-here'),
    'change: disabled': () => change('carol'),
  }),
  'change: known, wrong current',
);

await agent.stop();
await directory.close();
await started.stop();
await rm(dir, { recursive: true, force: true });
