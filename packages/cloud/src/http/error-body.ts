/** The body of every error answer below 500: `{ error: { code, message, details?, retryAfterSeconds? } }`. */
import type { CloudError } from '../errors.js';

export function errorBody(e: CloudError): { error: Record<string, unknown> } {
  return {
    error: {
      code: e.code,
      message: e.message,
      ...(e.details ? { details: e.details } : {}),
      ...(e.retryAfterSeconds !== undefined ? { retryAfterSeconds: e.retryAfterSeconds } : {}),
    },
  };
}
