/**
 * The first operator API key (issue 11, "the operator key is not printed to logs"). When the store
 * holds no live operator key, one is created and its token written once to a file readable by
 * this user only (0600, in a 0700 folder when the folder is new); only the file's path is ever
 * logged or printed. Log lines and a terminal's scroll-back are kept by journald, log shippers and
 * CI; a file the operator reads, moves into a secret store and deletes is not.
 *
 * Creating and writing happen in one transaction under a lock: nodes starting together on one
 * PostgreSQL create one key, not one each, and a key is only committed once its file is written
 * (a file that cannot be written stops the start, leaving no key that nobody holds).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { countLiveOperatorKeys, lockOperatorKeys, revokeLiveOperatorKeys } from '../store/api-keys.js';
import { sqlitePath, type Db } from '../store/index.js';
import { createApiKey } from './api-keys.js';

/** The key file's name next to a SQLite database (beside `master.key`). */
export const OPERATOR_KEY_FILE = 'operator.key';

/**
 * Where the first operator key goes by default: next to a SQLite file, `.data/operator.key` (or
 * `.data/operator-<schema>.key`) under the working folder with PostgreSQL, nowhere with an
 * in-memory store (its keys die with the process; tests read `initialOperatorKey`).
 */
export function defaultOperatorKeyFile(databaseUrl: string, schema?: string): string | null {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = sqlitePath(databaseUrl);
    return file === null ? null : join(dirname(file), OPERATOR_KEY_FILE);
  }
  return join('.data', schema ? `operator-${schema}.key` : OPERATOR_KEY_FILE);
}

/**
 * Write `text` to `file` with mode 0600, replacing it atomically (a temporary file in the same
 * folder, then rename): a reader never sees half a key, and a file another user could read before
 * is not reused.
 */
export function writeSecretFile(file: string, text: string): void {
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${OPERATOR_KEY_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export type FirstOperatorKey =
  /** A key was created; `token` is its only copy outside the file (or the caller's hook). */
  | { created: true; token: string; revoked: number }
  /** A live operator key exists already: nothing was created or written. */
  | { created: false };

export interface EnsureOperatorKeyOptions {
  now: number;
  /**
   * Where the new key goes: a file path (written 0600 before the key is committed), or a function
   * that receives it (tests, demos), or null (kept only in the returned value).
   */
  deliver: string | ((token: string) => void) | null;
  name?: string;
  /** Revoke every live operator key first and create a new one (a lost key). */
  rotate?: boolean;
}

/** Create the first operator key when the store has no live one (or replace them all: `rotate`), and hand it over once. */
export async function ensureOperatorKey(db: Db, o: EnsureOperatorKeyOptions): Promise<FirstOperatorKey> {
  const first = await db.tx(async (t): Promise<FirstOperatorKey> => {
    await lockOperatorKeys(t);
    const revoked = o.rotate ? await revokeLiveOperatorKeys(t, o.now) : 0;
    if ((await countLiveOperatorKeys(t)) > 0) return { created: false };
    const { token } = await createApiKey(
      t,
      { scope: 'operator', tenantId: null, name: o.name ?? 'first operator key' },
      o.now,
    );
    // Inside the transaction: if the file cannot be written, the key is not committed. (On
    // PostgreSQL the function may run again after a lost connection: a new key then replaces
    // the file, and the first one was never committed.)
    if (typeof o.deliver === 'string') writeSecretFile(o.deliver, `${token}\n`);
    return { created: true, token, revoked };
  });
  // A hook is called once, after the commit.
  if (first.created && typeof o.deliver === 'function') o.deliver(first.token);
  return first;
}
