/** Protocol errors: a stable `code` callers switch on, the `cause` kept (after panva/jose). */

export const PROTOCOL_ERROR_CODES = [
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
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
