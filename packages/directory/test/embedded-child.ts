/**
 * A child process for the embedded store tests (not a test itself): it does real writes and then
 * dies the hard way, so the parent can reopen what a crash or a full disk really leaves behind.
 *   crash <path>: create users, reset passwords, print the anchors, SIGKILL itself.
 *   fill <path>:  run under `ulimit -f`; reset until the journal cannot grow; print the outcomes.
 */
import { createLogger } from '@writeback/protocol';
import { HASH_COST, openEmbeddedDirectory } from '../src/index.js';

const [mode, path] = process.argv.slice(2);
if (!path) throw new Error('usage: embedded-child.ts crash|fill <path>');
// Past `ulimit -f` the kernel sends SIGXFSZ; ignoring it turns the write into an EFBIG error.
process.on('SIGXFSZ', () => undefined);
const log = createLogger({ name: 'child', sink: () => undefined });
const dir = await openEmbeddedDirectory({ kind: 'embedded', path, hash: { ...HASH_COST.fast } }, { log });

if (mode === 'crash') {
  const anchors: string[] = [];
  for (let i = 0; i < 20; i++)
    anchors.push((await dir.createUser({ login: `crash${i}`, password: 'First-Password-1' })).anchor);
  for (const anchor of anchors.slice(0, 10)) {
    const r = await dir.resetPassword({ by: 'anchor', value: anchor }, 'Second-Password-2', {
      forceChange: false,
      unlock: false,
      enforceHistory: true,
    });
    if (r.outcome !== 'succeeded') throw new Error(r.outcome);
  }
  process.stdout.write(`${JSON.stringify({ anchors, seq: dir.seq })}\n`, () => process.kill(process.pid, 'SIGKILL'));
} else if (mode === 'fill') {
  const user = await dir.createUser({ login: 'filler', password: 'First-Password-1' });
  const outcomes: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const r = await dir.resetPassword({ by: 'anchor', value: user.anchor }, `Password-${i}-x!`, {
      forceChange: false,
      unlock: false,
      enforceHistory: false,
    });
    outcomes.push(r.outcome);
    if (r.outcome !== 'succeeded') break;
  }
  const after = await dir.resetPassword({ by: 'anchor', value: user.anchor }, 'After-Failure-1', {
    forceChange: false,
    unlock: false,
    enforceHistory: false,
  });
  const health = await dir.health();
  process.stdout.write(
    `${JSON.stringify({ succeeded: outcomes.length - 1, last: outcomes.at(-1), after: after.outcome, healthy: health.ok })}\n`,
    () => process.kill(process.pid, 'SIGKILL'),
  );
}
