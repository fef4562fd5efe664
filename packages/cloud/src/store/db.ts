/**
 * The data layer's one interface, implemented by both engines (SQLite and PostgreSQL). SQL is
 * written once with `?` placeholders in the subset both engines understand; repositories are small
 * functions over `Db` and parse the rows they read, so engine differences (bigint as string,
 * integer affinity) stop here.
 */
import { z } from 'zod';
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

// ---- declaring and reading rows ------------------------------------------------------------

/** `tenant_id` → `tenantId`, as a type. */
type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;

/** A row's fields under their camelCase names. */
export type Camelized<T> = { [K in keyof T & string as Camel<K>]: T[K] };

const camel = (column: string): string => column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Declare a row once: its columns (snake_case, as both engines return them) and their types. The
 * schema reads the row as the same fields in camelCase (`tenant_id` → `tenantId`); a record that
 * differs from its row maps it further with `.transform`. `columns` lists them for SELECT and INSERT.
 */
export function rowOf<S extends z.core.$ZodShape>(shape: S) {
  // The names are worked out once per row type, not per row read (this is on every request's path).
  const names = Object.keys(shape).map((k) => [k, camel(k)] as const);
  const schema = z.object(shape).transform((r) => {
    // The keys are the shape's (z.object drops any other), renamed as Camelized renames them.
    const out: Record<string, unknown> = {};
    const from = r as Record<string, unknown>;
    for (const [k, c] of names) if (k in from) out[c] = from[k];
    return out as Camelized<z.output<z.ZodObject<S>>>;
  });
  return { columns: names.map(([k]) => k).join(', '), schema };
}

/** A flag column: SQLite stores 0 or 1, PostgreSQL a boolean. */
export const flagColumn = z.union([z.number(), z.boolean()]).transform((v) => v === true || v === 1);

/**
 * A column of JSON text that only its repository writes, read with `schema`; text that is not
 * JSON, JSON that does not match, and NULL read as `fallback()`.
 */
export function jsonColumn<T>(schema: z.ZodType<T>, fallback: () => NoInfer<T>) {
  return z
    .string()
    .nullable()
    .transform((text): T => {
      if (text === null) return fallback();
      try {
        const parsed = schema.safeParse(JSON.parse(text));
        return parsed.success ? parsed.data : fallback();
      } catch {
        return fallback();
      }
    });
}

/** The first row of a statement, parsed with `schema`; undefined when there is none. */
export async function selectOne<T>(
  db: Db,
  schema: z.ZodType<T>,
  sql: string,
  params?: readonly SqlValue[],
): Promise<T | undefined> {
  const row = await db.one(sql, params);
  return row === undefined ? undefined : parseRow(schema, row);
}

/** Every row of a statement, parsed with `schema`. */
export async function selectAll<T>(
  db: Db,
  schema: z.ZodType<T>,
  sql: string,
  params?: readonly SqlValue[],
): Promise<T[]> {
  return parseRows(schema, await db.query(sql, params));
}

/** Run a statement meant to touch at most one row (a conditional UPDATE, a DELETE by key): whether it did. */
export async function changedOne(db: Db, sql: string, params?: readonly SqlValue[]): Promise<boolean> {
  return (await db.exec(sql, params)).changes === 1;
}

/** A unique-constraint violation, mapped by each engine to one code. */
export function conflict(cause: unknown): CloudError {
  return new CloudError('conflict', 'a record with the same unique value exists', { cause });
}
