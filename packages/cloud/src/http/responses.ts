/**
 * The documented responses of a route whose answer is an outcome with one HTTP status each
 * (writeback outcomes, sign-in outcomes): one entry per status, naming the outcomes behind it.
 */
import type { z } from 'zod';
import type { ResponseDoc } from './route.js';

/** One documented response per HTTP status of an outcome table, naming the outcomes that answer with it. */
export function responsesByStatus(
  statusOf: Readonly<Record<string, number>>,
  schema: z.ZodType,
): Record<number, ResponseDoc> {
  const byStatus = new Map<number, string[]>();
  for (const [outcome, status] of Object.entries(statusOf))
    byStatus.set(status, [...(byStatus.get(status) ?? []), outcome]);
  const out: Record<number, ResponseDoc> = {};
  for (const [status, outcomes] of byStatus) out[status] = { description: `Outcome: ${outcomes.join(', ')}`, schema };
  return out;
}
