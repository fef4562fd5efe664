/**
 * Cloud errors: a stable `code` callers switch on (never the message), the `cause` kept, and the
 * HTTP status each code maps to. Outcomes of writeback operations are data (OperationResult), not
 * errors; these are the failures of the API itself.
 */

export const CLOUD_ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'not_synced_user',
  'invalid_token',
  'invalid_credentials',
  'second_factor_required',
  'rate_limited',
  'payload_too_large',
  'unsupported_media_type',
  'store_unavailable',
  'master_key_mismatch',
  'internal_error',
] as const;
export type CloudErrorCode = (typeof CLOUD_ERROR_CODES)[number];

/** One HTTP status per error code. Codes at 500 and above are never shown to clients verbatim. */
export const CLOUD_ERROR_HTTP_STATUS: Readonly<Record<CloudErrorCode, number>> = Object.freeze({
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  not_synced_user: 409,
  invalid_token: 401,
  invalid_credentials: 401,
  second_factor_required: 401,
  rate_limited: 429,
  payload_too_large: 413,
  unsupported_media_type: 415,
  store_unavailable: 500,
  master_key_mismatch: 500,
  internal_error: 500,
});

/** A field-level problem with a request: where (dotted path) and what kind (zod issue code), never the value. */
export interface IssueDetail {
  path: string;
  issue: string;
}

export interface CloudErrorOptions {
  cause?: unknown;
  details?: IssueDetail[];
  retryAfterSeconds?: number;
}

export class CloudError extends Error {
  override readonly name = 'CloudError';
  readonly code: CloudErrorCode;
  readonly details: IssueDetail[] | undefined;
  readonly retryAfterSeconds: number | undefined;
  constructor(code: CloudErrorCode, message: string, options: CloudErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
  get status(): number {
    return CLOUD_ERROR_HTTP_STATUS[this.code];
  }
}

export const isCloudError = (e: unknown): e is CloudError => e instanceof CloudError;
