/**
 * The one-socket rule of src/ldap/client.ts against a real slapd (both adapters open their
 * clients through it): after the connection is lost, the client refuses to reconnect instead of
 * sending the next request on a new, unbound (anonymous) socket. Without the rule the second
 * search below goes out anonymously and "succeeds" with nothing found.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '@writeback/testkit';
import { startSlapd, type SlapdLab } from '@writeback/testkit/lab';
import { openClient } from '../src/ldap/client.js';
import { startTcpProxy, type TcpProxy } from './lab/tcp-proxy.js';

let lab: SlapdLab;
let proxy: TcpProxy;

before(async () => {
  lab = await startSlapd({ tls: false });
  proxy = await startTcpProxy(Number(new URL(lab.url).port));
});

after(async () => {
  await proxy?.close();
  await lab?.stop();
});

test('a client whose connection was lost is not reconnected unbound', async () => {
  const client = await openClient(proxy.url, { tlsOptions: {}, startTls: false, timeoutMs: 3000 });
  try {
    await client.bind(lab.pwAdminDn, lab.passwords[lab.pwAdminDn] ?? '');
    const search = () => client.search(lab.baseDn, { scope: 'sub', filter: '(uid=*)', attributes: ['uid'] });
    assert.ok((await search()).searchEntries.length > 0, 'bound as the service account, users are visible');
    assert.equal(proxy.dropIdleConnections(), 1);
    await assert.rejects(search(), 'the request on the dropped connection fails');
    await waitFor(() => !client.isBound, { what: 'the client to see its socket closed', timeoutMs: 5000 });
    await assert.rejects(search(), /refusing to reconnect/);
  } finally {
    await client.unbind().catch(() => undefined);
  }
});
