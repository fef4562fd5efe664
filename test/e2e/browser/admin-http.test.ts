/**
 * Admin pages over plain HTTP (no browser, no agent): the sign-in steps and their refusals (wrong
 * password, wrong code, replayed code), redirects without a session, CSRF refusal, role rules
 * (help desk: settings and agents read-only), settings validation, and the audit CSV export's
 * escaping (RFC 4180 quoting, formula cells neutralised) of hostile values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getTenantSettings, type Cloud } from '@writeback/cloud';
import { csvCell, csvLine, finishRecord, insertPending, totpCode } from '@writeback/cloud/testing';
import {
  AdminClient,
  dataCode,
  HELPDESK_ADMIN,
  parseCsv,
  ROOT_ADMIN,
  startAdminCloud,
  type AdminCloud,
} from './admin-client.js';

const ADMIN = ROOT_ADMIN;
const HELPDESK = HELPDESK_ADMIN;
const TARGET = { login: 'guessed', password: 'Guessed-Admin-Pass-2030!' };
const BUDGET = { login: 'budgeted', password: 'Budgeted-Admin-Pass-2030!' };

/** A settings form that sets only the attempts per hour (email, one method, the cloud's hash). */
const settingsForm = (attemptsPerHour: string) => ({
  methods: 'email',
  required: '1',
  attemptsPerHour,
  signInMode: 'cloud_hash',
});

describe('admin pages over HTTP', () => {
  let started: AdminCloud;
  let cloud: Cloud;
  let tenantId: string;
  let admin: AdminClient;

  before(async () => {
    started = await startAdminCloud([
      [ADMIN, 'admin'],
      [HELPDESK, 'helpdesk'],
      [TARGET, 'helpdesk'],
    ]);
    ({ cloud, tenantId } = started);
    admin = new AdminClient(cloud.url);
  });
  after(() => started?.close());

  /** The attempts per hour stored now (a refused POST leaves them as they were). */
  const storedAttempts = async () => (await getTenantSettings(cloud.store, tenantId)).sspr.attemptsPerHour;

  test('without a session every admin page redirects to sign-in; pages carry a strict CSP and no-store', async () => {
    const c = new AdminClient(cloud.url);
    for (const p of ['users', 'users/alice', 'agents', 'settings', 'audit', 'audit.csv']) {
      const r = await c.get(`/t/acme/admin/${p}`);
      assert.equal(r.status, 303, p);
      assert.equal(r.location, '/t/acme/admin/signin', p);
    }
    const page = await c.get('/t/acme/admin/signin');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.equal((await c.get('/t/nope/admin/signin')).status, 404);
  });

  test('wrong password and wrong code are refused; enrolment then sign-in; a replayed code is refused', async () => {
    const c = new AdminClient(cloud.url);
    await c.get('/t/acme/admin/signin');
    const bad = await c.post('/t/acme/admin/signin', { login: ADMIN.login, password: 'not-the-password' });
    assert.equal(bad.status, 401);
    assert.equal(dataCode(bad.text), 'invalid_credentials');
    const unknown = await c.post('/t/acme/admin/signin', { login: 'nobody', password: 'whatever-password' });
    assert.equal(unknown.status, 401);
    assert.equal(dataCode(unknown.text), 'invalid_credentials');

    const ok = await c.post('/t/acme/admin/signin', ADMIN);
    assert.equal(ok.status, 303);
    assert.equal(ok.location, '/t/acme/admin/signin/totp');
    // Between the factors nothing else opens.
    assert.equal((await c.get('/t/acme/admin/users')).location, '/t/acme/admin/signin');
    const enrol = await c.get('/t/acme/admin/signin/totp');
    const secret = /data-secret="([A-Z2-7]+)"/.exec(enrol.text)?.[1] ?? '';
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.match(enrol.text, /<svg [^>]*class="qr"/);
    // A reload shows the same key (a scanned code keeps working).
    assert.ok((await c.get('/t/acme/admin/signin/totp')).text.includes(secret));
    const wrong = await c.post('/t/acme/admin/signin/totp', { code: totpCode(secret, Date.now() + 5 * 60_000) });
    assert.equal(wrong.status, 401);
    assert.equal(dataCode(wrong.text), 'totp_invalid');
    const code = totpCode(secret, Date.now());
    const done = await c.post('/t/acme/admin/signin/totp', { code });
    assert.equal(done.status, 303);
    assert.equal(done.location, '/t/acme/admin/users');
    assert.equal((await c.get('/t/acme/admin/users')).status, 200);

    // Sign out, sign in again: the key is no longer shown, and the same code is refused as a replay.
    assert.equal((await c.post('/t/acme/admin/signout')).location, '/t/acme/admin/signin?signedOut=1');
    assert.equal((await c.get('/t/acme/admin/users')).status, 303);
    await c.get('/t/acme/admin/signin');
    await c.post('/t/acme/admin/signin', ADMIN);
    const step2 = await c.get('/t/acme/admin/signin/totp');
    assert.ok(!step2.text.includes('data-secret'));
    const replay = await c.post('/t/acme/admin/signin/totp', { code });
    assert.equal(replay.status, 401);
    assert.equal(dataCode(replay.text), 'totp_replayed');
    const next = await c.post('/t/acme/admin/signin/totp', { code: totpCode(secret, Date.now() + 30_000) });
    assert.equal(next.status, 303);
    admin = c;
    admin.secret = secret;
  });

  test('the API sign-in asks an enrolled admin for the code too: no way around the second factor', async () => {
    const c = new AdminClient(cloud.url);
    await c.get('/t/acme/admin/signin');
    await c.post('/t/acme/admin/signin', TARGET);
    const enrol = await c.get('/t/acme/admin/signin/totp');
    const secret = /data-secret="([A-Z2-7]+)"/.exec(enrol.text)?.[1] ?? '';
    assert.equal((await c.post('/t/acme/admin/signin/totp', { code: totpCode(secret, Date.now()) })).status, 303);

    const apiSignIn = async (extra: Record<string, string>) => {
      const r = await fetch(`${cloud.url}/api/v1/tenants/acme/admin/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ login: TARGET.login, password: TARGET.password, ...extra }),
      });
      const body: unknown = await r.json();
      const code =
        typeof body === 'object' &&
        body !== null &&
        'error' in body &&
        typeof body.error === 'object' &&
        body.error !== null &&
        'code' in body.error
          ? body.error.code
          : null;
      return { status: r.status, code };
    };
    assert.deepEqual(await apiSignIn({}), { status: 401, code: 'second_factor_required' });
    const next = totpCode(secret, Date.now() + 30_000);
    assert.deepEqual(await apiSignIn({ totp: next === '000000' ? '000001' : '000000' }), {
      status: 401,
      code: 'invalid_credentials',
    });
    assert.equal((await apiSignIn({ totp: next })).status, 201);
    assert.deepEqual(
      await apiSignIn({ totp: next }),
      { status: 401, code: 'invalid_credentials' },
      'a code is good once',
    );
  });

  test("the operator removes a lost authenticator: the admin's sessions end and the next sign-in enrols a new one", async () => {
    const LOST = { login: 'lostphone', password: 'Lost-Phone-Admin-2030!' };
    const { operatorKey } = await cloud.bootstrap({
      tenant: { slug: 'acme' },
      admin: { ...LOST, role: 'helpdesk' },
      operatorKey: true,
    });
    const adminId = String((await cloud.store.one('SELECT id FROM admins WHERE login = ?', [LOST.login]))?.id);
    const operator = (method: string, path: string, key = operatorKey ?? '') =>
      fetch(`${cloud.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
    const path = `/api/v1/tenants/acme/admins/${adminId}/second-factor`;
    // No factor yet: nothing to remove.
    assert.equal((await operator('DELETE', path)).status, 404);

    const web = new AdminClient(cloud.url);
    await web.get('/t/acme/admin/signin');
    await web.post('/t/acme/admin/signin', LOST);
    const secret = /data-secret="([A-Z2-7]+)"/.exec((await web.get('/t/acme/admin/signin/totp')).text)?.[1] ?? '';
    assert.equal((await web.post('/t/acme/admin/signin/totp', { code: totpCode(secret, Date.now()) })).status, 303);
    assert.equal((await web.get('/t/acme/admin/users')).status, 200);
    const apiSession = await fetch(`${cloud.url}/api/v1/tenants/acme/admin/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...LOST, totp: totpCode(secret, Date.now() + 30_000) }),
    });
    assert.equal(apiSession.status, 201);
    const token = String(((await apiSession.json()) as { token?: unknown }).token);
    assert.equal((await operator('GET', '/api/v1/tenants/acme/audit', token)).status, 200);

    // Refusals: the help desk may not (not even for itself), an unknown admin is 404.
    assert.equal((await operator('DELETE', path, token)).status, 403);
    assert.equal(
      (await operator('DELETE', '/api/v1/tenants/acme/admins/adm-0000000000000000/second-factor')).status,
      404,
    );

    assert.equal((await operator('DELETE', path)).status, 204);
    assert.equal((await operator('DELETE', path)).status, 404, 'removed once');
    // Every session of that admin has ended: the page session and the API token.
    assert.equal((await web.get('/t/acme/admin/users')).location, '/t/acme/admin/signin');
    assert.equal((await operator('GET', '/api/v1/tenants/acme/audit', token)).status, 401);
    // The next sign-in with the password enrols a new authenticator (a new key is shown).
    const again = new AdminClient(cloud.url);
    await again.get('/t/acme/admin/signin');
    assert.equal((await again.post('/t/acme/admin/signin', LOST)).location, '/t/acme/admin/signin/totp');
    const fresh = /data-secret="([A-Z2-7]+)"/.exec((await again.get('/t/acme/admin/signin/totp')).text)?.[1] ?? '';
    assert.match(fresh, /^[A-Z2-7]{32}$/);
    assert.notEqual(fresh, secret);
  });

  test('failed sign-ins are rate limited per login with ONE budget for the pages and the API, the tenant by slug or id: then 429 rate_limited with Retry-After, even with the right password', async () => {
    await cloud.bootstrap({ tenant: { slug: 'acme' }, admin: { ...BUDGET, role: 'helpdesk' } });
    const c = new AdminClient(cloud.url);
    await c.get('/t/acme/admin/signin');
    const api = async (tenant: string, login: string, password: string) =>
      (
        await fetch(`${cloud.url}/api/v1/tenants/${encodeURIComponent(tenant)}/admin/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ login, password }),
        })
      ).status;
    // Ten failures spread over the pages and the API, the tenant by slug and by id, the login in
    // another case: one budget of ten (before issue 9 this was two budgets, twenty guesses).
    for (let i = 0; i < 4; i++)
      assert.equal((await c.post('/t/acme/admin/signin', { login: BUDGET.login, password: `wrong-${i}` })).status, 401);
    for (let i = 0; i < 3; i++) assert.equal(await api('acme', BUDGET.login, `wrong-api-${i}`), 401);
    for (let i = 0; i < 3; i++) assert.equal(await api(tenantId, BUDGET.login.toUpperCase(), `wrong-id-${i}`), 401);
    const limited = await c.post('/t/acme/admin/signin', BUDGET);
    assert.equal(limited.status, 429);
    assert.equal(dataCode(limited.text), 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal(limited.location, null);
    assert.equal(await api('acme', BUDGET.login, BUDGET.password), 429);
    assert.equal(await api(tenantId, BUDGET.login, BUDGET.password), 429);
  });

  test('an admin POST without the right CSRF token is refused (403 csrf_failed) and changes nothing', async () => {
    await admin.get('/t/acme/admin/settings');
    for (const token of ['', 'x'.repeat(43)]) {
      const r = await admin.request('POST', '/t/acme/admin/settings', { _csrf: token, ...settingsForm('7') });
      assert.equal(r.status, 403);
      assert.equal(dataCode(r.text), 'csrf_failed');
    }
    assert.equal(await storedAttempts(), 5);
  });

  test('issue 10: a token of another session is refused under every spelling of an admin path (percent-encoded too)', async () => {
    // The browser also holds the anonymous CSRF cookie (set by the sign-in form): a token that is
    // not the admin session's. Under `/t/acme/%61dmin/...` it used to be taken as a user path, and
    // the anonymous token was accepted for an admin action.
    const anon = admin.cookies.get('wb-csrf');
    assert.ok(anon, 'the browser holds an anonymous CSRF token');
    const form = { _csrf: anon, ...settingsForm('9') };
    for (const path of [
      '/t/acme/admin/settings',
      '/t/acme/%61dmin/settings',
      '/t/acme/%61%64%6D%69%6E/settings',
      '/t/%61cme/%61dmin/settings',
      '/t/acme/admin/%73ettings',
    ]) {
      const r = await admin.request('POST', path, form);
      assert.equal(r.status, 403, path);
      assert.equal(dataCode(r.text), 'csrf_failed', path);
    }
    assert.equal(await storedAttempts(), 5);
    // The encoded spelling still reaches the page (normalised, not refused).
    assert.equal((await admin.get('/t/acme/%61dmin/settings')).status, 200);
  });

  test('settings: invalid combinations re-render with errors; valid ones are stored', async () => {
    await admin.get('/t/acme/admin/settings');
    const bad = await admin.post('/t/acme/admin/settings', {
      ssprEnabled: '1',
      methods: 'email',
      required: '2',
      attemptsPerHour: '0',
      notifyAdmins: 'not an address',
      signInMode: 'cloud_hash',
    });
    assert.equal(bad.status, 400);
    assert.equal(dataCode(bad.text), 'invalid_request');
    for (const field of ['required', 'attemptsPerHour', 'notifyAdmins'])
      assert.ok(bad.text.includes(`href="#${field}"`), field);
    const good = await admin.post('/t/acme/admin/settings', {
      ssprEnabled: '1',
      unlockEnabled: '1',
      methods: ['email', 'totp'],
      required: '2',
      attemptsPerHour: '4',
      groups: 'SSPR Users\r\nCN=Helpdesk,OU=Groups,DC=example,DC=test',
      notifyAdmins: 'sec@example.test, ops@example.test',
      signInMode: 'pass_through',
    });
    assert.equal(good.status, 303);
    const s = await getTenantSettings(cloud.store, tenantId);
    assert.deepEqual(s.sspr.methods, ['email', 'totp']);
    assert.equal(s.sspr.required, 2);
    assert.equal(s.sspr.attemptsPerHour, 4);
    assert.deepEqual(s.sspr.groups, ['SSPR Users', 'CN=Helpdesk,OU=Groups,DC=example,DC=test']);
    assert.deepEqual(s.sspr.notifyAdmins, ['sec@example.test', 'ops@example.test']);
    assert.equal(s.sspr.requireRegistration, false);
    assert.equal(s.signIn.mode, 'pass_through');
    // The change is in the audit log, attributed to the admin.
    const csv = parseCsv((await admin.get('/t/acme/admin/audit.csv?action=admin.settings.update')).text);
    assert.equal(csv.length, 2);
    assert.equal(csv[1]?.[csv[0]?.indexOf('actor_kind') ?? -1], 'admin');
    assert.equal(csv[1]?.[csv[0]?.indexOf('outcome') ?? -1], 'succeeded');
  });

  test('help desk: settings and agents are read-only; their POSTs are refused with 403 forbidden', async () => {
    const h = new AdminClient(cloud.url);
    assert.equal((await h.signIn('acme', HELPDESK.login, HELPDESK.password)).status, 303);
    const page = await h.get('/t/acme/admin/settings');
    assert.equal(page.status, 200);
    assert.ok(page.text.includes('<fieldset class="card" disabled>'));
    assert.ok(!page.text.includes('id="settings-save"'));
    const post = await h.post('/t/acme/admin/settings', settingsForm('9'));
    assert.equal(post.status, 403);
    assert.equal(dataCode(post.text), 'forbidden');
    assert.equal(await storedAttempts(), 4);
    const agents = await h.get('/t/acme/admin/agents');
    assert.ok(!agents.text.includes('id="issue-token"'));
    const tok = await h.post('/t/acme/admin/agents/tokens', { ttlSeconds: '3600' });
    assert.equal(tok.status, 403);
    assert.ok(!tok.text.includes('wbt_'));
    // The help desk may still reset and unlock (the request reaches the writeback service).
    const unlock = await h.post('/t/acme/admin/users/alice/unlock');
    assert.equal(dataCode(unlock.text), 'agent_unavailable');
  });

  test('agents: an admin issues a token (shown once) and revokes it', async () => {
    await admin.get('/t/acme/admin/agents');
    const issued = await admin.post('/t/acme/admin/agents/tokens', { ttlSeconds: '3600' });
    assert.equal(issued.status, 201);
    const token = /id="agent-token">(wbt_[^<]+)</.exec(issued.text)?.[1] ?? '';
    assert.match(token, /^wbt_[^.]+\.[A-Za-z0-9_-]+$/);
    const id = token.slice('wbt_'.length, token.indexOf('.'));
    // Issue 10: the command shown reads the token from WRITEBACK_AGENT_TOKEN (argv is visible in the
    // process list, and a pasted command line lands in the shell's history); the secret is shown once.
    const cmd = /<pre class="cmd">([^<]*)<\/pre>/.exec(issued.text)?.[1] ?? '';
    assert.match(cmd, /WRITEBACK_AGENT_TOKEN/);
    assert.match(cmd, /writeback-agent register /);
    assert.ok(!cmd.includes('--token') && !cmd.includes(token), 'no token on the command line');
    assert.equal(issued.text.split(token).length - 1, 1, 'the secret appears once on the page');
    const listed = await admin.get('/t/acme/admin/agents');
    assert.ok(listed.text.includes(id) && !listed.text.includes(token), 'the id is listed, the secret never again');
    const revoked = await admin.post(`/t/acme/admin/agents/tokens/${encodeURIComponent(id)}/revoke`);
    assert.equal(revoked.status, 303);
    assert.ok(!(await admin.get('/t/acme/admin/agents')).text.includes(id));
    const reg = await fetch(`${cloud.url}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token,
        name: 'x',
        signingKey: 'A'.repeat(43),
        encryptionKey: 'A'.repeat(43),
        agentVersion: '1',
        directory: 'embedded',
      }),
    });
    assert.equal(reg.status, 401);
  });

  test('csvCell quotes per RFC 4180 and neutralises formula cells', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('two\nlines'), '"two\nlines"');
    assert.equal(csvCell('=1+2'), "'=1+2");
    assert.equal(csvCell('+1'), "'+1");
    assert.equal(csvCell('-2'), "'-2");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('\tx'), "'\tx");
    assert.equal(csvCell('=HYPERLINK("http://x","y")'), `"'=HYPERLINK(""http://x"",""y"")"`);
    assert.equal(csvCell(-5), '-5');
    assert.equal(csvCell(null), '');
    assert.equal(csvLine(['a', 'b,c']), 'a,"b,c"\r\n');
  });

  test('the CSV export escapes hostile values and filters like the page', async () => {
    const hostile = [
      '=HYPERLINK("http://evil.example","click")',
      '+cmd|calc',
      '-2+3',
      '@SUM(1)',
      'comma,name',
      'quote"name',
      'line\nbreak',
    ];
    const now = Date.now();
    for (const [i, target] of hostile.entries()) {
      const requestId = `00000000-0000-4000-8000-00000000000${i}`;
      await insertPending(cloud.store, {
        tenantId,
        requestId,
        actor: { kind: 'admin', id: 'adm-x' },
        action: 'password.reset',
        targetUser: target,
        startedAt: now - i,
        deadlineAt: now + 10_000,
      });
      await finishRecord(cloud.store, requestId, {
        outcome: i % 2 ? 'succeeded' : 'policy_violation',
        reasons: i % 2 ? [] : ['too_short'],
        latencyMs: 3,
        finishedAt: now,
      });
    }
    const res = await admin.get('/t/acme/admin/audit.csv?action=password.reset');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(
      res.headers.get('content-disposition') ?? '',
      /^attachment; filename="audit-acme-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const rows = parseCsv(res.text);
    const header = rows[0] ?? [];
    const col = header.indexOf('target_user');
    assert.ok(col >= 0);
    const targets = rows.slice(1).map((r) => r[col]);
    const expected = hostile.map((h) => (/^[=+\-@]/.test(h) ? `'${h}` : h));
    assert.deepEqual([...targets].sort(), [...expected].sort());
    for (const r of rows) assert.equal(r.length, header.length);
    // No cell of the export starts a formula.
    for (const r of rows.slice(1))
      for (const cell of r) assert.ok(!/^[=+@]/.test(cell) && !/^-[^0-9]/.test(cell), cell);

    const onlyOk = parseCsv((await admin.get('/t/acme/admin/audit.csv?outcome=succeeded&action=password.reset')).text);
    assert.equal(onlyOk.length - 1, hostile.filter((_, i) => i % 2).length);
    const page = await admin.get('/t/acme/admin/audit?outcome=policy_violation');
    assert.equal(page.status, 200);
    assert.ok(page.text.includes('aria-labelledby="perday-title"'));
    assert.equal((page.text.match(/data-outcome="succeeded"/g) ?? []).length, 0);
    assert.equal((page.text.match(/data-outcome="policy_violation"/g) ?? []).length, 4);
    assert.ok(page.text.includes('=HYPERLINK(&quot;http://evil.example&quot;,&quot;click&quot;)'), 'escaped in HTML');
  });
});
