/**
 * parse-input: every path parameter, query and body goes through its zod schema. Failures name
 * the field (dotted path) and the kind of problem, never the value (it could be a password). The
 * kind is zod's issue code, or for a check of ours its own code (`params.code` of a custom issue,
 * e.g. protocol's `invalid_password_characters`), so a client can tell what to fix.
 */
import type { z } from 'zod';
import { CloudError } from '../../errors.js';

/** The code a client reads for one zod issue. */
export function issueCode(i: z.core.$ZodIssue): string {
  if (i.code === 'custom' && typeof i.params?.code === 'string' && /^[a-z_]{1,64}$/.test(i.params.code))
    return i.params.code;
  return i.code;
}

export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: 'params' | 'query' | 'body'): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues
    .slice(0, 20)
    .map((i) => ({ path: [where, ...i.path.map(String)].join('.'), issue: issueCode(i) }));
  throw new CloudError('invalid_request', `the request ${where} is not valid`, { details });
}
