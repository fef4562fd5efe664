/**
 * The web foundation on its own: the escaping template, session idle and absolute timeouts (frozen
 * clock, real SQLite store), Secure `__Host-` cookies behind an https public URL, and every outcome
 * code and policy reason having plain words.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OUTCOME_CODES, POLICY_REASONS } from '@writeback/protocol';
import { effectivePolicy } from '@writeback/testkit';
import { createCloud, openStore, type Cloud, type Db } from '@writeback/cloud';
import {
  createTenant,
  createWebSession,
  hasMessage,
  html,
  loadWebSession,
  outcomeNotice,
  raw,
  reasonText,
  SESSION_ABSOLUTE_MS,
  SESSION_IDLE_MS,
  t,
} from '@writeback/cloud/testing';

describe('html template', () => {
  it('escapes every interpolation, keeps SafeHtml, joins arrays', () => {
    const evil = `<script>alert("x")</script>&'\``;
    const out =
      html`<p title="${evil}">${evil}${[html`<b>${'<i>'}</b>`, '<u>']}${raw('<br>')}${null}${false}</p>`.toString();
    assert.equal(
      out,
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;<b>&lt;i&gt;</b>&lt;u&gt;<br></p>',
    );
  });
});

describe('web sessions', () => {
  let db: Db;
  let tenantId = '';
  before(async () => {
    db = await openStore({ url: 'sqlite::memory:' });
    tenantId = (await createTenant(db, { slug: 'acme', name: 'Acme' }, 0)).id;
  });
  after(async () => {
    await db?.close();
  });

  it('ends after 15 idle minutes', async () => {
    const t0 = 1_000_000;
    const { cookie } = await createWebSession(
      db,
      { kind: 'user', tenantId, subjectId: 'u1', subjectLogin: 'alice' },
      t0,
    );
    assert.ok(await loadWebSession(db, cookie, 'user', t0 + SESSION_IDLE_MS - 1_000));
    // That request counted as activity: another idle period from there is fine.
    assert.ok(await loadWebSession(db, cookie, 'user', t0 + 2 * SESSION_IDLE_MS - 5_000));
    assert.equal(await loadWebSession(db, cookie, 'user', t0 + 3 * SESSION_IDLE_MS), null);
    // Gone for good, even "earlier".
    assert.equal(await loadWebSession(db, cookie, 'user', t0 + 1), null);
  });

  it('ends 8 hours after sign-in however active', async () => {
    const t0 = 5_000_000;
    const { cookie } = await createWebSession(db, { kind: 'user', tenantId, subjectId: 'u2', subjectLogin: 'bob' }, t0);
    let now = t0;
    while (now + 10 * 60_000 < t0 + SESSION_ABSOLUTE_MS) {
      now += 10 * 60_000;
      assert.ok(await loadWebSession(db, cookie, 'user', now));
    }
    assert.equal(await loadWebSession(db, cookie, 'user', t0 + SESSION_ABSOLUTE_MS), null);
  });

  it('refuses a wrong secret, a malformed cookie, and the other kind', async () => {
    const { cookie } = await createWebSession(
      db,
      { kind: 'admin', tenantId, subjectId: 'a1', subjectLogin: 'root' },
      0,
    );
    const [id] = cookie.split('.');
    assert.equal(await loadWebSession(db, `${id}.${'A'.repeat(43)}`, 'admin', 1), null);
    assert.equal(await loadWebSession(db, 'garbage', 'admin', 1), null);
    assert.equal(await loadWebSession(db, cookie, 'user', 1), null);
    assert.ok(await loadWebSession(db, cookie, 'admin', 1));
    // The store keeps only a hash of the secret.
    const row = await db.one('SELECT secret_hash FROM web_sessions WHERE id = ?', [id ?? '']);
    assert.ok(row && typeof row.secret_hash === 'string' && !cookie.includes(row.secret_hash));
  });
});

describe('cookies behind an https public URL', () => {
  let cloud: Cloud;
  before(async () => {
    cloud = await createCloud(
      {
        port: 0,
        databaseUrl: 'sqlite::memory:',
        masterKey: 'B'.repeat(43),
        publicUrl: 'https://passwords.example.test',
      },
      { printOperatorKey: () => {} },
    );
    await cloud.bootstrap({ tenant: { slug: 'acme' } });
  });
  after(async () => {
    await cloud?.close();
  });

  it('are Secure with the __Host- prefix', async () => {
    const res = await fetch(`${cloud.url}/t/acme/signin`);
    assert.equal(res.status, 200);
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.length > 0);
    for (const c of cookies) assert.match(c, /^__Host-[a-z-]+=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure/);
    assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=/);
  });

  it('an unknown tenant is a 404 page, not JSON', async () => {
    const res = await fetch(`${cloud.url}/t/nope/signin`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /data-code="not_found"/);
  });
});

describe('plain words', () => {
  const policy = effectivePolicy({
    maxLength: 64,
    lockoutDurationSeconds: 900,
    nextChangeAllowedAt: '2026-11-29T14:05:00.000Z',
  });

  it('every outcome code has a message', () => {
    for (const code of OUTCOME_CODES) {
      if (code === 'succeeded') continue;
      assert.ok(hasMessage(`outcome.${code}`), code);
      assert.match(outcomeNotice({ outcome: code }, 'change').toString(), new RegExp(`data-code="${code}"`));
    }
  });

  it('every policy reason has a sentence with the policy values', () => {
    const seen = new Set<string>();
    for (const r of POLICY_REASONS) {
      const text = reasonText(r, policy);
      assert.ok(text.length > 10 && !text.includes('{'), r);
      seen.add(text);
    }
    assert.equal(seen.size, POLICY_REASONS.length);
    assert.equal(reasonText('too_short', policy), 'Your new password must be at least 12 characters.');
    assert.equal(reasonText('history', policy), 'Your new password must not be one of your last 24 passwords.');
    assert.equal(
      reasonText('min_age', policy),
      'You changed your password recently. You can change it again after 2026-11-29 14:05 UTC.',
    );
    assert.match(t('outcome.agent_unavailable'), /can’t be reached right now, so nothing was changed/);
  });
});
