/**
 * deploy/systemd: the cloud's and the relay's units (issue 11, "operating a cluster"). Always: the
 * keys the documentation relies on are there (restart on failure, a dedicated user, the environment
 * file, the hardening, the cloud's one writable folder; the command they start exists). Where this
 * machine has `systemd-analyze`, `systemd-analyze verify` reads both units and must say nothing: it
 * exits 0 even for an unknown key or a value it cannot parse, and only warns on stderr.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = join(root, 'deploy', 'systemd');
const UNITS = ['writeback-cloud.service', 'writeback-relay.service'] as const;

type Unit = Map<string, Map<string, string[]>>;

/** Sections → keys → values (a key may repeat); comments and blank lines skipped. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[([A-Za-z]+)\]$/.exec(line);
    if (head?.[1]) {
      section = new Map();
      unit.set(head[1], section);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv?.[1] !== undefined && kv[2] !== undefined && section, `not a key=value line in a section: ${line}`);
    section.set(kv[1], [...(section.get(kv[1]) ?? []), kv[2]]);
  }
  return unit;
}

const one = (u: Unit, section: string, key: string): string | undefined => u.get(section)?.get(key)?.at(-1);

describe('systemd units', () => {
  for (const name of UNITS) {
    const kind = name === 'writeback-cloud.service' ? 'cloud' : 'relay';
    test(`${name}: restart on failure, own user, environment file, hardening`, () => {
      const u = parseUnit(readFileSync(join(dir, name), 'utf8'));
      const s = (key: string) => one(u, 'Service', key);
      assert.equal(s('Restart'), 'on-failure');
      assert.ok(Number(s('RestartSec')) > 0);
      assert.equal(s('User'), kind === 'cloud' ? 'writeback' : 'writeback-relay');
      assert.equal(s('Group'), s('User'));
      assert.equal(s('EnvironmentFile'), `/etc/writeback/${kind}.env`);
      assert.ok(existsSync(join(dir, `${kind}.env.example`)), 'an example of the environment file');
      // What it starts exists, from the working directory the unit names.
      assert.equal(s('WorkingDirectory'), '/opt/writeback');
      assert.match(s('ExecStart') ?? '', new RegExp(`^/usr/bin/node --import tsx packages/${kind}/src/main\\.ts$`));
      assert.ok(existsSync(join(root, 'packages', kind, 'src', 'main.ts')));
      assert.equal(s('KillSignal'), 'SIGTERM', 'both entries stop cleanly on SIGTERM');
      for (const [key, value] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['ProtectHome', 'yes'],
        ['PrivateTmp', 'yes'],
        ['PrivateDevices', 'yes'],
        ['UMask', '0077'],
      ] as const)
        assert.equal(s(key), value, key);
      assert.notEqual(s('MemoryDenyWriteExecute'), 'yes', "V8's JIT needs writable executable memory");
      if (kind === 'cloud') {
        // The SQLite file, master.key, operator.key and the audit outbox: the one writable folder.
        assert.equal(s('StateDirectory'), 'writeback');
        assert.equal(s('ReadWritePaths'), '/var/lib/writeback');
      } else assert.equal(s('ReadWritePaths'), undefined, 'the relay writes no file');
      assert.equal(one(u, 'Install', 'WantedBy'), 'multi-user.target');
      assert.match(one(u, 'Unit', 'After') ?? '', /network-online\.target/);
    });
  }

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  test('systemd-analyze verify accepts both units without a warning', {
    skip: analyze.status === 0 ? false : 'systemd-analyze is not installed here',
  }, () => {
    const tmp = mkdtempSync(join(tmpdir(), 'wb-units-'));
    try {
      const paths = UNITS.map((name) => {
        // Verify checks that ExecStart's program exists: point it at this machine's node.
        const text = readFileSync(join(dir, name), 'utf8').replaceAll('/usr/bin/node ', `${process.execPath} `);
        const path = join(tmp, name);
        writeFileSync(path, text);
        return path;
      });
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...paths], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // Lines about our two units (verify also loads their dependencies, which are not ours to judge).
      const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => UNITS.some((n) => l.includes(n)));
      assert.deepEqual(ours, [], `systemd-analyze verify:\n${ours.join('\n')}`);
      // The check itself works: an unknown key is reported.
      const bad = join(tmp, 'writeback-broken.service');
      writeFileSync(bad, readFileSync(paths[0] ?? '', 'utf8').replace('[Service]', '[Service]\nRestartt=always'));
      const b = spawnSync('systemd-analyze', ['verify', '--man=no', bad], { encoding: 'utf8' });
      assert.match(`${b.stdout}${b.stderr}`, /writeback-broken\.service.*Restartt/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
