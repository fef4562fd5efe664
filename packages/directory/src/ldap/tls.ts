/**
 * TLS to a directory server, for both LDAP adapters: the client options for one URL (CA, the name
 * the certificate must carry, SNI), the one classifier of TLS failures, and the names a
 * certificate carries when it was refused for another name, so `agent doctor` can say what to
 * put in the URL (or in tlsServerName).
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

export interface TlsSettings {
  ca?: string | Buffer | undefined;
  /** The name the certificate must carry instead of the URL's host. */
  tlsServerName?: string | undefined;
  skipVerification: boolean;
}

/** TLS options for a connection to `host` (a URL's hostname, brackets allowed). */
export function tlsOptionsFor(settings: TlsSettings, host: string): ConnectionOptions {
  const bare = host.replace(/^\[|\]$/g, '');
  return {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: !settings.skipVerification,
    ...(settings.ca ? { ca: settings.ca } : {}),
    // SNI must not carry an IP address; Node checks the certificate against the host then.
    ...(settings.tlsServerName ? { servername: settings.tlsServerName } : isIP(bare) ? {} : { servername: bare }),
  };
}

/**
 * `verification`: the server's certificate did not check out (chain, expiry, name): the CA or the
 * name is wrong, and retrying will not help. `handshake`: TLS itself failed (no TLS on that port,
 * protocol or cipher mismatch, the connection dropped during the handshake).
 */
export type TlsProblem = 'verification' | 'handshake';

const VERIFICATION = /CERT|SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|ALTNAME/;
const ANY_TLS = /CERT|SSL|TLS|SELF_SIGNED|ALTNAME|UNABLE_TO|HANDSHAKE/i;

/** What kind of TLS failure `err` is (its Node/OpenSSL code, else its message), if any. */
export function tlsProblemOf(err: unknown): TlsProblem | undefined {
  const code = codeOf(err);
  if (code && (code.startsWith('ERR_TLS_CERT') || VERIFICATION.test(code))) return 'verification';
  const message = err instanceof Error ? err.message : '';
  if ((code && ANY_TLS.test(code)) || ANY_TLS.test(message)) return 'handshake';
  return undefined;
}

/** The certificate was valid but issued for another name than the one connected to. */
export const NAME_MISMATCH = 'ERR_TLS_CERT_ALTNAME_INVALID';

/**
 * The names a refused certificate carries (subjectAltName DNS names and IP addresses, then the
 * subject CN when it is not among them), from the error Node raises for a name mismatch, which
 * keeps the peer certificate. Empty when the error carries none.
 */
export function certificateNames(err: unknown): string[] {
  if (typeof err !== 'object' || err === null || !('cert' in err)) return [];
  const cert = err.cert;
  if (typeof cert !== 'object' || cert === null) return [];
  const names: string[] = [];
  if ('subjectaltname' in cert && typeof cert.subjectaltname === 'string') {
    for (const part of cert.subjectaltname.split(/,\s*/)) {
      const m = /^(DNS|IP Address):(.+)$/.exec(part.trim());
      if (m?.[2]) names.push(m[2]);
    }
  }
  if ('subject' in cert && typeof cert.subject === 'object' && cert.subject !== null && 'CN' in cert.subject) {
    const cn = cert.subject.CN;
    for (const n of Array.isArray(cn) ? cn : [cn]) if (typeof n === 'string' && !names.includes(n)) names.push(n);
  }
  return names;
}

/** Doctor advice for a certificate issued for other names than `expected`. */
export function nameMismatchFix(names: readonly string[], expected: string): string {
  if (names.length === 0)
    return `The certificate is not issued for ${expected}: connect by the name it carries, or set tlsServerName to it.`;
  return `The certificate is issued for ${names.join(', ')}, not ${expected}: use one of those in the URL, or set tlsServerName to one of them.`;
}

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}
