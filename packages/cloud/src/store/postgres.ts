/**
 * PostgreSQL engine (pg pool). Statements are written with `?` placeholders and numbered here;
 * BIGINT columns (timestamps in ms) come back as numbers, not strings, so rows look the same as
 * SQLite's. An optional schema isolates one deployment (or one test run) on a shared server.
 *
 * Connections die under us (a failover, a restart, `pg_terminate_backend`): no such error may
 * reach the process as an unhandled 'error' event, so the pool and every client checked out here
 * carry a listener. What is retried, on a fresh connection, is only what cannot have taken effect:
 * a checkout that failed (nothing was sent), a SELECT, and a transaction whose connection broke
 * before COMMIT was sent (the server rolls it back; the whole function runs again). A connection
 * lost after COMMIT was sent, or during a single writing statement, leaves the outcome unknown:
 * that is surfaced as `store_unavailable`, never retried.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Logger } from '@writeback/protocol';
import { CloudError } from '../errors.js';
import { conflict, type Db, type Row, type SqlValue } from './db.js';

const INT8_OID = 20;

/** Attempts after the first, for what is safe to retry (see the module header). */
const RETRIES = 2;
const retryPause = (attempt: number): number => 20 * 4 ** attempt + Math.floor(Math.random() * 20);

/** `?` → `$1, $2...`, leaving quoted strings and identifiers alone. */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      n += 1;
      out += `$${n}`;
    } else out += ch;
  }
  return out;
}

const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);
const CONNECTION_MESSAGE =
  /Connection terminated|not queryable|ECONNREFUSED|ECONNRESET|timeout exceeded when trying to connect/;

/**
 * Whether `err` (or what it wraps) says the connection to the server was lost or could not be
 * made: SQLSTATE class 08, operator intervention (57P: admin or crash shutdown, cannot connect now), a socket
 * error, or pg's own messages for a dead client.
 */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = 'code' in e ? e.code : undefined;
    if (typeof code === 'string' && (/^08/.test(code) || /^57P/.test(code) || CONNECTION_ERRNO.has(code))) return true;
    if (CONNECTION_MESSAGE.test(e.message)) return true;
  }
  return false;
}

function mapError(err: unknown): unknown {
  if (err instanceof CloudError) return err;
  if (err instanceof Error && 'code' in err && err.code === '23505') return conflict(err);
  if (isConnectionError(err)) return new CloudError('store_unavailable', 'the database is unavailable', { cause: err });
  return err;
}

/** A checkout that failed: nothing was sent, so whatever was asked can be tried again. */
function checkoutFailed(err: unknown): CloudError {
  return err instanceof CloudError
    ? err
    : new CloudError('store_unavailable', 'the database is unavailable', { cause: err });
}

/**
 * The engine's errors as one log line per lost connection at most once a minute, with how many
 * more were lost since the last line (a failover drops every connection at once).
 */
function connectionLossLog(log: Logger | undefined): (err: unknown) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let unreported = 0;
  return (err) => {
    if (!log) return;
    const t = Date.now();
    if (t - lastAt < 60_000) {
      unreported += 1;
      return;
    }
    lastAt = t;
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
    log.warn('a database connection was lost; the next statement opens a new one', {
      error: message,
      ...(code ? { code } : {}),
      ...(unreported > 0 ? { alsoLostSinceLastReport: unreported } : {}),
    });
    unreported = 0;
  };
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface PostgresOptions {
  url: string;
  /** Schema holding the tables (created if missing). Default: the server's search_path. */
  schema?: string;
  /** Connections in the pool (config.databasePoolSize). Default 10. */
  max?: number;
  /** Where lost connections are reported (once, then summarised). */
  log?: Logger;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

function bind(client: Queryable, convert: (s: string) => string) {
  const query = async (sql: string, params: readonly SqlValue[] = []): Promise<Row[]> => {
    try {
      const res = await client.query({ text: convert(sql), values: [...params] });
      return res.rows.map((r: unknown) => (r !== null && typeof r === 'object' ? { ...r } : {}));
    } catch (err) {
      throw mapError(err);
    }
  };
  const exec = async (sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> => {
    try {
      const res = await client.query({ text: convert(sql), values: [...params] });
      return { changes: res.rowCount ?? 0 };
    } catch (err) {
      throw mapError(err);
    }
  };
  return { query, exec };
}

/** libpq falls back to the OS user when the URL names none; pg only reads $USER, which may be unset. */
export function withDefaultUser(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.username) return url;
  const user = process.env.PGUSER ?? process.env.USER ?? userInfo().username;
  if (!user) return url;
  u.username = encodeURIComponent(user);
  return u.toString();
}

/** A statement that only reads: running it again cannot write twice. */
const readOnly = (sql: string): boolean =>
  /^\s*SELECT\b/i.test(sql) && !/\bFOR\s+(UPDATE|SHARE|NO KEY|KEY)\b/i.test(sql);

/** pg refused to send on a client it already knew was dead. */
const neverSent = (err: unknown): boolean => {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++)
    if (/is not queryable/.test(e.message)) return true;
  return false;
};

/** The transaction failed before COMMIT was sent because its connection broke: safe to run again. */
class BrokenBeforeCommit extends Error {
  constructor(readonly error: unknown) {
    super('the connection broke before COMMIT was sent', { cause: error });
  }
}

export async function openPostgres(o: PostgresOptions): Promise<Db> {
  if (o.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(o.schema))
    throw new TypeError('config.databaseSchema: invalid schema name');
  if (o.max !== undefined && (!Number.isInteger(o.max) || o.max < 1))
    throw new TypeError('config.databasePoolSize: a positive integer');
  if (o.schema) {
    const setup = new pg.Client({ connectionString: withDefaultUser(o.url) });
    // A setup connection dropped by the server must not become an unhandled 'error' event either.
    setup.on('error', () => undefined);
    try {
      await setup.connect();
      await setup.query(`CREATE SCHEMA IF NOT EXISTS "${o.schema}"`);
    } catch (err) {
      throw mapError(err);
    } finally {
      await setup.end().catch(() => undefined);
    }
  }
  const pool = new pg.Pool({
    connectionString: withDefaultUser(o.url),
    max: o.max ?? 10,
    types,
    // Shown in pg_stat_activity; an application_name in the URL wins.
    fallback_application_name: 'writeback-cloud',
    keepAlive: true,
    ...(o.schema ? { options: `-c search_path="${o.schema}"` } : {}),
  });
  const lost = connectionLossLog(o.log);
  // An idle client losing its server must not crash the process; the next statement opens a new one.
  pool.on('error', lost);
  const cache = new Map<string, string>();
  const convert = (sql: string): string => {
    let out = cache.get(sql);
    if (out === undefined) {
      out = numberPlaceholders(sql);
      if (cache.size > 500) cache.clear();
      cache.set(sql, out);
    }
    return out;
  };

  let closed = false;

  interface Checkout {
    /** The connection's error, once it broke (null while it is fine). */
    broken(): unknown;
    /** Do not give this client back to the pool (its session state is unknown). */
    discard(): void;
  }

  /**
   * Check a client out for `use`, with an 'error' listener for as long as it is ours (pg emits a
   * dead connection's error on the client, and an unheard 'error' event ends the process). The
   * client goes back to the pool, or is destroyed when its connection broke.
   */
  async function withClient<T>(use: (client: pg.PoolClient, c: Checkout) => Promise<T>): Promise<T> {
    if (closed) throw new CloudError('store_unavailable', 'the store is closed');
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw new BrokenBeforeCommit(checkoutFailed(err));
    }
    let broken: unknown = null;
    let destroy = false;
    const onError = (err: unknown) => {
      broken ??= err;
      lost(err);
    };
    client.on('error', onError);
    try {
      return await use(client, {
        broken: () => broken,
        discard: () => {
          destroy = true;
        },
      });
    } catch (err) {
      if (broken !== null || isConnectionError(err)) destroy = true;
      throw err;
    } finally {
      client.removeListener('error', onError);
      // The pool puts its own listener back on release, so the client is never without one.
      client.release(destroy ? (broken instanceof Error ? broken : true) : undefined);
    }
  }

  /** A statement outside a transaction; retried only where it cannot have taken effect. */
  async function statement<T>(sql: string, run: (q: ReturnType<typeof bind>) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await withClient((client) => run(bind(client, convert)));
      } catch (err) {
        const safe = err instanceof BrokenBeforeCommit || neverSent(err) || (readOnly(sql) && isConnectionError(err));
        if (safe && attempt < RETRIES && !closed) {
          await sleep(retryPause(attempt));
          continue;
        }
        throw mapError(err instanceof BrokenBeforeCommit ? err.error : err);
      }
    }
  }

  /** One run of a transaction; a connection lost before COMMIT was sent throws BrokenBeforeCommit. */
  function txOnce<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return withClient(async (client, c) => {
      const b = bind(client, convert);
      const inner: Db = {
        engine: 'postgres',
        query: b.query,
        one: async (sql, params) => (await b.query(sql, params))[0],
        exec: b.exec,
        tx: (f) => f(inner),
        close: async () => {
          throw new TypeError('close() inside a transaction');
        },
      };
      let commitSent = false;
      try {
        await client.query('BEGIN');
        const out = await fn(inner);
        // Broken while fn ran (it may have swallowed the error): COMMIT would not reach the server.
        if (c.broken() !== null) throw new BrokenBeforeCommit(c.broken());
        commitSent = true;
        await client.query('COMMIT');
        return out;
      } catch (err) {
        if (err instanceof BrokenBeforeCommit) throw err;
        if (c.broken() !== null || isConnectionError(err)) {
          if (!commitSent) throw new BrokenBeforeCommit(err);
          throw new CloudError(
            'store_unavailable',
            'the database connection was lost while committing: the transaction may or may not have been applied',
            { cause: err },
          );
        }
        // The connection is fine: undo what ran (a failed COMMIT has rolled back already).
        if (!commitSent)
          await client.query('ROLLBACK').catch(() => {
            c.discard();
          });
        throw mapError(err);
      }
    });
  }

  const db: Db = {
    engine: 'postgres',
    query: (sql, params) => statement(sql, (q) => q.query(sql, params)),
    one: async (sql, params) => (await statement(sql, (q) => q.query(sql, params)))[0],
    exec: (sql, params) => statement(sql, (q) => q.exec(sql, params)),
    async tx(fn) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await txOnce(fn);
        } catch (err) {
          if (!(err instanceof BrokenBeforeCommit)) throw err;
          if (attempt >= RETRIES) throw mapError(err.error);
          o.log?.info('a transaction lost its connection before COMMIT; running it again', { attempt: attempt + 1 });
          await sleep(retryPause(attempt));
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
  return db;
}
