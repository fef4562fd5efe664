/**
 * Relay errors. What goes over the wire to an agent uses the protocol's `RelayErrorCode`; this
 * error is for the relay's own API (a closed hub, a NATS answer that does not parse). Callers
 * switch on `code`, never on the message (after panva/jose `util/errors.ts`).
 */

import { defineCodes, type CodeOf } from '@writeback/protocol';

const relayErrors = defineCodes('RelayError', ['hub_closed', 'bad_nats_message', 'gate_failed']);

export const RELAY_API_ERROR_CODES = relayErrors.codes;
export type RelayApiErrorCode = CodeOf<typeof relayErrors>;

/** A failure of the relay's own API (RelayError.is narrows to it). */
export class RelayError extends relayErrors.Error {}
