/**
 * docs/outcomes.md must catalogue every outcome code, policy reason and API error code, each with
 * the HTTP status the service really uses (after fastify's docs/Reference/Errors.md test).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { OUTCOME_CODES, OUTCOME_HTTP_STATUS, POLICY_REASONS } from '@writeback/protocol';
import { CLOUD_ERROR_CODES, CLOUD_ERROR_HTTP_STATUS } from '../src/errors.js';

const doc = readFileSync(new URL('../../../docs/outcomes.md', import.meta.url), 'utf8');

/** The table row whose first cell is this code. */
function row(code: string): string[] | undefined {
  const line = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
  return line?.split('|').map((c) => c.trim());
}

test('every outcome code is documented with its HTTP status', () => {
  for (const code of OUTCOME_CODES) {
    const cells = row(code);
    assert.ok(cells, `docs/outcomes.md has no row for outcome ${code}`);
    assert.equal(cells[2], String(OUTCOME_HTTP_STATUS[code]), `status of ${code}`);
    assert.ok((cells[5] ?? '').length > 5, `${code} says what the person sees`);
  }
});

test('every policy reason is documented', () => {
  for (const reason of POLICY_REASONS)
    assert.ok(row(reason), `docs/outcomes.md has no row for policy reason ${reason}`);
});

test('every API error code is documented with its HTTP status', () => {
  for (const code of CLOUD_ERROR_CODES) {
    const cells = row(code);
    assert.ok(cells, `docs/outcomes.md has no row for error ${code}`);
    assert.equal(cells[2], String(CLOUD_ERROR_HTTP_STATUS[code]), `status of ${code}`);
  }
});
