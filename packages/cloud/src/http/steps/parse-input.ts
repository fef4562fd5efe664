/**
 * parse-input: every path parameter, query and body goes through its zod schema. Failures name
 * the field (dotted path) and the kind of problem, never the value (it could be a password).
 */
import type { z } from 'zod';
import { CloudError } from '../../errors.js';

export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: 'params' | 'query' | 'body'): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues
    .slice(0, 20)
    .map((i) => ({ path: [where, ...i.path.map(String)].join('.'), issue: i.code }));
  throw new CloudError('invalid_request', `the request ${where} is not valid`, { details });
}
