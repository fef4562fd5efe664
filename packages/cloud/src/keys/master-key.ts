/**
 * The master key encrypts the cloud's private signing key at rest. Production sets
 * WRITEBACK_MASTER_KEY; a development SQLite install without one gets a generated key in a 0600
 * file next to the database (and a loud warning from the config). PostgreSQL deployments are
 * shared by several nodes, which must all hold the same key, so there it is required.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '@writeback/protocol';
import type { CloudConfig } from '../config.js';
import { sqlitePath } from '../store/index.js';

export const MASTER_KEY_FILE = 'master.key';

export interface MasterKeySource {
  key: Buffer;
  source: 'config' | 'file' | 'generated_file' | 'ephemeral';
}

function decode(text: string, where: string): Buffer {
  const t = text.trim();
  if (!/^[A-Za-z0-9_-]{43}$/.test(t))
    throw new TypeError(`config.masterKey (WRITEBACK_MASTER_KEY): ${where} does not hold a base64url 32-byte key`);
  return Buffer.from(t, 'base64url');
}

export function resolveMasterKey(config: CloudConfig, log: Logger): MasterKeySource {
  if (config.masterKey) return { key: decode(config.masterKey, 'the value'), source: 'config' };
  if (!config.databaseUrl.startsWith('sqlite:')) {
    throw new TypeError(
      'config.masterKey (WRITEBACK_MASTER_KEY): required with a PostgreSQL database (every node needs the same key)',
    );
  }
  const dbPath = sqlitePath(config.databaseUrl);
  if (!dbPath) {
    log.warn('in-memory database without WRITEBACK_MASTER_KEY: using a throw-away master key');
    return { key: randomBytes(32), source: 'ephemeral' };
  }
  const file = join(dirname(dbPath), MASTER_KEY_FILE);
  const fresh = randomBytes(32);
  try {
    // 'wx': never overwrite a key another process just wrote; lose the race and read theirs instead.
    writeFileSync(file, `${fresh.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    log.warn('generated a development master key; set WRITEBACK_MASTER_KEY in production', { file });
    return { key: fresh, source: 'generated_file' };
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
  }
  if ((statSync(file).mode & 0o077) !== 0)
    log.warn('master key file is readable by other users; chmod 600 it', { file });
  return { key: decode(readFileSync(file, 'utf8'), file), source: 'file' };
}
