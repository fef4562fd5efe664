/**
 * Latency of the AD adapter itself against a local Samba DC (not a test): p50/p95 of resets,
 * changes, pass-through verifications and rejected resets, sequential on a warm pool, then a burst
 * of concurrent resets. Run: `node --import tsx packages/directory/test/ad-speed.ts [N]`.
 *
 * The floor is Samba's own cost (about 35 ms a reset, 45 ms a change on two cores, per the lab
 * notes); the adapter's share is the lookup (subtree + base read, ~2 ms) and the pool.
 */
import { createLogger } from '@writeback/protocol';
import { openAdDirectory } from '../src/ad/index.js';
import { sambaServiceConfig, startSambaDc } from '@writeback/testkit/lab';

const N = Number(process.argv[2] ?? 40);

function stats(label: string, ms: number[]): void {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  console.log(
    `${label.padEnd(30)} n=${String(s.length).padStart(4)}  p50=${q(0.5).toFixed(1).padStart(6)} ms  p95=${q(0.95).toFixed(1).padStart(6)} ms  max=${(s.at(-1) ?? 0).toFixed(1).padStart(6)} ms`,
  );
}

async function timed(fn: () => Promise<{ outcome: string }>, expect: string, out: number[]): Promise<void> {
  const t0 = performance.now();
  const r = await fn();
  out.push(performance.now() - t0);
  if (r.outcome !== expect) throw new Error(`expected ${expect}, got ${JSON.stringify(r)}`);
}

const dc = await startSambaDc();
try {
  const dir = await openAdDirectory(sambaServiceConfig(dc), { log: createLogger({ name: 'ad-speed', level: 'warn' }) });
  const u = await dc.createUser({ login: 'speedy', password: 'Speed-Init-0!' });
  const ref = { by: 'anchor', value: u.guid } as const;
  const opts = { forceChange: false, unlock: false, enforceHistory: true };
  await dir.getPolicy(ref);

  const resets: number[] = [];
  for (let i = 0; i < N; i++) await timed(() => dir.resetPassword(ref, `Speed-Reset-${i}!`, opts), 'succeeded', resets);
  stats('reset', resets);

  const changes: number[] = [];
  let current = `Speed-Reset-${N - 1}!`;
  for (let i = 0; i < N; i++) {
    const next = `Speed-Change-${i}!`;
    await timed(() => dir.changePassword({ by: 'login', value: 'speedy' }, current, next), 'succeeded', changes);
    current = next;
  }
  stats('change', changes);

  const verifies: number[] = [];
  for (let i = 0; i < N; i++) await timed(() => dir.verifyCredentials(ref, current), 'succeeded', verifies);
  stats('verify (user bind)', verifies);

  const rejected: number[] = [];
  for (let i = 0; i < N; i++) await timed(() => dir.resetPassword(ref, 'short', opts), 'policy_violation', rejected);
  stats('reset rejected (pre-check)', rejected);

  const history: number[] = [];
  for (let i = 0; i < Math.min(N, 20); i++)
    await timed(() => dir.changePassword(ref, current, current), 'policy_violation', history);
  stats('change rejected (DC, 52D)', history);

  const users = await Promise.all(
    Array.from({ length: 16 }, (_, i) => dc.createUser({ login: `burst${i}`, password: `Burst-Init-${i}!` })),
  );
  const burst: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    users.map((b, i) =>
      timed(() => dir.resetPassword({ by: 'anchor', value: b.guid }, `Burst-New-${i}!`, opts), 'succeeded', burst),
    ),
  );
  const wall = performance.now() - t0;
  stats('16 concurrent resets (pool 4)', burst);
  console.log(`burst wall time ${wall.toFixed(0)} ms (${((16 / wall) * 1000).toFixed(1)} resets/s)`);
  await dir.close();
} finally {
  await dc.stop();
}
