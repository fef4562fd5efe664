/** Identifiers: a short kind prefix and random hex, safe in URLs and in protocol ids (no `_`). */
import { randomBytes } from 'node:crypto';

export type IdKind = 't' | 'a' | 'adm' | 'ses' | 'key' | 'tok' | 'aud' | 'ck' | 'u';

export function newId(kind: IdKind): string {
  return `${kind}-${randomBytes(8).toString('hex')}`;
}
