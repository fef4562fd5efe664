/**
 * Not a test: how many password resets a second the embedded directory sustains with the fast hash
 * cost, the default AD-like policy (history 24, enforced) and durability 'os'. The benchmark needs
 * the whole cloud→relay→agent path at ≥1,000 writes/s on 2 cores, so this should be well above.
 *   node --import tsx packages/directory/test/embedded-speed.ts [seconds] [users] [concurrency]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@writeback/protocol';
import { HASH_COST, openEmbeddedDirectory } from '../src/index.js';

const seconds = Number(process.argv[2] ?? 5);
const users = Number(process.argv[3] ?? 1000);
const concurrency = Number(process.argv[4] ?? 64);
const durability = process.env.DURABILITY === 'fsync' ? 'fsync' : 'os';

const path = await mkdtemp(join(tmpdir(), 'wb-embedded-speed-'));
const log = createLogger({ name: 'speed', level: 'error' });
const dir = await openEmbeddedDirectory({ kind: 'embedded', path, hash: { ...HASH_COST.fast }, durability }, { log });
const anchors: string[] = [];
for (let i = 0; i < users; i++)
  anchors.push((await dir.createUser({ login: `user${i}`, password: `Initial-${i}-Pw!` })).anchor);

let done = 0;
let failed = 0;
const started = performance.now();
const deadline = started + seconds * 1000;
async function worker(w: number): Promise<void> {
  for (let i = 0; performance.now() < deadline; i++) {
    const anchor = anchors[(w + i * concurrency) % anchors.length] ?? '';
    const r = await dir.resetPassword({ by: 'anchor', value: anchor }, `Speed-${w}-${i}-Pw!`, {
      forceChange: false,
      unlock: false,
      enforceHistory: true,
    });
    if (r.outcome === 'succeeded') done++;
    else failed++;
  }
}
await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
const elapsed = (performance.now() - started) / 1000;
await dir.close();
await rm(path, { recursive: true, force: true });
console.log(
  JSON.stringify({
    resetsPerSecond: Math.round(done / elapsed),
    resets: done,
    failed,
    seconds: Number(elapsed.toFixed(2)),
    users,
    concurrency,
    durability,
    hash: HASH_COST.fast,
  }),
);
