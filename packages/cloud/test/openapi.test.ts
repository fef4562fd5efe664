/** The OpenAPI document: valid JSON, OpenAPI 3.1, every served route in it with its error codes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { registeredRoutes } from '../src/http/app.js';
import { api, FakeRelay, startCloud, type Started } from './helpers.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

describe('OpenAPI document', () => {
  let s: Started;
  let doc: Json;
  before(async () => {
    s = await startCloud({ deps: { relayClient: new FakeRelay() } });
    const r = await api(s.cloud.url, 'GET', '/openapi.json');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.ok(isObj(r.json));
    doc = r.json;
  });
  after(() => s.stop());

  test('is OpenAPI 3.1 with a bearer security scheme', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(isObj(doc.info) && typeof doc.info.title === 'string');
    const comps = doc.components;
    assert.ok(isObj(comps) && isObj(comps.securitySchemes) && isObj(comps.securitySchemes.bearer));
  });

  test('lists every route the server serves, and nothing it does not', () => {
    const paths = doc.paths;
    assert.ok(isObj(paths));
    const served = registeredRoutes(s.cloud.app).filter((r) => r.method !== 'HEAD');
    assert.ok(served.length >= 18);
    const documented = new Set<string>();
    for (const [p, ops] of Object.entries(paths)) {
      assert.ok(isObj(ops));
      for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${p}`);
    }
    const servedKeys = new Set(served.map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`));
    assert.deepEqual([...servedKeys].sort(), [...documented].sort());
  });

  test('every operation has an id, responses, parameters for its path variables, and typed error bodies', () => {
    const paths = doc.paths;
    assert.ok(isObj(paths));
    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(paths)) {
      assert.ok(isObj(ops));
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(isObj(op), `${method} ${p}`);
        assert.equal(typeof op.operationId, 'string');
        assert.ok(!ids.has(String(op.operationId)), 'operation ids are unique');
        ids.add(String(op.operationId));
        assert.ok(isObj(op.responses) && Object.keys(op.responses).length > 0);
        assert.ok(isObj(op.responses['500']));
        const vars = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        const params = Array.isArray(op.parameters) ? op.parameters : [];
        for (const v of vars)
          assert.ok(
            params.some((x: unknown) => isObj(x) && x.name === v && x.in === 'path'),
            `${method} ${p} documents {${v}}`,
          );
      }
    }
    const reset = paths['/api/v1/tenants/{tenant}/users/{login}/password/reset'];
    assert.ok(isObj(reset) && isObj(reset.post) && isObj(reset.post.responses));
    // Outcome statuses and error statuses are both there.
    for (const status of ['200', '422', '423', '502', '503', '504', '401', '400'])
      assert.ok(status in reset.post.responses, status);
    const change = paths['/api/v1/tenants/{tenant}/password/change'];
    assert.ok(isObj(change) && isObj(change.post) && isObj(change.post.responses));
    assert.ok(JSON.stringify(change.post.responses['429']).includes('rate_limited'));
    assert.ok(isObj(change.post.requestBody));
  });
});
