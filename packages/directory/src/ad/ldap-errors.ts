/**
 * Turns what ldapts throws into data: an LDAP result the DC sent (code, AD extended error, the
 * `data NNN` of a bind failure, the diagnostic text for the log) or a transport failure (socket,
 * TLS, timeout), which says nothing about whether the DC acted on the request.
 */
import { ResultCodeError } from 'ldapts';
import { certificateNames, NAME_MISMATCH, tlsProblemOf, type TlsProblem } from '../ldap/tls.js';

export type LdapFailure =
  | {
      kind: 'result';
      /** LDAP result code (19 constraint violation, 49 invalid credentials, 50 insufficient access...). */
      code: number;
      /** AD extended error, the 8 hex digits before the first colon (`0000052D`), upper case. */
      ext: string | undefined;
      /** Bind sub-code from `..., data 775, ...` (lower case hex). */
      data: string | undefined;
      /** Server text, for the log only. */
      diagnostic: string;
    }
  | {
      kind: 'transport';
      /** Node/TLS error code when there is one (ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE...). */
      errorCode: string | undefined;
      diagnostic: string;
      /** Set when it was a TLS failure (ldap/tls.ts). */
      tls?: TlsProblem;
      /** For a certificate issued for another name: the names it carries. */
      certificateNames?: string[];
    };

export function classifyLdapError(err: unknown): LdapFailure {
  if (err instanceof ResultCodeError) {
    const diagnostic = err.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '');
    const ext = /^([0-9A-Fa-f]{8}):/.exec(diagnostic)?.[1]?.toUpperCase();
    const data = /\bdata ([0-9a-fA-F]{1,8})\b/.exec(diagnostic)?.[1]?.toLowerCase();
    return { kind: 'result', code: err.code, ext, data, diagnostic };
  }
  const errorCode = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  const diagnostic = err instanceof Error ? err.message : String(err);
  const tls = tlsProblemOf(err);
  return {
    kind: 'transport',
    errorCode,
    diagnostic,
    ...(tls ? { tls } : {}),
    ...(errorCode === NAME_MISMATCH ? { certificateNames: certificateNames(err) } : {}),
  };
}

/** TLS verification failures: the certificate chain or name did not check out. */
export function isTlsVerificationError(f: LdapFailure): boolean {
  return f.kind === 'transport' && f.tls === 'verification';
}
