/**
 * Errors of the pages: a stable code (shown on the page as a reference and in `data-code`, never
 * switched on by its text) and the HTTP status. Rendered as an HTML page by register.ts.
 */
export const WEB_ERROR_CODES = [
  'csrf_failed',
  'not_found',
  'invalid_request',
  'rate_limited',
  'payload_too_large',
  'internal_error',
] as const;
export type WebErrorCode = (typeof WEB_ERROR_CODES)[number];

export const WEB_ERROR_STATUS: Readonly<Record<WebErrorCode, number>> = {
  csrf_failed: 403,
  not_found: 404,
  invalid_request: 400,
  rate_limited: 429,
  payload_too_large: 413,
  internal_error: 500,
};

export class WebError extends Error {
  override readonly name = 'WebError';
  readonly code: WebErrorCode;
  readonly retryAfterSeconds: number | undefined;
  constructor(code: WebErrorCode, o: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(code, o.cause === undefined ? undefined : { cause: o.cause });
    this.code = code;
    this.retryAfterSeconds = o.retryAfterSeconds;
  }
  get status(): number {
    return WEB_ERROR_STATUS[this.code];
  }
}
