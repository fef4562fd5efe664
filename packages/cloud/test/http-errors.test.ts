/**
 * The API's error contract over real HTTP: body limits, malformed JSON, wrong types (with the
 * field path, never the value), media types, unknown routes, and the generic 500 whose detail
 * only reaches the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, assertError, captureLogs, errorCode, FakeRelay, field, startCloud, type Started } from './helpers.js';
import { createLogger } from '@writeback/protocol';

describe('HTTP errors', () => {
  let s: Started;
  let base: string;
  let apiKey: string;
  before(async () => {
    s = await startCloud({ deps: { relayClient: new FakeRelay() } });
    base = s.cloud.url;
    apiKey = (await s.cloud.bootstrap({ tenant: { slug: 'acme' }, apiKey: true })).apiKey ?? '';
  });
  after(() => s.stop());
  /** The public password change with a raw body sent as JSON (it needs no key: the body is all it reads). */
  const changeWithRawJson = (rawBody: string) =>
    api(base, 'POST', '/api/v1/tenants/acme/password/change', {
      rawBody,
      headers: { 'content-type': 'application/json' },
    });

  test('a body over the limit is 413 payload_too_large', async () => {
    const big = JSON.stringify({ username: 'a', currentPassword: 'b', newPassword: 'x'.repeat(20_000) });
    assertError(await changeWithRawJson(big), 413, 'payload_too_large');
  });

  test('malformed JSON is 400 invalid_request; so is an empty JSON body', async () => {
    assertError(await changeWithRawJson('{"username": "a", '), 400, 'invalid_request');
    assertError(await changeWithRawJson(''), 400, 'invalid_request');
  });

  test('prototype poisoning is refused', async () => {
    assertError(await changeWithRawJson('{"__proto__": {"x": 1}, "username": "a"}'), 400, 'invalid_request');
  });

  test('wrong types are 400 with the zod paths in details, and the submitted password is never echoed', async () => {
    const secret = 'Echo-Me-Not-123456';
    const r = await api(base, 'POST', '/api/v1/tenants/acme/password/change', {
      body: { username: 42, currentPassword: secret, newPassword: ['x'.repeat(300)] },
    });
    assertError(r, 400, 'invalid_request');
    const details = field(r.json, 'error', 'details');
    assert.ok(Array.isArray(details));
    const paths = details.map((d: unknown) => field(d, 'path'));
    assert.deepEqual(paths.sort(), ['body.newPassword', 'body.username']);
    assert.ok(!r.text.includes(secret));
    const tooLong = await api(base, 'POST', '/api/v1/tenants/acme/users/alice/password/reset', {
      token: apiKey,
      body: { newPassword: `${secret}${'y'.repeat(300)}` },
    });
    assert.equal(tooLong.status, 400);
    assert.ok(!tooLong.text.includes(secret));
    assert.ok(JSON.stringify(field(tooLong.json, 'error', 'details')).includes('body.newPassword'));
  });

  test('a JSON body that is not an object is invalid_request', async () => {
    for (const raw of ['null', '"text"', '[1,2]', '42']) {
      assertError(await changeWithRawJson(raw), 400, 'invalid_request', raw);
    }
  });

  test('anything but JSON is 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const r = await api(base, 'POST', '/api/v1/tenants/acme/password/change', {
        rawBody: 'username=a',
        headers: { 'content-type': type },
      });
      assertError(r, 415, 'unsupported_media_type', type);
    }
  });

  test('unknown routes and methods are 404 not_found', async () => {
    assert.equal(errorCode(await api(base, 'GET', '/api/v2/nothing')), 'not_found');
    assert.equal(errorCode(await api(base, 'PUT', '/api/v1/tenants')), 'not_found');
  });

  test('an authenticated route refuses before reading the body', async () => {
    const r = await api(base, 'POST', '/api/v1/tenants', {
      rawBody: '{broken',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 401);
  });

  test('an internal failure is a generic 500; the detail is only in the log', async () => {
    const s2 = await startCloud({
      deps: { relayClient: new FakeRelay(), log: createLogger({ name: 'cloud', level: 'debug' }) },
    });
    const cap = captureLogs();
    try {
      await s2.cloud.store.close();
      const r = await api(s2.cloud.url, 'GET', '/api/v1/tenants', { token: s2.operatorKey });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { error: { code: 'internal_error', message: 'internal error' } });
      const errors = cap.lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'error');
      assert.ok(
        errors.some((l) => l.err?.code === 'store_unavailable'),
        'the cause is logged',
      );
      const h = await api(s2.cloud.url, 'GET', '/healthz');
      assert.equal(h.status, 503);
      assert.equal(field(h.json, 'store'), 'error');
    } finally {
      cap.stop();
      await s2.stop();
    }
  });
});
