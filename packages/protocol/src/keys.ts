/**
 * Key material. Public keys travel as base64url of the raw 32 bytes (the JWK `x`); private keys are
 * kept as JWK objects. Ed25519 signs, X25519 agrees keys for sealing.
 */
import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { z } from 'zod';
import { ProtocolError } from './errors.js';

export const PublicKeySchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url 32-byte key');

export const PrivateJwkSchema = z.object({
  kty: z.literal('OKP'),
  crv: z.enum(['Ed25519', 'X25519']),
  x: PublicKeySchema,
  d: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});
export type PrivateJwk = z.infer<typeof PrivateJwkSchema>;

export interface KeyPair {
  /** base64url raw public key */
  publicKey: string;
  privateJwk: PrivateJwk;
}

function generate(kind: 'ed25519' | 'x25519'): KeyPair {
  const { privateKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
  const jwk = PrivateJwkSchema.parse(privateKey.export({ format: 'jwk' }));
  return { publicKey: jwk.x, privateJwk: jwk };
}

export const generateSigningKeyPair = (): KeyPair => generate('ed25519');
export const generateEncryptionKeyPair = (): KeyPair => generate('x25519');

const publicCache = new Map<string, KeyObject>();

const BASE64URL_KEY = /^[A-Za-z0-9_-]{43}$/;

/**
 * A public KeyObject from its base64url form; cached, since the hot path verifies with few keys.
 * `cache: false` for keys seen once (the ephemeral key of a sealed request).
 */
export function publicKeyObject(crv: 'Ed25519' | 'X25519', x: string, o: { cache?: boolean } = {}): KeyObject {
  const id = `${crv}:${x}`;
  let key = publicCache.get(id);
  if (!key) {
    if (!BASE64URL_KEY.test(x)) throw new ProtocolError('bad_key', `not a ${crv} public key`);
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv, x }, format: 'jwk' });
    } catch (cause) {
      throw new ProtocolError('bad_key', `not a ${crv} public key`, { cause });
    }
    if (o.cache === false) return key;
    if (publicCache.size > 10_000) publicCache.clear();
    publicCache.set(id, key);
  }
  return key;
}

export function privateKeyObject(jwk: PrivateJwk): KeyObject {
  try {
    return createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (cause) {
    throw new ProtocolError('bad_key', `not a ${jwk.crv} private key`, { cause });
  }
}
