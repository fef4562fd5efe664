/**
 * SQLite engine (better-sqlite3, the default). better-sqlite3 is synchronous and has one
 * connection, so an async transaction must keep every other caller out until it ends: a FIFO lock
 * serialises statements around transactions (a statement from another request would otherwise run
 * inside someone else's transaction).
 */
import { chmodSync, closeSync, constants as fsc, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { CloudError } from '../errors.js';
import { conflict, type Db, type Row, type SqlValue } from './db.js';

class Lock {
  #tail: Promise<void> = Promise.resolve();
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => {
      release = r;
    });
    const prev = this.#tail;
    this.#tail = prev.then(() => next);
    await prev;
    return release;
  }
}

function mapError(err: unknown): unknown {
  if (
    err instanceof Database.SqliteError &&
    (err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
  )
    return conflict(err);
  if (err instanceof Database.SqliteError && err.code === 'SQLITE_BUSY')
    return new CloudError('store_unavailable', 'the database is busy', { cause: err });
  return err;
}

/** Path of the database file from a `sqlite:` URL, or null for an in-memory database. */
export function sqlitePath(url: string): string | null {
  const rest = url.slice('sqlite:'.length);
  return rest === ':memory:' || rest === '' ? null : rest;
}

/**
 * The database holds password hashes, sessions and the audit log: its folder is created 0700 and
 * the file 0600 (issue 10: they were 0644). SQLite gives its -wal and -shm files the database
 * file's mode, so creating (or narrowing) the main file first covers them too. An existing folder
 * is left as it is (it may be shared); an existing file of ours is narrowed.
 */
function prepareFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, fsc.O_RDWR | fsc.O_CREAT, 0o600));
  chmodSync(path, 0o600);
  for (const side of [`${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(side, 0o600);
    } catch {
      // Not there yet: SQLite creates it with the main file's mode.
    }
  }
}

export function openSqlite(url: string): Db {
  const path = sqlitePath(url);
  if (path) prepareFile(path);
  const sqlite = new Database(path ?? ':memory:');
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const cache = new Map<string, Database.Statement>();
  const prepare = (sql: string): Database.Statement => {
    let st = cache.get(sql);
    if (!st) {
      st = sqlite.prepare(sql);
      if (cache.size > 500) cache.clear();
      cache.set(sql, st);
    }
    return st;
  };
  const lock = new Lock();
  let closed = false;

  const run = {
    query(sql: string, params: readonly SqlValue[] = []): Row[] {
      const st = prepare(sql);
      try {
        if (!st.reader) {
          st.run(...params);
          return [];
        }
        return st.all(...params).map((r) => (r !== null && typeof r === 'object' ? { ...r } : {}));
      } catch (err) {
        throw mapError(err);
      }
    },
    exec(sql: string, params: readonly SqlValue[] = []): { changes: number } {
      try {
        return { changes: prepare(sql).run(...params).changes };
      } catch (err) {
        throw mapError(err);
      }
    },
  };

  const inner: Db = {
    engine: 'sqlite',
    query: async (sql, params) => run.query(sql, params),
    one: async (sql, params) => run.query(sql, params)[0],
    exec: async (sql, params) => run.exec(sql, params),
    tx: (fn) => fn(inner),
    close: async () => {
      throw new TypeError('close() inside a transaction');
    },
  };

  const locked = async <T>(fn: () => T): Promise<T> => {
    if (closed) throw new CloudError('store_unavailable', 'the store is closed');
    const release = await lock.acquire();
    try {
      return fn();
    } finally {
      release();
    }
  };

  return {
    engine: 'sqlite',
    query: (sql, params) => locked(() => run.query(sql, params)),
    one: (sql, params) => locked(() => run.query(sql, params)[0]),
    exec: (sql, params) => locked(() => run.exec(sql, params)),
    async tx(fn) {
      if (closed) throw new CloudError('store_unavailable', 'the store is closed');
      const release = await lock.acquire();
      try {
        // IMMEDIATE takes the write lock up front: two processes on one file cannot deadlock upgrading.
        sqlite.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn(inner);
          sqlite.exec('COMMIT');
          return out;
        } catch (err) {
          if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
          throw err;
        }
      } finally {
        release();
      }
    },
    async close() {
      if (closed) return;
      const release = await lock.acquire();
      closed = true;
      try {
        sqlite.close();
      } finally {
        release();
      }
    },
  };
}
