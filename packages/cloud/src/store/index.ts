/** Opening the store for a DATABASE_URL and bringing its schema up to date. */
import type { Logger } from '@writeback/protocol';
import { migrate } from './migrations.js';
import { openPostgres } from './postgres.js';
import { openSqlite } from './sqlite.js';
import type { Db } from './db.js';

export type { Db, Engine, Row, SqlValue } from './db.js';
export { parseRow, parseRows } from './db.js';
export { MIGRATIONS, migrate, type Migration } from './migrations.js';
export { sqlitePath } from './sqlite.js';

export interface OpenStoreOptions {
  /** `sqlite:<path>`, `sqlite::memory:` or `postgres://...` */
  url: string;
  /** PostgreSQL schema (created if missing). */
  schema?: string;
  /** PostgreSQL: connections in the pool (default 10). */
  poolSize?: number;
  /** PostgreSQL: where lost connections are reported. */
  log?: Logger;
  /** Apply migrations (default true). */
  migrate?: boolean;
}

/** Open the store and apply pending migrations. */
export async function openStore(o: OpenStoreOptions): Promise<Db> {
  const db = o.url.startsWith('sqlite:')
    ? openSqlite(o.url)
    : await openPostgres({
        url: o.url,
        ...(o.schema ? { schema: o.schema } : {}),
        ...(o.poolSize !== undefined ? { max: o.poolSize } : {}),
        ...(o.log ? { log: o.log } : {}),
      });
  if (o.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}
