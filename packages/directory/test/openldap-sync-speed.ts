/**
 * Not a test: speed of the OpenLDAP sync source against a real lab slapd: a full sync of N users
 * in batches of `limit` (users/s, pulls, ms per pull), an incremental pull after 100 changes, and
 * the anchors pass, printed as figures.
 *   node --import tsx packages/directory/test/openldap-sync-speed.ts [n=5000] [limit=500]
 */
import { createLogger } from '@writeback/protocol';
import { reportSyncSpeed } from './sync-helpers.js';
import { openOpenLdapDirectory } from '../src/openldap/index.js';
import { startSlapd } from '@writeback/testkit/lab';
import { labConfig } from './openldap-helpers.js';

const n = Number(process.argv[2] ?? 5000);
const limit = Number(process.argv[3] ?? 500);
const lab = await startSlapd({ tls: false });
const blocks: string[] = [];
for (let i = 0; i < n; i++) {
  blocks.push(
    `dn: uid=s${i},ou=people,${lab.baseDn}\nobjectClass: inetOrgPerson\nuid: s${i}\ncn: Speed ${i}\nsn: ${i}\nmail: s${i}@example.test\nmobile: +41700${i}`,
  );
}
const t = performance.now();
await lab.ldapadd(`${blocks.join('\n\n')}\n`);
console.log(`imported ${n} users with ldapadd in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const dir = await openOpenLdapDirectory(labConfig(lab), { log: createLogger({ name: 'speed', level: 'error' }) });
await reportSyncSpeed(dir.sync, limit, async () => {
  const mods = Array.from(
    { length: 100 },
    (_, i) =>
      `dn: uid=s${i * 7},ou=people,${lab.baseDn}\nchangetype: modify\nreplace: mail\nmail: changed${i}@example.test\n`,
  );
  await lab.ldapmodify(mods.join('\n'));
});
await dir.close();
await lab.stop();
