/** Protocol errors: a stable `code` callers switch on, the `cause` kept (after panva/jose). */
import { defineCodes, type CodeOf } from './codes.js';

const protocolErrors = defineCodes('ProtocolError', [
  'malformed_frame',
  'frame_too_large',
  'unsupported_version',
  'bad_signature',
  'bad_ciphertext',
  'bad_key',
  'expired',
  'not_yet_valid',
  'deadline_too_far',
  'replayed',
  'wrong_tenant',
  'wrong_agent',
  'unknown_operation',
  'invalid_params',
]);

export const PROTOCOL_ERROR_CODES = protocolErrors.codes;
export type ProtocolErrorCode = CodeOf<typeof protocolErrors>;

/** A frame or envelope refused: `code` says why (ProtocolError.is narrows to it). */
export class ProtocolError extends protocolErrors.Error {}
export const isProtocolError = (e: unknown): e is ProtocolError => e instanceof ProtocolError;
