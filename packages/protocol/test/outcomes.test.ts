import assert from 'node:assert/strict';
import { it } from 'node:test';
import { NOTHING_WRITTEN, OUTCOME_CODES, OUTCOME_HTTP_STATUS } from '@writeback/protocol';

it('gives every outcome one HTTP status and never counts success or unknown as nothing-written', () => {
  for (const c of OUTCOME_CODES) assert.equal(typeof OUTCOME_HTTP_STATUS[c], 'number', c);
  assert.equal(OUTCOME_HTTP_STATUS.succeeded, 200);
  for (const c of ['succeeded', 'timeout', 'outcome_unknown'] as const) assert.equal(NOTHING_WRITTEN.has(c), false, c);
});

it('counts every other outcome as nothing-written (all refusals happen before any write)', () => {
  const mayHaveWritten = new Set(['succeeded', 'timeout', 'outcome_unknown']);
  for (const c of OUTCOME_CODES) assert.equal(NOTHING_WRITTEN.has(c), !mayHaveWritten.has(c), c);
  assert.equal(OUTCOME_CODES.length, 15);
});
