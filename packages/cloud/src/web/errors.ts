/**
 * Errors of the pages: a stable code (shown on the page as a reference and in `data-code`, never
 * switched on by its text) and the HTTP status. Rendered as an HTML page by register.ts. Declared
 * with defineHttpErrors() (../errors.ts, protocol's defineCodes() with a status per code) like the API's.
 */
import type { CodeOf } from '@writeback/protocol';
import { CLOUD_ERROR_HTTP_STATUS, defineHttpErrors, type HttpErrorOptions } from '../errors.js';

/** Each code with its one HTTP status; a code the API has too answers with the API's status. */
const webErrors = defineHttpErrors(
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
    not_found: CLOUD_ERROR_HTTP_STATUS.not_found,
    invalid_request: CLOUD_ERROR_HTTP_STATUS.invalid_request,
    invalid_password_characters: 400,
    rate_limited: CLOUD_ERROR_HTTP_STATUS.rate_limited,
    payload_too_large: CLOUD_ERROR_HTTP_STATUS.payload_too_large,
    internal_error: CLOUD_ERROR_HTTP_STATUS.internal_error,
  },
);

export const WEB_ERROR_CODES = webErrors.codes;
export type WebErrorCode = CodeOf<typeof webErrors>;
/** One HTTP status per error code. */
export const WEB_ERROR_STATUS: Readonly<Record<WebErrorCode, number>> = webErrors.data;

/** A failure shown as an error page; its message is its code (WebError.is narrows to it). */
export class WebError extends webErrors.Error {
  constructor(code: WebErrorCode, options: HttpErrorOptions = {}) {
    super(code, code, options);
  }
}
