/**
 * The cloud's Ed25519 signing key: it signs every request envelope and every agent certificate.
 * The private half is stored encrypted (AES-256-GCM under the master key, bound to the key's id
 * and public half), loaded and decrypted once at start-up, and kept as a KeyObject in memory.
 */
import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { generateSigningKeyPair, PrivateJwkSchema, privateKeyObject, publicKeyObject } from '@writeback/protocol';
import { CloudError } from '../errors.js';
import { newId } from '../ids.js';
import { activeCloudKey, insertCloudKey, lockCloudKeys } from '../store/cloud-keys.js';
import type { Db } from '../store/index.js';

export interface CloudSigningKey {
  id: string;
  /** base64url raw Ed25519 public key, handed to agents. */
  publicKey: string;
  privateKey: KeyObject;
  verifyKey: KeyObject;
}

const aad = (id: string, publicKey: string): Buffer => Buffer.from(`writeback/v1/cloud-key|${id}|${publicKey}`);

export function encryptPrivateKey(plain: Buffer, masterKey: Buffer, id: string, publicKey: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', masterKey, iv);
  c.setAAD(aad(id, publicKey));
  const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  return `v1.${iv.toString('base64url')}.${ct.toString('base64url')}`;
}

export function decryptPrivateKey(enc: string, masterKey: Buffer, id: string, publicKey: string): Buffer {
  const m = /^v1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]+)$/.exec(enc);
  if (!m?.[1] || !m[2]) throw new CloudError('master_key_mismatch', 'stored cloud key is not in a known format');
  const ct = Buffer.from(m[2], 'base64url');
  try {
    const d = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(m[1], 'base64url'));
    d.setAAD(aad(id, publicKey));
    d.setAuthTag(ct.subarray(ct.length - 16));
    return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  } catch (cause) {
    throw new CloudError('master_key_mismatch', 'the master key does not decrypt the stored cloud signing key', {
      cause,
    });
  }
}

function toKey(id: string, publicKey: string, plain: Buffer): CloudSigningKey {
  let json: unknown;
  try {
    json = JSON.parse(plain.toString('utf8'));
  } finally {
    plain.fill(0);
  }
  const jwk = PrivateJwkSchema.parse(json);
  if (jwk.crv !== 'Ed25519' || jwk.x !== publicKey)
    throw new CloudError('master_key_mismatch', 'stored cloud key does not match its public half');
  return { id, publicKey, privateKey: privateKeyObject(jwk), verifyKey: publicKeyObject('Ed25519', publicKey) };
}

/** Load the active cloud signing key, creating it on first start. */
export async function loadOrCreateCloudKey(db: Db, masterKey: Buffer, now: number): Promise<CloudSigningKey> {
  if (masterKey.length !== 32) throw new TypeError('config.masterKey: must be 32 bytes');
  return db.tx(async (t) => {
    // Nodes starting together on one PostgreSQL must agree on one key, not create one each.
    await lockCloudKeys(t);
    const found = await activeCloudKey(t);
    if (found)
      return toKey(
        found.id,
        found.publicKey,
        decryptPrivateKey(found.privateKeyEnc, masterKey, found.id, found.publicKey),
      );
    const pair = generateSigningKeyPair();
    const id = newId('ck');
    const plain = Buffer.from(JSON.stringify(pair.privateJwk));
    const enc = encryptPrivateKey(plain, masterKey, id, pair.publicKey);
    await insertCloudKey(t, { id, publicKey: pair.publicKey, privateKeyEnc: enc }, now);
    return toKey(id, pair.publicKey, plain);
  });
}
