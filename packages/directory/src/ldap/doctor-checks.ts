/**
 * The doctor checks both LDAP adapters make the same way: the configuration that would not load,
 * a server that cannot be reached or whose certificate does not verify, the clock against the
 * directory's, and a protected group that cannot be read. Each adapter says where its facts come
 * from (AD: the rootDSE's currentTime; OpenLDAP: cn=Monitor) and keeps its own check ids.
 */
import type { DoctorCheck } from '../doctor.js';
import { DirectoryError } from '../errors.js';
import { certificateNames, NAME_MISMATCH, nameMismatchFix, tlsProblemOf, type TlsProblem } from './tls.js';

/**
 * The configuration did not load: a TypeError naming the option, or DirectoryError
 * insecure_transport (plain LDAP), reported under `insecureId` with `insecureFix`. Anything else
 * is a bug and is thrown on.
 */
export function configFailureCheck(err: unknown, insecure: { id: string; fix: string }): DoctorCheck {
  if (!(err instanceof DirectoryError) && !(err instanceof TypeError)) throw err;
  const isInsecure = err instanceof DirectoryError && err.code === 'insecure_transport';
  return {
    id: isInsecure ? insecure.id : 'config',
    status: 'fail',
    summary: err.message,
    fix: isInsecure ? insecure.fix : 'Correct the option named above.',
  };
}

/** Why a connection to one server failed before any bind. */
export interface ConnectProblem {
  kind: TlsProblem | 'timeout' | 'network';
  /** The Node/OpenSSL error code (`ERR_TLS_CERT_ALTNAME_INVALID`, `ECONNREFUSED`, ...). */
  code: string | undefined;
  /** For a certificate issued for another name: the names it carries. */
  certificateNames: string[];
}

/** The problem of a raw transport error (a socket or TLS error, or ldapts's "Connection timeout"). */
export function connectProblemOf(err: unknown): ConnectProblem {
  const code =
    typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  const tls = tlsProblemOf(err);
  const message = err instanceof Error ? err.message : '';
  return {
    kind: tls ?? (/timed? ?out/i.test(message) || code === 'ETIMEDOUT' ? 'timeout' : 'network'),
    code,
    certificateNames: code === NAME_MISMATCH ? certificateNames(err) : [],
  };
}

export interface ConnectCheckContext {
  /** The check's id (AD `tls:<url>`, OpenLDAP `server:<url>`). */
  id: string;
  url: string;
  /** The name the certificate must carry: tlsServerName, else the URL's host. */
  expectedName: string;
  /** What to do about an untrusted certificate (which CA to set in caFile). */
  caFix: string;
  /** What to do when nothing answers. */
  connectFix: string;
}

/** A failed check for a server that could not be reached, saying what to change. */
export function connectFailureCheck(p: ConnectProblem, c: ConnectCheckContext): DoctorCheck {
  const code = p.code ? { code: p.code } : {};
  switch (p.kind) {
    case 'verification':
      return {
        id: c.id,
        status: 'fail',
        summary: `TLS certificate of ${c.url} did not verify (${p.code ?? 'error'})`,
        fix: p.code === NAME_MISMATCH ? nameMismatchFix(p.certificateNames, c.expectedName) : c.caFix,
        ...code,
      };
    case 'handshake':
      return {
        id: c.id,
        status: 'fail',
        summary: `TLS with ${c.url} failed (${p.code ?? 'error'})`,
        fix: 'Check that the port speaks TLS (ldaps://, usually 636) or that the server offers StartTLS (ldap://, usually 389).',
        ...code,
      };
    case 'timeout':
      return { id: c.id, status: 'fail', summary: `${c.url} did not answer in time`, fix: c.connectFix, ...code };
    default:
      return {
        id: c.id,
        status: 'fail',
        summary: `cannot connect to ${c.url} (${p.code ?? 'error'})`,
        fix: c.connectFix,
        ...code,
      };
  }
}

export interface ClockCheckOptions {
  id: string;
  /** Who the clock is compared with (`the DC`, `the directory`). */
  peer: string;
  /** A skew above this many seconds warns. */
  warnAfterS: number;
  /** A skew above this many seconds fails (no failure when absent). */
  failAfterS?: number;
  /** Why the skew matters, for the fix. */
  why: string;
}

/** This host's clock against the directory's (`skewMs` = ours − theirs). */
export function clockSkewCheck(skewMs: number, o: ClockCheckOptions): DoctorCheck {
  const skew = Math.round(skewMs / 1000);
  const abs = Math.abs(skew);
  const summary = `this host's clock is ${skew} s off ${o.peer}`;
  const fix = `Synchronise this host and ${o.peer} with NTP: ${o.why}.`;
  if (o.failAfterS !== undefined && abs > o.failAfterS) return { id: o.id, status: 'fail', summary, fix };
  if (abs > o.warnAfterS) return { id: o.id, status: 'warn', summary, fix };
  return { id: o.id, status: 'pass', summary: `clock within ${abs} s of ${o.peer}` };
}

/** A configured protected group must be readable: otherwise every user counts as protected. */
export function protectedGroupCheck(group: string, readable: boolean): DoctorCheck {
  return readable
    ? { id: `protected:${group}`, status: 'pass', summary: `protected group ${group} readable` }
    : {
        id: `protected:${group}`,
        status: 'fail',
        summary: `protected group ${group} does not exist or is not readable: every user is treated as protected`,
        fix: 'Correct protectedGroups (a group DN, or for AD a SID) or give the service account read on the group.',
      };
}
