/**
 * PostgreSQL engine (pg pool). Statements are written with `?` placeholders and numbered here;
 * BIGINT columns (timestamps in ms) come back as numbers, not strings, so rows look the same as
 * SQLite's. An optional schema isolates one deployment (or one test run) on a shared server.
 */
import { userInfo } from 'node:os';
import pg from 'pg';
import { CloudError } from '../errors.js';
import { conflict, type Db, type Row, type SqlValue } from './db.js';

const INT8_OID = 20;

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

function mapError(err: unknown): unknown {
  if (err instanceof Error && 'code' in err) {
    if (err.code === '23505') return conflict(err);
    if (typeof err.code === 'string' && /^(08|57P)/.test(err.code))
      return new CloudError('store_unavailable', 'the database is unavailable', { cause: err });
  }
  if (err instanceof Error && /ECONNREFUSED|Connection terminated/.test(err.message)) {
    return new CloudError('store_unavailable', 'the database is unavailable', { cause: err });
  }
  return err;
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
  max?: number;
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

export async function openPostgres(o: PostgresOptions): Promise<Db> {
  if (o.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(o.schema))
    throw new TypeError('config.databaseSchema: invalid schema name');
  if (o.schema) {
    const setup = new pg.Client({ connectionString: withDefaultUser(o.url) });
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
    ...(o.schema ? { options: `-c search_path="${o.schema}"` } : {}),
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
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
  const top = bind(pool, convert);
  let closed = false;
  const db: Db = {
    engine: 'postgres',
    query: top.query,
    one: async (sql, params) => (await top.query(sql, params))[0],
    exec: top.exec,
    async tx(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw mapError(err);
      }
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
      try {
        await client.query('BEGIN');
        const out = await fn(inner);
        await client.query('COMMIT');
        client.release();
        return out;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch {
          client.release(true);
        }
        throw mapError(err);
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
