/**
 * The cloud_keys repository: the cloud's signing key pairs, the private half stored encrypted
 * (keys/cloud-key.ts encrypts and decrypts; this module never sees a clear key). Nodes starting
 * together on one PostgreSQL must agree on one key, so the load-or-create transaction first takes
 * an advisory lock (SQLite's write transaction is already exclusive).
 */
import { z } from 'zod';
import { rowOf, selectOne, type Db } from './db.js';

export interface StoredCloudKey {
  id: string;
  publicKey: string;
  privateKeyEnc: string;
}

const PG_KEY_LOCK = 7_245_302;

const Keys = rowOf({ id: z.string(), public_key: z.string(), private_key_enc: z.string() });

/** Serialise key creation across nodes; call first inside the transaction (held until it ends). */
export async function lockCloudKeys(db: Db): Promise<void> {
  if (db.engine === 'postgres') await db.query('SELECT pg_advisory_xact_lock(?)', [PG_KEY_LOCK]);
}

/** The oldest key not retired, or undefined. */
export async function activeCloudKey(db: Db): Promise<StoredCloudKey | undefined> {
  return selectOne(
    db,
    Keys.schema,
    `SELECT ${Keys.columns} FROM cloud_keys WHERE retired_at IS NULL ORDER BY created_at, id LIMIT 1`,
  );
}

export async function insertCloudKey(db: Db, k: StoredCloudKey, now: number): Promise<void> {
  await db.exec('INSERT INTO cloud_keys (id, public_key, private_key_enc, created_at) VALUES (?, ?, ?, ?)', [
    k.id,
    k.publicKey,
    k.privateKeyEnc,
    now,
  ]);
}
