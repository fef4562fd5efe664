/**
 * The one rule on a request's deadline that every RelayClient applies before sending: with no time
 * left the request is not sent, and since nothing was written it is a refusal (`rejected expired`),
 * never a `timeout`, which would tell the cloud the write may have happened. Shared by the hub's
 * router and the NATS client so both tell the cloud the same thing. Pure.
 */
import type { RelayAnswer } from './client.js';

/** Time left to send a request in, or the answer to give at once when there is none. */
export type TimeLeft = { ok: true; ms: number } | { ok: false; answer: RelayAnswer };

export function timeLeft(deadline: number, now: number): TimeLeft {
  const ms = deadline - now;
  if (ms > 0) return { ok: true, ms };
  return {
    ok: false,
    answer: { kind: 'rejected', code: 'expired', message: 'deadline passed before the request was sent' },
  };
}
