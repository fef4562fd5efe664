/**
 * The dependency check (.dependency-cruiser.cjs at the repository root, run by scripts/test.sh)
 * can fail: on a small tree laid out like the repository's, each rule catches its violation
 * (type-only imports included), and the imports the layers allow pass. Without this, a rule whose
 * paths stopped matching would pass forever without anyone noticing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const FILES: Record<string, string> = {
  'tsconfig.json': JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true },
    include: ['packages/*/src/**/*.ts'],
  }),
  'packages/protocol/src/index.ts': 'export type Code = string;\n',
  'packages/protocol/src/internal.ts': 'export type Hidden = string;\n',
  // Allowed: down and sideways, skipping layers, roots importing anything, store → errors.ts.
  'packages/cloud/src/errors.ts': 'export class CloudError extends Error {}\n',
  'packages/cloud/src/store/s.ts': "import { CloudError } from '../errors.js';\nexport const s = CloudError;\n",
  'packages/cloud/src/tenants/d.ts': "import { s } from '../store/s.js';\nexport const d = s;\n",
  'packages/cloud/src/usecases/u.ts': "import { d } from '../tenants/d.js';\nexport const u = d;\n",
  'packages/cloud/src/web/w.ts':
    "import { u } from '../usecases/u.js';\nimport { s } from '../store/s.js';\nexport const w = [u, s];\n",
  'packages/cloud/src/http/h.ts': "import { w } from '../web/w.js';\nexport const h = w;\n",
  'packages/cloud/src/app.ts': "import { h } from './http/h.js';\nexport const app = h;\n",
  // Violations, one per rule.
  'packages/cloud/src/store/up.ts': "import type { d } from '../tenants/d.js';\nexport type Up = typeof d;\n",
  'packages/cloud/src/tenants/up.ts': "import type { u } from '../usecases/u.js';\nexport type Up = typeof u;\n",
  'packages/cloud/src/usecases/up.ts': "import type { w } from '../web/w.js';\nexport type Up = typeof w;\n",
  'packages/cloud/src/sync/a.ts': "import type { B } from './b.js';\nexport type A = { b?: B };\n",
  'packages/cloud/src/sync/b.ts': "import type { A } from './a.js';\nexport type B = { a?: A };\n",
  'packages/relay/src/entry.ts': "import type { Code } from '../../protocol/src/index.js';\nexport type E = Code;\n",
  'packages/relay/src/deep.ts':
    "import type { Hidden } from '../../protocol/src/internal.js';\nexport type D = Hidden;\n",
};

const Output = z.object({
  summary: z.object({
    violations: z.array(z.object({ rule: z.object({ name: z.string() }), from: z.string(), to: z.string() })),
  }),
});

test('each rule of the dependency check fails on its violation, and allowed imports pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wb-depcheck-'));
  try {
    for (const [path, text] of Object.entries(FILES)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const cli = join(REPO, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
    const args = [cli, '--config', join(REPO, '.dependency-cruiser.cjs'), '--output-type', 'json', 'packages'];
    // Violations make the command exit non-zero; its report is what we read.
    const out = await promisify(execFile)(process.execPath, args, { cwd: dir, maxBuffer: 16 * 1024 * 1024 }).then(
      (r) => r.stdout,
      (e: unknown) => z.object({ stdout: z.string() }).parse(e).stdout,
    );
    // A cycle is reported once, from whichever of its modules came first: name it by its two ends.
    const found = [
      ...new Set(
        Output.parse(JSON.parse(out)).summary.violations.map((v) =>
          v.rule.name === 'no-circular'
            ? `no-circular: ${[v.from, v.to].sort().join(' ↔ ')}`
            : `${v.rule.name}: ${v.from} → ${v.to}`,
        ),
      ),
    ].sort();
    assert.deepEqual(found, [
      'cloud-domain-not-up: packages/cloud/src/tenants/up.ts → packages/cloud/src/usecases/u.ts',
      'cloud-store-imports-nothing-above: packages/cloud/src/store/up.ts → packages/cloud/src/tenants/d.ts',
      'cloud-usecases-not-up: packages/cloud/src/usecases/up.ts → packages/cloud/src/web/w.ts',
      'no-circular: packages/cloud/src/sync/a.ts ↔ packages/cloud/src/sync/b.ts',
      'no-relative-path-across-packages: packages/relay/src/deep.ts → packages/protocol/src/internal.ts',
      'no-relative-path-across-packages: packages/relay/src/entry.ts → packages/protocol/src/index.ts',
      'only-public-entries-across-packages: packages/relay/src/deep.ts → packages/protocol/src/internal.ts',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
