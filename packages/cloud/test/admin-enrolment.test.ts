/**
 * Issue 10 (Medium, "admin API sessions without a second factor"): an admin who has not enrolled
 * an authenticator got a full API session from the password alone. Now such a session may only
 * enrol (POST .../admin/second-factor, then .../confirm) or sign out: every other bearer route
 * answers 403 second_factor_enrolment_required, checked centrally before the route runs (so a
 * route cannot forget it), and documented on every such route. After the first code the same
 * session is full, and the next sign-in asks for a code.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { totpCode } from '@writeback/cloud/testing';
import { ALL_ROUTES } from '../src/http/routes/index.js';
import { api, Clock, errorCode, FakeRelay, field, startCloud, str, type Started } from './helpers.js';

const T = '/api/v1/tenants/acme';
const PASSWORD = 'Enrolment-Admin-Pass-2030!';
/** The routes an enrol-only session may call. */
const ALLOWED = new Set(['adminBeginSecondFactorEnrolment', 'adminConfirmSecondFactorEnrolment', 'adminSignOut']);

describe('admin API sessions before the second factor', () => {
  let s: Started;
  let base: string;
  let acmeKey: string;
  const clock = new Clock();
  const ids = new Map<string, string>();

  before(async () => {
    s = await startCloud({
      deps: { relayClient: new FakeRelay(), now: clock.now },
      config: { rateLimits: { adminSignInPerLogin: { limit: 5, windowSeconds: 900 } } },
    });
    base = s.cloud.url;
    acmeKey = (await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true })).apiKey ?? '';
    await s.cloud.bootstrap({ tenant: { slug: 'globex' } });
    for (const [login, role] of [
      ['fresh', 'admin'],
      ['racer', 'admin'],
      ['guesser', 'helpdesk'],
      ['lost', 'admin'],
    ] as const) {
      const r = await api(base, 'POST', `${T}/admins`, { token: acmeKey, body: { login, password: PASSWORD, role } });
      ids.set(login, str(r.json, 'id'));
    }
  });
  after(() => s.stop());

  const signIn = (login: string, totp?: string) =>
    api(base, 'POST', `${T}/admin/sessions`, { body: { login, password: PASSWORD, ...(totp ? { totp } : {}) } });
  const begin = (token: string, tenant = 'acme') =>
    api(base, 'POST', `/api/v1/tenants/${tenant}/admin/second-factor`, { token });
  const confirm = (token: string, code: string) =>
    api(base, 'POST', `${T}/admin/second-factor/confirm`, { token, body: { code } });
  /** A wrong code for `at` (any other 6 digits than the right one). */
  const wrong = (secret: string, at: number) => (totpCode(secret, at) === '000000' ? '000001' : '000000');

  test('the password alone gives an enrol-only session: every other bearer route answers 403 second_factor_enrolment_required', async () => {
    const r = await signIn('fresh');
    assert.equal(r.status, 201);
    assert.equal(field(r.json, 'secondFactor'), 'enrolment_required');
    const token = str(r.json, 'token');
    let checked = 0;
    for (const { doc } of ALL_ROUTES) {
      if (doc.auth !== 'bearer' || ALLOWED.has(doc.operationId)) continue;
      const path = doc.url.replace(':tenant', 'acme').replace(/:([A-Za-z]+)/g, (_m, name: string) => `x-${name}`);
      const res = await api(base, doc.method, path, { token, ...(doc.method === 'GET' ? {} : { body: {} }) });
      assert.equal(res.status, 403, `${doc.method} ${doc.url}`);
      assert.equal(errorCode(res), 'second_factor_enrolment_required', `${doc.method} ${doc.url}`);
      checked++;
    }
    assert.ok(checked >= 25, `${checked} routes checked`);
    // What the refusal protects, as the finding had it: the audit log, a reset, the admin list.
    assert.equal(errorCode(await api(base, 'GET', `${T}/audit`, { token })), 'second_factor_enrolment_required');
  });

  test('enrolment through the API: the key once, a wrong code refused, the first code makes the same session full', async () => {
    const r = await signIn('fresh');
    const token = str(r.json, 'token');
    const first = await begin(token);
    assert.equal(first.status, 201);
    const again = await begin(token);
    const secret = str(again.json, 'secret');
    assert.notEqual(secret, str(first.json, 'secret'), 'starting again replaces the key not yet confirmed');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const uri = new URL(str(again.json, 'otpauthUri'));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.searchParams.get('secret'), secret);

    assert.equal(errorCode(await confirm(token, totpCode(str(first.json, 'secret'), clock.now()))), 'totp_invalid');
    assert.equal(errorCode(await confirm(token, wrong(secret, clock.now()))), 'totp_invalid');
    assert.equal(errorCode(await confirm(token, 'abc')), 'invalid_request');
    assert.equal(errorCode(await api(base, 'GET', `${T}/audit`, { token })), 'second_factor_enrolment_required');
    const code = totpCode(secret, clock.now());
    assert.equal((await confirm(token, code)).status, 204);
    assert.equal((await api(base, 'GET', `${T}/audit`, { token })).status, 200, 'the same session is full now');
    assert.equal(errorCode(await begin(token)), 'conflict', 'a confirmed authenticator is never replaced here');
    assert.equal(errorCode(await confirm(token, code)), 'conflict');

    // The next sign-in asks for a code; a code is good once.
    assert.equal(errorCode(await signIn('fresh')), 'second_factor_required');
    assert.equal(errorCode(await signIn('fresh', code)), 'invalid_credentials');
    clock.advance(30_000);
    const full = await signIn('fresh', totpCode(secret, clock.now()));
    assert.equal(full.status, 201);
    assert.equal(field(full.json, 'secondFactor'), 'active');
  });

  test('two enrol-only sessions: the enrolment made through one makes both full', async () => {
    const a = str((await signIn('racer')).json, 'token');
    const b = str((await signIn('racer')).json, 'token');
    const secret = str((await begin(a)).json, 'secret');
    assert.equal(errorCode(await api(base, 'GET', `${T}/agents`, { token: b })), 'second_factor_enrolment_required');
    assert.equal((await confirm(a, totpCode(secret, clock.now()))).status, 204);
    assert.equal((await api(base, 'GET', `${T}/agents`, { token: b })).status, 200);
  });

  test('wrong codes count towards the admin sign-in budget: then 429 rate_limited, even with the right code', async () => {
    const token = str((await signIn('guesser')).json, 'token');
    const secret = str((await begin(token)).json, 'secret');
    for (let i = 0; i < 5; i++)
      assert.equal(errorCode(await confirm(token, wrong(secret, clock.now()))), 'totp_invalid');
    const limited = await confirm(token, totpCode(secret, clock.now()));
    assert.equal(limited.status, 429);
    assert.equal(errorCode(limited), 'rate_limited');
    assert.equal(errorCode(await api(base, 'GET', `${T}/audit`, { token })), 'second_factor_enrolment_required');
  });

  test('only an admin session of the tenant enrols itself; keys get 403, another tenant’s path 404', async () => {
    assert.equal(errorCode(await begin(acmeKey)), 'forbidden');
    assert.equal(errorCode(await begin(s.operatorKey)), 'forbidden');
    const token = str((await signIn('lost')).json, 'token');
    assert.equal(errorCode(await begin(token, 'globex')), 'not_found');
    assert.equal(errorCode(await begin(token, 'nowhere')), 'not_found');
    // Signing out is allowed.
    assert.equal((await api(base, 'DELETE', `${T}/admin/sessions/current`, { token })).status, 204);
    assert.equal(errorCode(await begin(token)), 'unauthorized');
  });

  test('after the operator removes a lost authenticator, the next API session is enrol-only again', async () => {
    clock.advance(30_000);
    const token = str((await signIn('lost')).json, 'token');
    const secret = str((await begin(token)).json, 'secret');
    assert.equal((await confirm(token, totpCode(secret, clock.now()))).status, 204);
    const reset = await api(base, 'DELETE', `${T}/admins/${ids.get('lost')}/second-factor`, { token: s.operatorKey });
    assert.equal(reset.status, 204);
    assert.equal(errorCode(await api(base, 'GET', `${T}/audit`, { token })), 'unauthorized', 'its sessions ended');
    const next = await signIn('lost');
    assert.equal(field(next.json, 'secondFactor'), 'enrolment_required');
    assert.equal(
      errorCode(await api(base, 'GET', `${T}/audit`, { token: str(next.json, 'token') })),
      'second_factor_enrolment_required',
    );
  });

  test('the OpenAPI document lists second_factor_enrolment_required on every bearer route but the enrolment and sign-out', async () => {
    const doc = (await api(base, 'GET', '/openapi.json')).text;
    const parsed: unknown = JSON.parse(doc);
    for (const { doc: route } of ALL_ROUTES) {
      if (route.auth !== 'bearer') continue;
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const op = field(parsed, 'paths', path, route.method.toLowerCase());
      const forbidden: unknown = Reflect.get(Object(field(op, 'responses')), '403');
      const listed = JSON.stringify(forbidden ?? null).includes('second_factor_enrolment_required');
      assert.equal(listed, !ALLOWED.has(route.operationId), `${route.method} ${route.url}`);
    }
  });
});
