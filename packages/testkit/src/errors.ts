/** Errors are data: a test compares the code an error carries, not its message. */

/**
 * The `code` of the error of class `type` that `fn` throws, or `none` when it returns; any other
 * error is thrown on (a bug, not an answer).
 */
export function thrownCode(
  fn: () => unknown,
  type: abstract new (...args: never[]) => Error & { code: string },
  none = 'no error',
): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return e.code;
    throw e;
  }
  return none;
}
