/**
 * Tests and the bench reach other packages only through their public names (`@writeback/<pkg>` and
 * the subpaths its `exports` declares) and only packages their workspace declares; never a path
 * into another package (`../../packages/x/src/...`). A package's own tests may import its src/
 * (or itself by name, through its exports).
 * The lab (`@writeback/testkit/lab`) imports no @writeback package, so the directory package's
 * tests can use it without a cycle.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const IMPORT = /(?:^\s*(?:import|export)\b[^;]*?\bfrom\s+|\bimport\(\s*)'([^']+)'/gm;

interface Manifest {
  name: string;
  exports?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));

const WORKSPACES: string[] = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] })
  .workspaces;
const byName = new Map(WORKSPACES.map((w) => [manifest(w).name, manifest(w)]));

function tsFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules') return [];
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Where a workspace keeps its tests (and the bench its sources). */
const testDirs = (w: string): string[] =>
  w.startsWith('packages/') ? [join(w, 'test'), ...(w === 'packages/testkit' ? [join(w, 'src')] : [])] : [w];

function offenders(files: (w: string) => string[]): string[] {
  const out: string[] = [];
  const builtins = new Set(builtinModules);
  for (const w of WORKSPACES) {
    const pkg = manifest(w);
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
    for (const file of files(w)) {
      const rel = relative(ROOT, file);
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const s = m[1] ?? '';
        if (s.startsWith('node:') || builtins.has(s)) continue;
        if (s.startsWith('.')) {
          // Relative: must stay inside the workspace.
          if (relative(join(ROOT, w), resolve(dirname(file), s)).startsWith('..')) out.push(`${rel}: ${s}`);
          continue;
        }
        const name = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] ?? s);
        // Its own name resolves through its own exports (self-reference); any other must be declared.
        if (name !== pkg.name && !declared.has(name)) {
          out.push(`${rel}: ${s} (not declared in ${w}/package.json)`);
          continue;
        }
        const target = byName.get(name);
        if (target && !Object.hasOwn(target.exports ?? {}, `.${s.slice(name.length)}`))
          out.push(`${rel}: ${s} (not in ${name}'s exports)`);
      }
    }
  }
  return out;
}

test('tests and the bench import other packages by their declared, exported names only', () => {
  assert.deepEqual(
    offenders((w) => testDirs(w).flatMap((d) => tsFiles(join(ROOT, d)))),
    [],
  );
});

test('the lab imports no @writeback package', () => {
  const lab = tsFiles(join(ROOT, 'packages/testkit/src/lab'));
  assert.ok(lab.length > 0);
  const found = lab.flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(IMPORT)]
      .map((m) => m[1] ?? '')
      .filter((s) => s.startsWith('@writeback/'))
      .map((s) => `${relative(ROOT, f)}: ${s}`),
  );
  assert.deepEqual(found, []);
});
