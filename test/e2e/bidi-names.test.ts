/**
 * Issue 10 (Low): a name from the directory holding a right-to-left override (U+202E) or another
 * invisible or direction-changing character was shown to the help desk as is, so
 * `Invoice\u202Egnp.exe` read "Invoiceexe.png". Every page now shows each such character as a
 * visible marker (`⟨U+202E⟩`): the user list, the user's page, and the audit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { revealInvisible } from '@writeback/cloud/testing';
import { AdminClient } from './browser/admin-client.js';
import { startSystem, type System } from './harness.js';

const ADMIN = { login: 'root', password: 'Root-Admin-Pass-2030!' };
const SPOOF = 'Invoice\u202Egnp.exe';
/** Bidi controls, marks and other invisible characters no page may carry raw. */
const HIDDEN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200B\u200E\u200F\u2028-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/;

describe('issue 10: bidi and control characters in directory names', () => {
  let sys: System;

  before(async () => {
    sys = await startSystem({
      seed: async (d) => {
        await d.createUser({
          login: 'mallory',
          displayName: SPOOF,
          password: 'Quince-Initial-2024!',
          mail: 'mallory@example.com',
        });
        await d.createUser({
          login: 'isolde',
          displayName: 'Isolde \u2067Admin\u2069 \u200FTeam\uFEFF',
          password: 'Rowan-Initial-2024!',
        });
      },
    });
    await sys.cloud.bootstrap({ tenant: { slug: 'acme' }, admin: { ...ADMIN, role: 'admin' } });
    await sys.cloud.sync.runOnce(sys.tenantId, { full: true });
  });
  after(async () => {
    await sys?.stop();
  });

  it('the admin pages show a U+202E in a displayName as a visible marker, never the character itself', async () => {
    const admin = new AdminClient(sys.url);
    assert.equal((await admin.signIn('acme', ADMIN.login, ADMIN.password)).status, 303);

    const list = await admin.get('/t/acme/admin/users');
    assert.equal(list.status, 200);
    assert.ok(list.text.includes('Invoice⟨U+202E⟩gnp.exe'), 'the list shows the marker');
    assert.ok(list.text.includes('Isolde ⟨U+2067⟩Admin⟨U+2069⟩ ⟨U+200F⟩Team⟨U+FEFF⟩'));
    assert.doesNotMatch(list.text, HIDDEN);

    const search = await admin.get(`/t/acme/admin/users?search=${encodeURIComponent('Invoice\u202E')}`);
    assert.equal(search.status, 200);
    assert.doesNotMatch(search.text, HIDDEN);

    const users = await sys.api('GET', '/api/v1/tenants/acme/users?search=mallory');
    const id = (users.body.users as { id: string }[])[0]?.id ?? '';
    const page = await admin.get(`/t/acme/admin/users/${encodeURIComponent(id)}`);
    assert.equal(page.status, 200);
    assert.ok(page.text.includes('Invoice⟨U+202E⟩gnp.exe'), 'the user page shows the marker');
    assert.doesNotMatch(page.text, HIDDEN);

    // An action on the user puts the name in the audit: shown escaped there too.
    await admin.post(`/t/acme/admin/users/${encodeURIComponent(id)}/unlock`);
    const audit = await admin.get('/t/acme/admin/audit');
    assert.equal(audit.status, 200);
    assert.doesNotMatch(audit.text, HIDDEN);
  });

  it('revealInvisible keeps tab and line ends, joiners and ordinary text', () => {
    assert.equal(revealInvisible('a\tb\nc\r\nd'), 'a\tb\nc\r\nd');
    assert.equal(
      revealInvisible('\u{1F469}\u200D\u{1F4BB} \u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645'),
      '\u{1F469}\u200D\u{1F4BB} \u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645',
    );
    assert.equal(revealInvisible('x\u0000y\uFEFF'), 'x⟨U+0000⟩y⟨U+FEFF⟩');
  });
});
