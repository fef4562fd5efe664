import { ProtocolError } from '@writeback/protocol';

/** The ProtocolError code `fn` throws, or 'no error'. Other errors are rethrown. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
  return 'no error';
}
