/**
 * The whole system against real directories: HTTP API → cloud → in-process relay → agent as its
 * own OS process → a Samba AD DC (lab) or slapd (lab) over LDAPS with the lab CA pinned. Every
 * written password is proven with tools nobody here wrote: MIT `kinit` against the DC's KDC, and
 * OpenLDAP's `ldapwhoami` against slapd, with the new password (accepted) and the old one
 * (refused). Refusals are checked on their outcome codes and reasons, and the effective policy the
 * API returns is compared with what the servers' own tools (`samba-tool`, `ldapsearch`) report.
 *
 * One DC and one slapd for the whole file; every test makes its own users. The servers come from
 * Debian packages that `npm test` installs (scripts/install-directory-servers.sh); a suite is
 * skipped, saying why, only when they are not installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OUTCOME_HTTP_STATUS } from '@writeback/protocol';
import type { Directory } from '@writeback/directory';
import {
  startSambaDc,
  startSlapd,
  type SambaDc,
  type SambaUser,
  type SlapdLab,
  type SlapdUser,
} from '@writeback/testkit/lab';
import {
  capturedLogs,
  changeOwnPassword,
  findSecrets,
  labSecrets,
  missingPrograms,
  startSystemWithSamba,
  startSystemOnSlapd,
  type System,
} from './harness.js';

const T = '/api/v1/tenants/acme';
/** Every password this file uses (none may appear in any log line of the run), and a maker of new ones. */
const { secrets, pw } = labSecrets();

function expectOutcome(
  res: { status: number; body: Record<string, unknown> },
  outcome: keyof typeof OUTCOME_HTTP_STATUS,
): void {
  assert.equal(res.body.outcome, outcome, JSON.stringify(res.body));
  assert.equal(res.status, OUTCOME_HTTP_STATUS[outcome]);
  assert.equal(typeof res.body.requestId, 'string');
}

/** Exactly one audit record for the request, completed with `outcome` (never `pending`). */
async function expectOneAudit(sys: System<Directory>, requestId: unknown, outcome: string): Promise<void> {
  const audit = await sys.api('GET', `${T}/audit?limit=50`);
  const mine = (audit.body.items as { requestId: string; outcome: string }[]).filter((i) => i.requestId === requestId);
  assert.deepEqual(
    mine.map((i) => i.outcome),
    [outcome],
  );
}

/** One real directory behind the whole path, as the tests both directories share see it. */
interface RealDirectory<U extends { password: string }> {
  sys(): System<Directory>;
  /** A new user of the directory (a lab password of this file's). */
  user(): Promise<U>;
  login(u: U): string;
  /** The directory's own tool (`tool`) signs `u` in with `password`. */
  accepts(u: U, password: string): Promise<boolean>;
  tool: string;
  /** Where its password rules live, and the length they ask for. */
  policy: { name: string; minLength: number };
  /** A login nobody has. */
  nobody(): string;
}

/** The tests both directories pass the same way; their names say which tool proves them. */
function samePathTests<U extends { password: string }>(d: RealDirectory<U>): void {
  it(`admin reset succeeds (one audit record); ${d.tool} accepts the new password and refuses the old one`, async () => {
    const u = await d.user();
    const next = pw('Reset');
    const res = await d
      .sys()
      .api('POST', `${T}/users/${d.login(u)}/password/reset`, { newPassword: next, forceChange: false });
    expectOutcome(res, 'succeeded');
    assert.equal(await d.accepts(u, next), true);
    assert.equal(await d.accepts(u, u.password), false);
    await expectOneAudit(d.sys(), res.body.requestId, 'succeeded');
  });

  it(`user change with the right current password succeeds (${d.tool}); with a wrong one: wrong_current_password, nothing written`, async () => {
    const u = await d.user();
    expectOutcome(await changeOwnPassword(d.sys(), d.login(u), `${u.password}x`, pw('Nope')), 'wrong_current_password');
    assert.equal(await d.accepts(u, u.password), true);
    const next = pw('Change');
    expectOutcome(await changeOwnPassword(d.sys(), d.login(u), u.password, next), 'succeeded');
    assert.equal(await d.accepts(u, next), true);
    assert.equal(await d.accepts(u, u.password), false);
  });

  it(`a too-short password is policy_violation [too_short] with ${d.policy.name}, and nothing is written`, async () => {
    const u = await d.user();
    const short = 'Ab1!x';
    secrets.add(short);
    for (const res of [
      await d.sys().api('POST', `${T}/users/${d.login(u)}/password/reset`, { newPassword: short }),
      await changeOwnPassword(d.sys(), d.login(u), u.password, short),
    ]) {
      expectOutcome(res, 'policy_violation');
      assert.deepEqual(res.body.reasons, ['too_short']);
      assert.equal((res.body.policy as { minLength?: unknown } | undefined)?.minLength, d.policy.minLength);
    }
    assert.equal(await d.accepts(u, u.password), true);
  });

  it('an unknown user is user_not_found for the admin, a wrong password for the public change', async () => {
    expectOutcome(
      await d.sys().api('POST', `${T}/users/${d.nobody()}/password/reset`, { newPassword: pw('Ghost') }),
      'user_not_found',
    );
    expectOutcome(
      await changeOwnPassword(d.sys(), d.nobody(), pw('Ghost'), pw('Ghost')),
      // The public change API tells an unproven caller nothing about who exists (issue 10).
      'wrong_current_password',
    );
  });
}

const sambaSkip = missingPrograms(['samba', 'samba-tool', 'kinit', 'ldapsearch']);
const slapdSkip = missingPrograms(['slapd', 'slapadd', 'ldapwhoami', 'ldapsearch']);
/** Both servers start side by side (each suite awaits its own; a failed start fails that suite). */
let dcStarting: Promise<SambaDc> | undefined;
let slapdStarting: Promise<SlapdLab> | undefined;

before(() => {
  if (!sambaSkip) dcStarting = startSambaDc();
  if (!slapdSkip) slapdStarting = startSlapd({ tls: true });
  // Awaited (and their errors reported) by the suites' own before hooks.
  dcStarting?.catch(() => {});
  slapdStarting?.catch(() => {});
});

after(() => {
  assert.deepEqual(findSecrets(capturedLogs, secrets), [], 'a password appeared in a log line');
});

describe('Samba AD DC through the whole path (agent process, ldaps)', { skip: sambaSkip }, () => {
  let dc: SambaDc;
  let sys: System<Directory>;
  let stopAll: (() => Promise<void>) | undefined;
  let seq = 0;

  before(async () => {
    if (!dcStarting) throw new Error('the DC was not started');
    ({ dc, sys, stop: stopAll } = await startSystemWithSamba(dcStarting, secrets));
  });
  after(() => stopAll?.());

  async function user(): Promise<SambaUser> {
    seq++;
    const password = pw(`Init${seq}`);
    return dc.createUser({ login: `e2e${process.pid % 1000}u${seq}`, password });
  }
  const kinit = async (u: SambaUser, password: string) =>
    (await dc.kinit(`${u.login}@${dc.realm}`, password)).code === 0;

  samePathTests({
    sys: () => sys,
    user,
    login: (u) => u.login,
    accepts: kinit,
    tool: 'kinit',
    policy: { name: 'the domain policy', minLength: 7 },
    nobody: () => `nobody-${seq}`,
  });

  it('unlock: an account locked by three bad binds signs in again after the API unlock', async () => {
    const u = await user();
    for (let i = 0; i < 3; i++) assert.notEqual((await dc.ldapBind(u.dn, `Wrong-${i}-Pass!`)).code, 0);
    // Locked: even the right password is refused now (independent check with ldapsearch).
    assert.notEqual((await dc.ldapBind(u.dn, u.password)).code, 0);
    expectOutcome(await sys.api('POST', `${T}/users/${u.login}/unlock`, {}), 'succeeded');
    assert.equal((await dc.ldapBind(u.dn, u.password)).code, 0);
    assert.equal(await kinit(u, u.password), true);
  });

  it('policy.get returns the domain policy samba-tool reports', async () => {
    const u = await user();
    const res = await sys.api('GET', `${T}/users/${u.login}/policy`);
    expectOutcome(res, 'succeeded');
    const policy = res.body.policy as Record<string, unknown>;
    const shown = await dc.sambaTool(['domain', 'passwordsettings', 'show']);
    const number = (label: string): number => {
      const m = new RegExp(`^${label}[^:]*:\\s*(\\d+)`, 'm').exec(shown);
      assert.ok(m?.[1], `samba-tool shows ${label}`);
      return Number(m[1]);
    };
    assert.equal(policy.source, 'domain');
    assert.equal(policy.minLength, number('Minimum password length'));
    assert.equal(policy.historyLength, number('Password history length'));
    assert.equal(policy.complexity, /^Password complexity:\s*on/m.test(shown));
    assert.equal(policy.lockoutThreshold, number('Account lockout threshold'));
    assert.equal(policy.minAgeSeconds, number('Minimum password age') * 86_400);
  });
});

describe('slapd (OpenLDAP + ppolicy) through the whole path (agent process, ldaps)', { skip: slapdSkip }, () => {
  let lab: SlapdLab;
  let sys: System<Directory>;
  let stopSystem: (() => Promise<void>) | undefined;

  before(async () => {
    if (!slapdStarting) throw new Error('slapd was not started');
    lab = await slapdStarting;
    for (const p of Object.values(lab.passwords)) secrets.add(p);
    ({ sys, stop: stopSystem } = await startSystemOnSlapd(lab));
  });
  after(async () => {
    await stopSystem?.();
    await lab?.stop();
  });

  async function user(): Promise<SlapdUser> {
    return lab.addUser({ password: pw('Init') });
  }

  samePathTests({
    sys: () => sys,
    user,
    login: (u) => u.uid,
    accepts: async (u, password) => (await lab.whoami(u.dn, password)) === 0,
    tool: 'ldapwhoami',
    policy: { name: 'the ppolicy entry', minLength: 8 },
    nobody: () => 'nobody-e2e',
  });

  it('a password from history is policy_violation [history] (slapd enforces it for the write-right account)', async () => {
    const u = await user();
    const next = pw('Hist');
    expectOutcome(await sys.api('POST', `${T}/users/${u.uid}/password/reset`, { newPassword: next }), 'succeeded');
    const res = await changeOwnPassword(sys, u.uid, next, u.password);
    expectOutcome(res, 'policy_violation');
    assert.deepEqual(res.body.reasons, ['history']);
    assert.equal(await lab.whoami(u.dn, next), 0);
  });

  it('unlock: an account locked by three bad binds binds again after the API unlock', async () => {
    const u = await user();
    for (let i = 0; i < 3; i++) assert.notEqual(await lab.whoami(u.dn, `Wrong-${i}-Pass!`), 0);
    assert.notEqual(await lab.whoami(u.dn, u.password), 0);
    expectOutcome(await sys.api('POST', `${T}/users/${u.uid}/unlock`, {}), 'succeeded');
    assert.equal(await lab.whoami(u.dn, u.password), 0);
  });

  it('policy.get returns the ppolicy entry ldapsearch reads', async () => {
    const u = await user();
    const res = await sys.api('GET', `${T}/users/${u.uid}/policy`);
    expectOutcome(res, 'succeeded');
    const policy = res.body.policy as Record<string, unknown>;
    const ldif = await lab.ldapsearch(lab.defaultPolicyDn, '(objectClass=pwdPolicy)', [
      'pwdMinLength',
      'pwdInHistory',
      'pwdMaxFailure',
      'pwdMinAge',
    ]);
    const number = (attr: string): number => {
      const m = new RegExp(`^${attr}: (\\d+)$`, 'm').exec(ldif);
      assert.ok(m?.[1], `ldapsearch shows ${attr}`);
      return Number(m[1]);
    };
    assert.equal(policy.source, 'ppolicy');
    assert.equal(policy.minLength, number('pwdMinLength'));
    assert.equal(policy.historyLength, number('pwdInHistory'));
    assert.equal(policy.lockoutThreshold, number('pwdMaxFailure'));
    assert.equal(policy.minAgeSeconds, number('pwdMinAge'));
  });
});
