/**
 * The data layer's one interface, implemented by both engines (SQLite and PostgreSQL). SQL is
 * written once with `?` placeholders in the subset both engines understand; repositories are small
 * functions over `Db` and parse the rows they read, so engine differences (bigint as string,
 * integer affinity) stop here.
 */
import type { z } from 'zod';
import { CloudError } from '../errors.js';

export type SqlValue = string | number | null;
export type Row = Record<string, unknown>;

export type Engine = 'sqlite' | 'postgres';

export interface Db {
  readonly engine: Engine;
  /** Rows of a SELECT (or a statement with RETURNING). */
  query(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** The first row, or undefined. */
  one(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** A statement without result rows; `changes` counts the rows it touched. */
  exec(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /**
   * Run `fn` in one transaction: committed when it resolves, rolled back when it throws. Inside, use
   * the `Db` passed to `fn` (nested `tx` calls join the outer transaction). `fn` may run more than
   * once: PostgreSQL runs it again when its connection broke before COMMIT was sent (the first run
   * was rolled back), so keep it to store work, without effects outside the store.
   */
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Parse one row with its schema; a mismatch means the schema and the code disagree (a bug, not input). */
export function parseRow<T>(schema: z.ZodType<T>, row: Row): T {
  const parsed = schema.safeParse(row);
  if (!parsed.success) {
    throw new CloudError(
      'internal_error',
      `stored row does not match its schema: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
    );
  }
  return parsed.data;
}

export function parseRows<T>(schema: z.ZodType<T>, rows: Row[]): T[] {
  return rows.map((r) => parseRow(schema, r));
}

/** A unique-constraint violation, mapped by each engine to one code. */
export function conflict(cause: unknown): CloudError {
  return new CloudError('conflict', 'a record with the same unique value exists', { cause });
}
