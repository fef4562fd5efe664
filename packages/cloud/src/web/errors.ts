/**
 * Errors of the pages: a stable code (shown on the page as a reference and in `data-code`, never
 * switched on by its text) and the HTTP status. Rendered as an HTML page by register.ts. Declared
 * with protocol's defineCodes() like every package's errors.ts.
 */
import { defineCodes, type CodeOf, type CodedErrorOptions } from '@writeback/protocol';

/** Each code with its one HTTP status. */
const webErrors = defineCodes(
  'WebError',
  [
    'csrf_failed',
    'not_found',
    'invalid_request',
    'invalid_password_characters',
    'rate_limited',
    'payload_too_large',
    'internal_error',
  ],
  {
    csrf_failed: 403,
    not_found: 404,
    invalid_request: 400,
    invalid_password_characters: 400,
    rate_limited: 429,
    payload_too_large: 413,
    internal_error: 500,
  },
);

export const WEB_ERROR_CODES = webErrors.codes;
export type WebErrorCode = CodeOf<typeof webErrors>;
/** One HTTP status per error code. */
export const WEB_ERROR_STATUS: Readonly<Record<WebErrorCode, number>> = webErrors.data;

export interface WebErrorOptions extends CodedErrorOptions {
  retryAfterSeconds?: number;
}

/** A failure shown as an error page; its message is its code (WebError.is narrows to it). */
export class WebError extends webErrors.Error {
  readonly retryAfterSeconds: number | undefined;
  constructor(code: WebErrorCode, options: WebErrorOptions = {}) {
    super(code, code, options);
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
  get status(): number {
    return webErrors.data[this.code];
  }
}
