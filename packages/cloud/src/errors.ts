/**
 * Cloud errors: a stable `code` callers switch on (never the message), the `cause` kept, and the
 * HTTP status each code maps to. Outcomes of writeback operations are data (OperationResult), not
 * errors; these are the failures of the API itself.
 */

import { defineCodes, type CodeOf, type CodedErrorOptions } from '@writeback/protocol';

/** What an error answered over HTTP may carry besides its cause. */
export interface HttpErrorOptions extends CodedErrorOptions {
  /** Sent as Retry-After (429). */
  retryAfterSeconds?: number;
}

/**
 * An error vocabulary (protocol's defineCodes) whose every code has its one HTTP status: its base
 * error's `status` is its code's, and it keeps a `retryAfterSeconds`. The API's errors (below) and
 * the pages' (web/errors.ts) are both made with it, so they map to responses the same way.
 */
export function defineHttpErrors<const T extends readonly [string, ...string[]]>(
  errorName: string,
  codes: T,
  statuses: { readonly [K in T[number]]: number },
) {
  type C = T[number];
  const set = defineCodes(errorName, codes, statuses);
  class HttpError extends set.Error {
    readonly retryAfterSeconds: number | undefined;
    constructor(code: C, message: string, options: HttpErrorOptions = {}) {
      super(code, message, options);
      this.retryAfterSeconds = options.retryAfterSeconds;
    }
    get status(): number {
      return set.data[this.code];
    }
  }
  return Object.freeze({ ...set, Error: HttpError });
}

/** Each code with its one HTTP status. Codes at 500 and above are never shown to clients verbatim. */
const cloudErrors = defineHttpErrors(
  'CloudError',
  [
    'invalid_request',
    'unauthorized',
    'forbidden',
    'not_found',
    'conflict',
    'idempotency_key_reused',
    'idempotency_outcome_unknown',
    'last_admin',
    'not_synced_user',
    'invalid_token',
    'invalid_credentials',
    'second_factor_required',
    'second_factor_enrolment_required',
    'totp_invalid',
    'totp_replayed',
    'rate_limited',
    'payload_too_large',
    'unsupported_media_type',
    'store_unavailable',
    'master_key_mismatch',
    'internal_error',
  ],
  {
    invalid_request: 400,
    unauthorized: 401,
    forbidden: 403,
    not_found: 404,
    conflict: 409,
    idempotency_key_reused: 422,
    idempotency_outcome_unknown: 409,
    last_admin: 409,
    not_synced_user: 409,
    invalid_token: 401,
    invalid_credentials: 401,
    second_factor_required: 401,
    second_factor_enrolment_required: 403,
    totp_invalid: 400,
    totp_replayed: 400,
    rate_limited: 429,
    payload_too_large: 413,
    unsupported_media_type: 415,
    store_unavailable: 500,
    master_key_mismatch: 500,
    internal_error: 500,
  },
);

export const CLOUD_ERROR_CODES = cloudErrors.codes;
export type CloudErrorCode = CodeOf<typeof cloudErrors>;
/** One HTTP status per error code. Codes at 500 and above are never shown to clients verbatim. */
export const CLOUD_ERROR_HTTP_STATUS: Readonly<Record<CloudErrorCode, number>> = cloudErrors.data;

/** A field-level problem with a request: where (dotted path) and what kind (zod issue code), never the value. */
export interface IssueDetail {
  path: string;
  issue: string;
}

export interface CloudErrorOptions extends HttpErrorOptions {
  details?: IssueDetail[];
}

/** A failure of the cloud's API: `status` is its code's HTTP status (CloudError.is narrows to it). */
export class CloudError extends cloudErrors.Error {
  readonly details: IssueDetail[] | undefined;
  constructor(code: CloudErrorCode, message: string, options: CloudErrorOptions = {}) {
    super(code, message, options);
    this.details = options.details;
  }
}

export const isCloudError = (e: unknown): e is CloudError => e instanceof CloudError;
