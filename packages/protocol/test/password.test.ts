/**
 * Issue 10 (Low): a password with a NUL or an unpaired UTF-16 surrogate is refused by the one
 * schema every door shares (API bodies, pages, the sealed secret the agent opens), with the issue
 * code `invalid_password_characters`. Unpaired surrogates matter because UTF-8 turns each into
 * U+FFFD: `\uD800` and `\uDBFF` would be the same password to the directory and the cloud hash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  INVALID_PASSWORD_CHARACTERS,
  PasswordSchema,
  ReplayCache,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  hasInvalidPasswordCharacters,
  openRequest,
  privateKeyObject,
  publicKeyObject,
  sealRequest,
} from '@writeback/protocol';
import { errorCode } from './helpers.js';

const REFUSED = ['a\0b', '\0', 'high-\uD800', '\uD800-high', 'low-\uDC00', '\uDE00\uD83D', 'two-\uD800\uD800-\uDC00'];
const ACCEPTED = ['', 'Correct-Horse-42!', 'emoji-\u{1F511}', 'Ünïcödé-密码-пароль', 'tab\tand newline\n'];

describe('password characters', () => {
  it('refuses a NUL and unpaired surrogates with the issue code invalid_password_characters', () => {
    for (const p of REFUSED) {
      assert.equal(hasInvalidPasswordCharacters(p), true, JSON.stringify(p));
      const r = PasswordSchema.min(1).safeParse(p);
      assert.equal(r.success, false, JSON.stringify(p));
      const issue = r.error?.issues[0];
      assert.equal(issue?.code, 'custom');
      assert.equal(issue?.code === 'custom' ? issue.params?.code : null, INVALID_PASSWORD_CHARACTERS);
    }
    for (const p of ACCEPTED) assert.equal(PasswordSchema.safeParse(p).success, true, JSON.stringify(p));
  });

  it('two different unpaired surrogates are the same bytes in UTF-8: the reason they are refused', () => {
    assert.deepEqual(Buffer.from('x\uD800', 'utf8'), Buffer.from('x\uDBFF', 'utf8'));
  });

  it('the agent refuses a sealed secret holding one (invalid_params), whoever sealed it', () => {
    const cloud = generateSigningKeyPair();
    const agent = generateEncryptionKeyPair();
    const now = 1_800_000_000_000;
    for (const newPassword of ['Sealed-\uD800-Pass', 'Sealed-\0-Pass']) {
      const env = sealRequest({
        request: {
          op: 'password.reset',
          params: { user: { by: 'login', value: 'alice' }, forceChange: false, unlock: false, enforceHistory: true },
          secret: { newPassword },
        },
        tenantId: 't1',
        agentId: 'a1',
        agentEncryptionKey: agent.publicKey,
        cloudSigningKey: privateKeyObject(cloud.privateJwk),
        deadline: now + 10_000,
        now,
      });
      const opened = () =>
        openRequest(JSON.parse(JSON.stringify(env)), {
          cloudVerifyKey: publicKeyObject('Ed25519', cloud.publicKey),
          agentDecryptionKey: privateKeyObject(agent.privateJwk),
          agentEncryptionPublicKey: agent.publicKey,
          agentId: 'a1',
          tenantId: 't1',
          replay: new ReplayCache(),
          now,
        });
      assert.equal(errorCode(opened), 'invalid_params');
    }
  });
});
