/**
 * `directoryDoctorChecks`, the factory-level dispatch: a configuration it cannot dispatch, or one
 * an adapter refuses, is one failed `config` (or `tls`) check, never a throw. (Each adapter's
 * checks against a real server are tested with that adapter.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { createLogger } from '@writeback/protocol';
import { directoryDoctorChecks, HASH_COST } from '../src/index.js';

const log = createLogger({ name: 'test', level: 'error', sink: () => {} });
const ids = async (config: unknown) => (await directoryDoctorChecks(config, { log })).map((c) => [c.id, c.status]);

test('an unknown or missing kind is a failed config check', async () => {
  assert.deepEqual(await ids({ kind: 'nds' }), [['config', 'fail']]);
  assert.deepEqual(await ids(null), [['config', 'fail']]);
});

test('adapter configurations that do not parse are failed config checks', async () => {
  assert.deepEqual(await ids({ kind: 'openldap', urls: 'ldaps://x' }), [['config', 'fail']]);
  assert.deepEqual(await ids({ kind: 'ad', urls: [], bindDn: 'svc', bindPassword: 'x', baseDn: 'DC=x' }), [
    ['config', 'fail'],
  ]);
  assert.deepEqual(await ids({ kind: 'embedded' }), [['config', 'fail']]);
});

test('plain LDAP to a DC is refused before any connection', async () => {
  assert.deepEqual(
    await ids({
      kind: 'ad',
      urls: ['ldap://dc.example.test'],
      bindDn: 'svc@example.test',
      bindPassword: 'x',
      baseDn: 'DC=example,DC=test',
    }),
    [['config', 'fail']],
  );
});

test('an embedded configuration is dispatched to the embedded checks', async () => {
  const checks = await directoryDoctorChecks(
    { kind: 'embedded', path: join(tmpdir(), `wb-none-${process.pid}`, 'dir'), hash: { ...HASH_COST.fast } },
    { log },
  );
  assert.deepEqual(
    checks.map((c) => c.id),
    ['config', 'folder', 'hash_cost', 'min_age'],
  );
});
