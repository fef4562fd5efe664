/**
 * What every command of the CLI shares: its I/O, usage errors (exit 2), and argv read and checked
 * with the command's schema.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  /** stdout is a terminal (colours are used only then, and only without NO_COLOR). */
  isTTY?: boolean;
  /** One line from stdin (`config set bindPassword=-`). Default: the first line of process.stdin (not echoed at a terminal). */
  readLine?: () => Promise<string>;
}

/** A command line that does not say what it means: the CLI prints usage and exits 2. */
export class UsageError extends Error {}

export const StatePath = z.string().min(1);

export function parse<T>(schema: z.ZodType<T>, values: Record<string, unknown>): T {
  const r = schema.safeParse(values);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UsageError(`--${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** The options a command's argument schema names: its booleans are flags, every other one takes a value. */
export function optionsOf(schema: z.ZodObject): Record<string, { type: 'string' | 'boolean' }> {
  const isFlag = (field: z.core.$ZodType): boolean => {
    let t = field;
    while (t instanceof z.ZodDefault || t instanceof z.ZodOptional) t = t.unwrap();
    return t instanceof z.ZodBoolean;
  };
  return Object.fromEntries(
    Object.entries(schema.shape).map(([name, field]) => [name, { type: isFlag(field) ? 'boolean' : 'string' }]),
  );
}

/** argv read with the options of the command's schema (strict: an option it does not name is refused). */
export function args(argv: string[], schema: z.ZodObject): Record<string, unknown> {
  return argsAndPositionals(argv, schema, false).values;
}

export function argsAndPositionals(
  argv: string[],
  schema: z.ZodObject,
  allowPositionals: boolean,
): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({ args: argv, options: optionsOf(schema), strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** A command's arguments: argv read and checked with its schema. */
export function parseCommand<T>(schema: z.ZodObject & z.ZodType<T>, argv: string[]): T {
  return parse(schema, args(argv, schema));
}

/** A JSON argument, inline or `@file`. */
export async function readJsonArg(option: string, value: string): Promise<unknown> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = await readFile(value.slice(1), 'utf8');
    } catch {
      throw new UsageError(`${option}: cannot read ${value.slice(1)}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${option}: not JSON`);
  }
}
