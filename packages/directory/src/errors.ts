/** Directory errors: configuration and programming errors only (outcomes are data, not throws). */
import { defineCodes, type CodeOf } from '@writeback/protocol';

const directoryErrors = defineCodes('DirectoryError', [
  // A bad option is a TypeError naming it (every adapter); a transport that would send passwords
  // in clear is this error.
  'insecure_transport',
  'store_corrupt',
  'closed',
  // Embedded directory: its folder is held by another instance; a journal write failed; and its
  // administration API (createUser, updateUser, definePolicy...) refusing bad input.
  'store_locked',
  'store_failed',
  'user_exists',
  'not_found',
  'invalid_input',
  // AD adapter: findUser could not reach any domain controller (operations answer
  // directory_unavailable as an outcome instead).
  'unavailable',
]);

export const DIRECTORY_ERROR_CODES = directoryErrors.codes;
export type DirectoryErrorCode = CodeOf<typeof directoryErrors>;

/** A directory refusing bad configuration or input (DirectoryError.is narrows to it). */
export class DirectoryError extends directoryErrors.Error {}
