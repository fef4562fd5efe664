/**
 * One way to declare a package's error vocabulary (after panva/jose `util/errors.ts`): a tuple of
 * stable codes, the type of one code, and a base error class whose instances carry `code` (callers
 * switch on it, never on the message), keep `cause` and have a `name` that survives minifying.
 *
 *   const agentErrors = defineCodes('AgentError', ['state_not_found', 'state_invalid']);
 *   export const AGENT_ERROR_CODES = agentErrors.codes;
 *   export type AgentErrorCode = CodeOf<typeof agentErrors>;
 *   export class AgentError extends agentErrors.Error {}
 *
 *   AgentError.is(err)   // err is AgentError (a subclass's own `is` narrows to the subclass)
 *
 * Per-code data (an HTTP status, say) is given as a record keyed by every code, so adding a code
 * without its data does not compile.
 */

/** What every coded error's constructor takes besides code and message. */
export interface CodedErrorOptions {
  /** The underlying error; kept as `cause` (absent when undefined). */
  cause?: unknown;
}

/** An error from a vocabulary made with {@link defineCodes}. */
export interface CodedError<C extends string = string> extends Error {
  readonly code: C;
}

/** The base class {@link defineCodes} makes: extend it (or use it as is) for the package's error. */
export interface CodedErrorClass<C extends string> {
  new (code: C, message: string, options?: CodedErrorOptions): CodedError<C>;
  /** Every code of the vocabulary. */
  readonly codes: readonly C[];
  /** Type guard: an instance of this class (called on a subclass, of that subclass). */
  is<E>(this: abstract new (...args: never[]) => E, value: unknown): value is E;
}

/** A vocabulary of codes made by {@link defineCodes}. */
export interface CodeSet<T extends readonly [string, ...string[]]> {
  /** The `name` of its errors. */
  readonly name: string;
  /** The codes, in declaration order (frozen). */
  readonly codes: T;
  /** Whether a value is one of the codes (e.g. a code read back from the wire or a store). */
  isCode(value: unknown): value is T[number];
  /** The base error class of the vocabulary. */
  readonly Error: CodedErrorClass<T[number]>;
}

/** A vocabulary with one piece of data per code. */
export interface CodeSetWithData<T extends readonly [string, ...string[]], D> extends CodeSet<T> {
  /** The data of each code (frozen). */
  readonly data: Readonly<Record<T[number], D>>;
}

/** The code type of a vocabulary: `CodeOf<typeof cloudErrors>`. */
export type CodeOf<S extends { readonly codes: readonly string[] }> = S['codes'][number];

/**
 * Declare an error vocabulary: `errorName` becomes the errors' `name`; `codes` is the tuple of
 * stable codes (written inline or `as const`); `data`, when given, holds one value per code.
 */
export function defineCodes<const T extends readonly [string, ...string[]]>(errorName: string, codes: T): CodeSet<T>;
export function defineCodes<
  const T extends readonly [string, ...string[]],
  M extends { readonly [K in T[number]]: unknown },
>(errorName: string, codes: T, data: M): CodeSetWithData<T, M[T[number]]>;
export function defineCodes<
  const T extends readonly [string, ...string[]],
  M extends { readonly [K in T[number]]: unknown },
>(errorName: string, codes: T, data?: M): CodeSet<T> | CodeSetWithData<T, M[T[number]]> {
  type C = T[number];
  if (typeof errorName !== 'string' || errorName === '') throw new TypeError('defineCodes: errorName must be a name');
  if (new Set(codes).size !== codes.length) throw new TypeError(`defineCodes(${errorName}): codes must be unique`);
  const frozen = Object.freeze(codes);
  const known: ReadonlySet<string> = new Set(frozen);
  const isCode = (value: unknown): value is C => typeof value === 'string' && known.has(value);

  class Coded extends Error {
    override readonly name: string = errorName;
    readonly code: C;
    constructor(code: C, message: string, options?: CodedErrorOptions) {
      super(message, options?.cause === undefined ? undefined : { cause: options.cause });
      this.code = code;
    }
    static readonly codes: readonly C[] = frozen;
    static is<E>(this: abstract new (...args: never[]) => E, value: unknown): value is E {
      // biome-ignore lint/complexity/noThisInStatic: called on a subclass, is() checks for that subclass
      return value instanceof this;
    }
  }

  const base = { name: errorName, codes: frozen, isCode, Error: Coded };
  if (data === undefined) return Object.freeze(base);
  const missing = frozen.filter((c) => !Object.hasOwn(data, c));
  if (missing.length > 0) throw new TypeError(`defineCodes(${errorName}): no data for ${missing.join(', ')}`);
  return Object.freeze({ ...base, data: Object.freeze({ ...data }) });
}
