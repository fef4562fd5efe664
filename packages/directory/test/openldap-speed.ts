/**
 * Not a test: latency of the OpenLDAP adapter against a real lab slapd, direct (no relay, no cloud):
 * p50/p95 of resets (pooled service connection: lookup + exop + follow-up read) and of changes
 * (lookup + a new user-bound connection + exop), sequential, then resets at a given concurrency.
 *   node --import tsx packages/directory/test/openldap-speed.ts [n] [concurrency] [--tls]
 */
import { createLogger } from '@writeback/protocol';
import { openOpenLdapDirectory } from '../src/openldap/index.js';
import { labPassword, startSlapd, type SlapdUser as LabUser } from '@writeback/testkit/lab';
import { labConfig } from './openldap-helpers.js';

const n = Number(process.argv[2] ?? 200);
const concurrency = Number(process.argv[3] ?? 8);
const tls = process.argv.includes('--tls');

const lab = await startSlapd({ tls });
const log = createLogger({ name: 'speed', level: 'error' });
const dir = await openOpenLdapDirectory(
  labConfig(
    lab,
    tls
      ? { urls: [lab.ldapsUrl ?? ''], allowPlaintext: false, caFile: lab.caFile, poolSize: concurrency }
      : { poolSize: concurrency },
  ),
  { log },
);
const noOptions = { forceChange: false, unlock: false, enforceHistory: true };

const users: LabUser[] = [];
for (let i = 0; i < Math.max(concurrency, 20); i++) users.push(await lab.addUser());

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(2)} ms  p95 ${pct(xs, 95).toFixed(2)} ms  max ${pct(xs, 100).toFixed(2)} ms  (n=${xs.length})`;

async function timed(fn: () => Promise<{ outcome: string }>, into: number[]): Promise<void> {
  const t = performance.now();
  const r = await fn();
  into.push(performance.now() - t);
  if (r.outcome !== 'succeeded') throw new Error(`unexpected outcome ${r.outcome}`);
}

// Warm-up: fill the pool, JIT.
for (const u of users.slice(0, concurrency))
  await dir.resetPassword({ by: 'login', value: u.uid }, labPassword(), noOptions);

const resets: number[] = [];
for (let i = 0; i < n; i++) {
  const u = users[i % users.length];
  if (!u) break;
  await timed(() => dir.resetPassword({ by: 'login', value: u.uid }, labPassword(), noOptions), resets);
}

const current = new Map<string, string>();
for (const u of users) {
  const p = labPassword();
  await dir.resetPassword({ by: 'login', value: u.uid }, p, noOptions);
  current.set(u.uid, p);
}
const changes: number[] = [];
for (let i = 0; i < n; i++) {
  const u = users[i % users.length];
  if (!u) break;
  const next = labPassword();
  await timed(() => dir.changePassword({ by: 'login', value: u.uid }, current.get(u.uid) ?? '', next), changes);
  current.set(u.uid, next);
}

const parallel: number[] = [];
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async (_, w) => {
    const u = users[w % users.length];
    if (!u) return;
    for (let i = 0; i < Math.ceil(n / concurrency); i++) {
      await timed(() => dir.resetPassword({ by: 'login', value: u.uid }, labPassword(), noOptions), parallel);
    }
  }),
);
const rate = parallel.length / ((performance.now() - started) / 1000);

console.log(`slapd ${tls ? 'ldaps' : 'ldap'} on loopback`);
console.log(`reset  (sequential)      ${fmt(resets)}`);
console.log(`change (sequential)      ${fmt(changes)}`);
console.log(`reset  (concurrency ${concurrency})   ${fmt(parallel)}  ${rate.toFixed(0)}/s`);

await dir.close();
await lab.stop();
