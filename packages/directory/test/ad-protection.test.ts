/**
 * Which AD accounts are protected, as pure functions (packages/directory/src/ad/protection.ts):
 * SID parsing and the rule (issue 10, first High finding: protection looked only at adminCount=1,
 * so a user just added to Domain Admins was reset). The same rule against a real DC is in ad.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveAdConfig } from '../src/ad/config.js';
import {
  domainRid,
  isPrivilegedGroupSid,
  normalizeSid,
  parseExtraGroup,
  protectionReason,
  sidFromString,
  sidStrings,
  sidToString,
  type ProtectionFacts,
} from '../src/ad/protection.js';

const DOMAIN = 'S-1-5-21-516403932-1913662328-3116143963';
const OTHER_DOMAIN = 'S-1-5-21-1-2-3';

describe('SID encoding', () => {
  it('decodes the binary form AD sends (S-1-5-32-544 and a domain SID)', () => {
    const admins = Buffer.from('01020000000000052000000020020000', 'hex');
    assert.equal(sidToString(admins), 'S-1-5-32-544');
    const user = sidFromString(`${DOMAIN}-1103`);
    assert.ok(user);
    assert.equal(user.length, 8 + 4 * 5);
    assert.equal(sidToString(user), `${DOMAIN}-1103`);
    assert.deepEqual(sidFromString('S-1-5-32-544'), admins);
  });

  it('refuses what is not a SID', () => {
    assert.equal(sidToString(Buffer.alloc(0)), null);
    assert.equal(sidToString(Buffer.from('0102000000000005200000', 'hex')), null, 'truncated');
    assert.equal(sidToString(Buffer.from('02010000000000052000000', 'hex')), null, 'revision 2');
    for (const bad of ['', 'S-1', 'S-1-5', 'S-1-5-x', 'S-2-5-32-544', 'S-1-5-32-4294967296', 'CN=x'])
      assert.equal(sidFromString(bad), null, bad);
    assert.deepEqual(sidStrings([Buffer.from('ff', 'hex'), Buffer.from('01020000000000052000000020020000', 'hex')]), [
      'S-1-5-32-544',
    ]);
  });

  it('normalises case and reads the RID of domain SIDs only', () => {
    assert.equal(normalizeSid('s-1-5-32-544'), 'S-1-5-32-544');
    assert.equal(domainRid(`${DOMAIN}-512`), 512);
    assert.equal(domainRid('S-1-5-32-544'), null);
    assert.equal(domainRid('S-1-5-21-1-2-512'), null, 'a domain SID has three sub-authorities before the RID');
  });
});

describe('privileged groups by well-known SID', () => {
  it('every built-in privileged group, in this domain and in another domain of the forest', () => {
    for (const sid of ['S-1-5-32-544', 'S-1-5-32-548', 'S-1-5-32-549', 'S-1-5-32-550', 'S-1-5-32-551', 'S-1-5-32-552'])
      assert.equal(isPrivilegedGroupSid(sid), true, sid);
    for (const rid of [512, 518, 519, 520, 521, 526, 527]) {
      assert.equal(isPrivilegedGroupSid(`${DOMAIN}-${rid}`), true, String(rid));
      assert.equal(isPrivilegedGroupSid(`${OTHER_DOMAIN}-${rid}`), true, `root domain ${rid}`);
    }
  });

  it('ordinary groups are not: Users, Domain Users, Denied RODC Password Replication, RIDs that only end alike', () => {
    for (const sid of [
      'S-1-5-32-545',
      'S-1-1-0',
      'S-1-5-11',
      `${DOMAIN}-513`,
      `${DOMAIN}-572`,
      `${DOMAIN}-1512`,
      `${DOMAIN}-5120`,
      'S-1-5-21-512',
    ])
      assert.equal(isPrivilegedGroupSid(sid), false, sid);
  });
});

describe('protectionReason', () => {
  const ordinary: ProtectionFacts = {
    adminCount: 0,
    sid: `${DOMAIN}-1103`,
    tokenGroups: [`${DOMAIN}-513`, 'S-1-5-32-545'],
    extraGroupSids: new Set(),
  };

  it('an ordinary user is writable', () => {
    assert.equal(protectionReason(ordinary), null);
  });

  it('adminCount=1 alone protects (what was checked before)', () => {
    assert.deepEqual(protectionReason({ ...ordinary, adminCount: 1 }), { kind: 'admin_count' });
  });

  it('a fresh Domain Admins member without adminCount (the issue 10 reset), directly or nested', () => {
    // Nested: tokenGroups is transitive, so the intermediate group's SID is there too.
    for (const tokenGroups of [
      [`${DOMAIN}-512`, 'S-1-5-32-544', `${DOMAIN}-513`],
      [`${DOMAIN}-1105`, `${DOMAIN}-512`, `${DOMAIN}-513`],
      [`${DOMAIN}-513`, 'S-1-5-32-551'],
      [`${OTHER_DOMAIN}-519`, `${DOMAIN}-513`],
    ])
      assert.equal(protectionReason({ ...ordinary, tokenGroups })?.kind, 'privileged_group', tokenGroups.join());
  });

  it('the RID-500 account and krbtgt, whatever their groups', () => {
    assert.deepEqual(protectionReason({ ...ordinary, sid: `${DOMAIN}-500` }), { kind: 'builtin_account', rid: 500 });
    assert.deepEqual(protectionReason({ ...ordinary, sid: `${DOMAIN}-502` }), { kind: 'builtin_account', rid: 502 });
    assert.equal(protectionReason({ ...ordinary, sid: `${DOMAIN}-1500` }), null);
  });

  it("the tenant's extra groups", () => {
    const extra = `${DOMAIN}-1107`;
    assert.equal(protectionReason({ ...ordinary, extraGroupSids: new Set([extra]) }), null);
    assert.deepEqual(
      protectionReason({
        ...ordinary,
        tokenGroups: [...ordinary.tokenGroups, extra],
        extraGroupSids: new Set([extra]),
      }),
      { kind: 'extra_group', sid: extra },
    );
  });
});

describe('protectedGroups configuration', () => {
  const base = {
    kind: 'ad',
    urls: ['ldaps://127.0.0.1'],
    bindDn: 'CN=svc,DC=example,DC=test',
    bindPassword: 'x',
    baseDn: 'DC=example,DC=test',
  };

  it('entries are SIDs (canonical) or group DNs', () => {
    assert.deepEqual(parseExtraGroup(' s-1-5-21-1-2-3-1107 '), { by: 'sid', sid: 'S-1-5-21-1-2-3-1107' });
    assert.deepEqual(parseExtraGroup('CN=Tier0,OU=Groups,DC=example,DC=test'), {
      by: 'dn',
      dn: 'CN=Tier0,OU=Groups,DC=example,DC=test',
    });
    const cfg = resolveAdConfig({ ...base, protectedGroups: ['S-1-5-21-1-2-3-1107', 'CN=Tier0,DC=example,DC=test'] });
    assert.equal(cfg.protectedGroups.length, 2);
    assert.deepEqual(resolveAdConfig(base).protectedGroups, []);
  });

  it('a bad entry is a TypeError naming the option', () => {
    for (const bad of ['S-1-5-nope', 'Tier0 admins', 'CN=a\nb'])
      assert.throws(
        () => resolveAdConfig({ ...base, protectedGroups: ['S-1-5-32-544', bad] }),
        (e: unknown) => e instanceof TypeError && e.message.startsWith('ad.protectedGroups.1:'),
        bad,
      );
  });
});
