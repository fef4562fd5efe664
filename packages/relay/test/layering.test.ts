/**
 * The relay's modules import one way (issue 9): the hub composes connection, registry and router;
 * the connection builds on the registry and the router; those two and the pure helpers below them
 * import nothing above. Read from the sources' relative imports, type-only ones included: a type
 * cycle is still two modules that cannot be understood apart. The tests, in turn, reach other
 * packages only through their public entry points and declared dependencies.
 */
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { reachable } from '@writeback/testkit';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm;

const tsFiles = (dir: string) => readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.ts'));
const specifiers = (path: string) =>
  [...readFileSync(join(ROOT, path), 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? '');

/** src module (file name) → the src modules it imports. */
const graph = new Map<string, string[]>(
  tsFiles('src').map((f) => [
    f,
    specifiers(`src/${f}`)
      .filter((s) => s.startsWith('./'))
      .map((s) => s.slice(2).replace(/\.js$/, '.ts')),
  ]),
);

const reach = (from: string): Set<string> => reachable(graph, from);

test('no import cycle in the relay', () => {
  assert.deepEqual(
    [...graph.keys()].filter((m) => reach(m).has(m)),
    [],
  );
});

test('lower modules import nothing above them', () => {
  const allowed: Record<string, string[]> = {
    'client.ts': [],
    'errors.ts': [],
    'admission.ts': [],
    'presence.ts': ['client.ts'],
    'deadline.ts': ['client.ts'],
    'handshake.ts': ['client.ts', 'errors.ts'],
    'router.ts': ['client.ts', 'deadline.ts'],
    'registry.ts': ['client.ts', 'handshake.ts', 'presence.ts', 'errors.ts'],
    'connection.ts': [
      'admission.ts',
      'client.ts',
      'errors.ts',
      'handshake.ts',
      'registry.ts',
      'router.ts',
      'deadline.ts',
      'presence.ts',
    ],
  };
  for (const [m, ok] of Object.entries(allowed)) {
    assert.ok(graph.has(m), `${m} exists`);
    assert.deepEqual(
      [...reach(m)].filter((d) => !ok.includes(d)),
      [],
      `${m} reaches above itself`,
    );
  }
});

test('the tests use the relay through src/ and other packages through their declared, public names', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
  const builtins = new Set(builtinModules);
  /** A subpath one of our packages exports on purpose (`@writeback/testkit/nats`), not a path into its src/. */
  const exported = (s: string): boolean => {
    const name = s.split('/').slice(0, 2).join('/');
    const manifest = JSON.parse(readFileSync(join(ROOT, '..', '..', 'node_modules', name, 'package.json'), 'utf8')) as {
      exports?: Record<string, string>;
    };
    return Object.keys(manifest.exports ?? {}).includes(`.${s.slice(name.length)}`);
  };
  const offenders: string[] = [];
  for (const f of tsFiles('test')) {
    for (const s of specifiers(`test/${f}`)) {
      if (s.startsWith('./') || s.startsWith('../src/')) continue;
      if (s.startsWith('node:') || builtins.has(s)) continue;
      // A bare name: the package (scope included) must be declared and used by its entry points (`exports`) only.
      const name = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] ?? s);
      if (s.startsWith('.') || !declared.has(name) || (s !== name && name.startsWith('@writeback/') && !exported(s)))
        offenders.push(`${f}: ${s}`);
    }
  }
  assert.deepEqual(offenders, []);
});
