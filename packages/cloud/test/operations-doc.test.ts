/**
 * docs/operations.md must list every setting of the cloud (issue 11, "operating a cluster"): each
 * option of the config schema and each environment variable, with the default the code really
 * uses; and it must not list a variable the cloud does not read. The example environment file of
 * the systemd unit names only real variables (after fastify's docs/Reference/Errors.md test).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigSchema, ENV, loadConfig } from '../src/config.js';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const doc = read('docs/operations.md');

/** The text of a `## title` section. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `docs/operations.md has a "## ${title}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

const rows = section('Cloud settings')
  .split('\n')
  .filter((l) => l.startsWith('| ') && !l.startsWith('|---'))
  .map((l) => l.split('|').map((c) => c.trim()));

/** The first row naming `token` (in backticks) in its variable or option cell. */
const rowFor = (token: string): string[] | undefined =>
  rows.find((cells) => [cells[1], cells[2]].some((c) => (c ?? '').includes(`\`${token}\``)));

/** Every leaf option's dotted path (objects are walked; optional, default and transforms unwrapped). */
function leaves(schema: z.ZodType, path: string, out: string[]): string[] {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault) s = s.def.innerType as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.def.in as z.ZodType;
    else break;
  }
  if (s instanceof z.ZodObject)
    for (const [k, v] of Object.entries(s.shape as Record<string, z.ZodType>))
      leaves(v, path ? `${path}.${k}` : k, out);
  else out.push(path);
  return out;
}

/** Digits grouped for reading ("16 384", "600,000") read as one number. */
const normalise = (cell: string) => cell.replace(/(\d)[ ,_ ](?=\d{3}\b)/g, '$1');

const defaults = loadConfig();
const valueAt = (path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((at, k) => (at !== null && typeof at === 'object' ? Reflect.get(at, k) : undefined), defaults);

test('every cloud option and environment variable is in docs/operations.md, with its default', () => {
  const paths = leaves(ConfigSchema, '', []);
  assert.ok(paths.length > 40 && paths.includes('rateLimits.adminSignInPerIp.limit'), 'the schema was walked');
  for (const path of paths) {
    const env = ENV[path];
    const parent = path.split('.').slice(0, -1).join('.');
    const row = (env ? rowFor(env) : undefined) ?? rowFor(path) ?? (parent ? rowFor(parent) : undefined);
    assert.ok(row, `docs/operations.md "Cloud settings" has no row for ${env ? `${env} (${path})` : path}`);
    const value = valueAt(path);
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') {
      const cell = normalise(row[3] ?? '');
      const shown =
        typeof value === 'number'
          ? new RegExp(`(?<![\\d.])${value}(?![\\d.])`).test(cell)
          : cell.includes(String(value));
      assert.ok(shown, `the documented default of ${env ?? path} is ${value} (row says "${row[3]}")`);
    }
  }
  for (const env of Object.values(ENV)) assert.ok(rowFor(env), `${env} is documented`);
  assert.ok(rowFor('LOG_LEVEL'), 'LOG_LEVEL is documented');
});

test('docs/operations.md lists no cloud variable the code does not read', () => {
  const known = new Set([...Object.values(ENV), 'LOG_LEVEL']);
  for (const cells of rows.slice(1))
    for (const [, name] of (cells[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g))
      assert.ok(name && known.has(name), `${name} is documented but not read by config.ts`);
});

test('the systemd example environment file names only variables the cloud reads', () => {
  const known = new Set([...Object.values(ENV), 'LOG_LEVEL']);
  const names = [...read('deploy/systemd/cloud.env.example').matchAll(/^#?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
  assert.ok(names.includes('DATABASE_URL') && names.includes('OPERATOR_KEY_FILE'));
  for (const name of names)
    assert.ok(name && known.has(name), `cloud.env.example sets ${name}, which the cloud does not read`);
});
