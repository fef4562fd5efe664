/**
 * docs/operations.md must list every variable the standalone relay reads, with the default the
 * code really uses, and no variable it does not read; the systemd example environment file names
 * only real variables (issue 11, "operating a cluster").
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EnvSchema } from '../src/config.js';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const doc = read('docs/operations.md');
const start = doc.indexOf('\n## Relay settings\n');
const end = doc.indexOf('\n## ', start + 1);
const rows = doc
  .slice(start, end < 0 ? undefined : end)
  .split('\n')
  .filter((l) => l.startsWith('| ') && !l.startsWith('|---'))
  .map((l) => l.split('|').map((c) => c.trim()));
const rowFor = (name: string) => rows.find((cells) => (cells[1] ?? '').includes(`\`${name}\``));
const known = new Set([...Object.keys(EnvSchema.shape), 'LOG_LEVEL']);
const normalise = (cell: string) => cell.replace(/(\d)[ ,_ ](?=\d{3}\b)/g, '$1');

test('every relay variable is in docs/operations.md, with its default', () => {
  assert.ok(start >= 0, 'docs/operations.md has a "## Relay settings" section');
  for (const [name, schema] of Object.entries(EnvSchema.shape)) {
    const row = rowFor(name);
    assert.ok(row, `docs/operations.md "Relay settings" has no row for ${name}`);
    const parsed = schema.safeParse(undefined);
    if (parsed.success && parsed.data !== undefined)
      assert.ok(
        normalise(row[2] ?? '').includes(String(parsed.data)),
        `the documented default of ${name} is ${String(parsed.data)} (row says "${row[2]}")`,
      );
  }
  assert.ok(rowFor('LOG_LEVEL'), 'LOG_LEVEL is documented');
});

test('docs/operations.md lists no relay variable the code does not read', () => {
  for (const cells of rows.slice(1))
    for (const [, name] of (cells[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g))
      assert.ok(name && known.has(name), `${name} is documented for the relay but not read by config.ts`);
});

test('the systemd example environment file names only variables the relay reads', () => {
  const names = [...read('deploy/systemd/relay.env.example').matchAll(/^#?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
  assert.ok(names.includes('WRITEBACK_CLOUD_PUBLIC_KEY') && names.includes('RELAY_ID'));
  for (const name of names)
    assert.ok(name && known.has(name), `relay.env.example sets ${name}, which the relay does not read`);
});
