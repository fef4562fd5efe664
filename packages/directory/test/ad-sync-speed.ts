/**
 * Not a test: speed of the AD sync source against a real lab Samba DC: a full sync of N users
 * (bulk-imported with ldbadd) in batches of `limit`, an incremental pull after 100 changes, and
 * the anchors pass, printed as figures.
 *   node --import tsx packages/directory/test/ad-sync-speed.ts [n=3000] [limit=500]
 */
import { Attribute, Change } from 'ldapts';
import { createLogger } from '@writeback/protocol';
import { reportSyncSpeed } from './sync-helpers.js';
import { openAdDirectory } from '../src/ad/index.js';
import { addOus, bulkAddUsers, sambaServiceConfig, startSambaDc } from '@writeback/testkit/lab';

const n = Number(process.argv[2] ?? 3000);
const limit = Number(process.argv[3] ?? 500);
const dc = await startSambaDc();
const ou = `OU=Speed,${dc.baseDn}`;
await addOus(dc, [ou]);
const t = performance.now();
await bulkAddUsers(
  dc,
  Array.from({ length: n }, (_, i) => ({
    cn: `p${i}`,
    login: `p${i}`,
    parentDn: ou,
    mail: `p${i}@example.test`,
    displayName: `Speed ${i}`,
    mobile: `+41700${i}`,
  })),
);
console.log(`imported ${n} users with ldbadd in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const dir = await openAdDirectory(sambaServiceConfig(dc, { scope: { baseDns: [ou] } }), {
  log: createLogger({ name: 'speed', level: 'error' }),
});
await reportSyncSpeed(dir.sync, limit, async () => {
  const admin = await dc.admin();
  for (let i = 0; i < 100; i++) {
    await admin.modify(
      `CN=p${i * 7},${ou}`,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'mail', values: [`changed${i}@example.test`] }),
      }),
    );
  }
});
await dir.close();
await dc.stop();
