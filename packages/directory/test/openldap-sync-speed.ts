/**
 * Not a test: speed of the OpenLDAP sync source against a real lab slapd: a full sync of N users
 * in batches of `limit` (users/s, pulls, ms per pull), an incremental pull after 100 changes, and
 * the anchors pass, printed as figures.
 *   node --import tsx packages/directory/test/openldap-sync-speed.ts [n=5000] [limit=500]
 */
import { createLogger } from '@writeback/protocol';
import { openOpenLdapDirectory } from '../src/openldap/index.js';
import { startSlapd } from './lab/slapd.js';
import { labConfig } from './openldap-helpers.js';

const n = Number(process.argv[2] ?? 5000);
const limit = Number(process.argv[3] ?? 500);
const lab = await startSlapd({ tls: false });
const blocks: string[] = [];
for (let i = 0; i < n; i++) {
  blocks.push(`dn: uid=s${i},ou=people,${lab.baseDn}\nobjectClass: inetOrgPerson\nuid: s${i}\ncn: Speed ${i}\nsn: ${i}\nmail: s${i}@example.test\nmobile: +41700${i}`);
}
let t = performance.now();
await lab.ldapadd(`${blocks.join('\n\n')}\n`);
console.log(`imported ${n} users with ldapadd in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const dir = await openOpenLdapDirectory(labConfig(lab), { log: createLogger({ name: 'speed', level: 'error' }) });
let cursor: string | null = null;
let users = 0;
let pulls = 0;
t = performance.now();
for (;;) {
  const r = await dir.sync.pullChanges(cursor, limit);
  users += r.changes.length;
  pulls++;
  cursor = r.cursor;
  if (!r.more) break;
}
let s = (performance.now() - t) / 1000;
console.log(`full sync: ${users} users in ${pulls} pulls, ${s.toFixed(2)} s = ${Math.round(users / s)} users/s, ${((s * 1000) / pulls).toFixed(1)} ms/pull`);

const mods = Array.from({ length: 100 }, (_, i) => `dn: uid=s${i * 7},ou=people,${lab.baseDn}\nchangetype: modify\nreplace: mail\nmail: changed${i}@example.test\n`);
await lab.ldapmodify(mods.join('\n'));
t = performance.now();
const inc = await dir.sync.pullChanges(cursor, limit);
console.log(`incremental pull after 100 changes: ${inc.changes.length} changes in ${(performance.now() - t).toFixed(1)} ms`);
t = performance.now();
const idle = await dir.sync.pullChanges(inc.cursor, limit);
console.log(`incremental pull, nothing changed: ${idle.changes.length} changes in ${(performance.now() - t).toFixed(1)} ms`);

let anchors = 0;
let pages = 0;
let ac: string | null = null;
t = performance.now();
do {
  const page = await dir.sync.listAnchors(ac, 2000);
  anchors += page.anchors.length;
  pages++;
  ac = page.cursor;
} while (ac !== null);
s = (performance.now() - t) / 1000;
console.log(`anchors pass: ${anchors} anchors in ${pages} pages, ${s.toFixed(2)} s`);
await dir.close();
await lab.stop();
