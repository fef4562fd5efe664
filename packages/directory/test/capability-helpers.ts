/** What the directory tests assert about a Directory's declared capabilities. */
import assert from 'node:assert/strict';
import type { DirectoryCapabilities } from '@writeback/directory';

/**
 * The directory declares each of DirectoryCapabilities' six capabilities (the type names them; the
 * count refuses an extra one), every one of them on.
 */
export function assertEveryCapability(capabilities: DirectoryCapabilities): void {
  const entries = Object.entries(capabilities);
  assert.equal(entries.length, 6, `capabilities: ${entries.map(([k]) => k).join(', ')}`);
  for (const [name, on] of entries) assert.equal(on, true, name);
}
