/**
 * Relay errors. What goes over the wire to an agent uses the protocol's `RelayErrorCode`; this
 * error is for the relay's own API (a closed hub, a NATS answer that does not parse). Callers
 * switch on `code`, never on the message (after panva/jose `util/errors.ts`).
 */

export const RELAY_API_ERROR_CODES = ['hub_closed', 'bad_nats_message', 'gate_failed'] as const;
export type RelayApiErrorCode = (typeof RELAY_API_ERROR_CODES)[number];

export class RelayError extends Error {
  override readonly name = 'RelayError';
  readonly code: RelayApiErrorCode;
  constructor(code: RelayApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
