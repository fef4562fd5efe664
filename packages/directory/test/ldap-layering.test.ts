/**
 * src/ldap/ is the LDAP core under the AD and OpenLDAP adapters: it imports nothing of them (nor
 * of the embedded adapter), so the adapters build on it and never the other way round.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

test('src/ldap imports no adapter', () => {
  const dir = new URL('../src/ldap/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 7, files.join(', '));
  for (const f of files) {
    const imports = [...readFileSync(new URL(f, dir), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1] ?? '');
    for (const spec of imports) assert.doesNotMatch(spec, /\/(ad|openldap|embedded)\//, `${f} imports ${spec}`);
  }
});
