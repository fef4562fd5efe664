/**
 * Issue 10, lockout as denial of service on the forgot-password start (the whole system; client
 * addresses through X-Forwarded-For to a cloud that trusts its proxy): a stranger starting flows
 * for someone else's name cannot stop the owner from starting one.
 * - One address uses up only its own budget for the name (5 an hour by default).
 * - Many addresses together use up the name's budget from everywhere (four times that); a browser
 *   the owner signed in with before (device cookie) still starts a flow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORDS, startSystem, type System } from './harness.js';
import { WebClient } from './web-client.js';

describe('forgot-password starts: nobody locks the owner out', () => {
  let sys: System;
  let n = 0;
  const browser = (ip = `198.51.100.${++n}`): WebClient => {
    const c = new WebClient(sys.url);
    c.forwardedFor = ip;
    return c;
  };
  const start = async (c: WebClient, login: string): Promise<number> => {
    await c.get('/t/acme/forgot');
    return (await c.post('/t/acme/forgot', { login })).status;
  };

  before(async () => {
    sys = await startSystem({ cloudConfig: { trustProxy: true } });
    await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
  });
  after(async () => {
    await sys?.stop();
  });

  it('one address, then many: the owner elsewhere and the owner in a known browser still start', async () => {
    // The owner's browser has signed in before: it holds a device cookie for alice.
    const owners = browser();
    await owners.get('/t/acme/signin');
    assert.equal(
      (await owners.post('/t/acme/signin', { login: 'alice', password: PASSWORDS.alice })).url,
      '/t/acme/account',
    );
    assert.ok(owners.cookies.has('wb-device'));
    await owners.post('/t/acme/signout', {});

    const stranger = browser();
    for (let i = 0; i < 5; i++) assert.equal(await start(stranger, 'alice'), 200);
    assert.equal(await start(stranger, 'alice'), 429, 'one address: its own budget for the name is used up');
    assert.equal(await start(browser(), 'alice'), 200, 'the owner at another address is not held');

    // Three more addresses (5 + 5 + 4): with the six above, 20 starts for the name, its hourly budget.
    for (const times of [5, 5, 4]) {
      const c = browser();
      for (let i = 0; i < times; i++) assert.equal(await start(c, 'alice'), 200);
    }
    assert.equal(await start(browser(), 'ALICE'), 429, 'the name is held everywhere else now');
    owners.forwardedFor = `198.51.100.${++n}`;
    assert.equal(await start(owners, 'alice'), 200, 'but not in the browser the owner signed in with');
  });
});
