/**
 * What the doctor's checks share: the error code of a failed call, the fix for a host that cannot
 * be reached, what a remote check is given and answers, and the scheme/port verdict of an outbound URL (cloud.url, relay.url).
 */
import type { DoctorCheck } from '@writeback/directory';
import type { AgentState } from '../config.js';
import type { ProxyEndpoint, ProxySettings } from '../proxy.js';
import { isLoopbackHost } from '../urls.js';

/** What the checks of a remote end (cloud.*, relay.*) are given. */
export interface ProbeContext {
  state: AgentState;
  /** The CA file's contents (--ca), for TLS to a privately issued certificate. */
  ca: Buffer | undefined;
  /** The outbound proxy (from the environment); its CA is added to `ca` where TLS is checked. */
  proxy: ProxySettings;
  timeoutMs: number;
  now: () => number;
}

/** The checks of a remote end, and its clock when it told one (for the clock_skew check). */
export interface ProbeResult {
  checks: DoctorCheck[];
  /** The remote's time, and the local time when it was received. */
  clock: { server: number; local: number } | null;
}

/** The errno code (ENOENT, ECONNREFUSED, ERR_TLS_…) of a failure, else its name. */
export function errnoCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'error';
}

function tlsFix(code: string): string | null {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return 'The certificate is for another name: use the name it was issued for in the URL.';
  if (/CERT|SELF_SIGNED|ISSUER|SIGNATURE|UNABLE_TO_VERIFY/.test(code))
    return 'Give the CA that issued the certificate (--ca <pem>, as for run), or install a publicly trusted certificate.';
  return null;
}

export function reachFix(code: string, what: string): string {
  return (
    tlsFix(code) ??
    (code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? `The host name of the ${what} does not resolve here: check DNS.`
      : code === 'ECONNREFUSED'
        ? `Nothing listens there: check the ${what} is running and the URL's port.`
        : `Check the outbound firewall / proxy allows this host to reach the ${what} (HTTPS, port 443).`)
  );
}

/** Scheme and port of an outbound URL: plaintext fails unless loopback; a port other than 443 warns. */
export function urlCheck(id: string, url: URL, secure: 'https:' | 'wss:', option: string): DoctorCheck {
  const plain = url.protocol !== secure;
  const port = url.port === '' ? (plain ? 80 : 443) : Number(url.port);
  if (plain) {
    if (isLoopbackHost(url.hostname)) {
      return {
        id,
        status: 'warn',
        summary: `INSECURE: ${option} ${url.origin} is plain text (acceptable only for a local test stack on this host)`,
        fix: `Use ${secure}// with TLS in front of the cloud for anything real.`,
      };
    }
    return {
      id,
      status: 'fail',
      summary: `INSECURE: ${option} ${url.origin} is plain text to another host: anyone on the path sees and can tamper with the traffic`,
      fix: `Put TLS in front of the cloud and use ${secure}//…:443.`,
    };
  }
  if (port !== 443) {
    return {
      id,
      status: 'warn',
      summary: `${option} ${url.origin} uses port ${port}: firewalls usually allow only 443 outbound`,
      fix: 'Serve it on 443, or make sure the outbound firewall allows this port.',
    };
  }
  return { id, status: 'pass', summary: `${url.origin} (TLS, port 443)` };
}

/** What to do when the proxy did not open a tunnel (`code`: an AgentError proxy_* code or an errno). */
export function proxyFix(code: string, proxy: ProxyEndpoint, target: string): string {
  switch (code) {
    case 'proxy_auth_failed':
      return proxy.authorization
        ? 'The proxy refused the credentials: put the user:password of an account the proxy accepts in the file WRITEBACK_PROXY_AUTH_FILE names (first line; Basic auth).'
        : 'The proxy asks for credentials: write user:password to a file readable only by the agent user and set WRITEBACK_PROXY_AUTH_FILE to its path.';
    case 'proxy_forbidden':
      return `The proxy's policy forbids CONNECT to ${target} (403): ask its administrators to allow it (CONNECT to the relay and cloud names on their port), or add the host to NO_PROXY if this host may reach it directly.`;
    case 'proxy_refused':
      return `The proxy could not open a tunnel to ${target}: it may not resolve or reach it (its DNS, its own firewall). Ask its administrators; check the relay URL.`;
    default:
      return `The proxy ${proxy.url.origin} itself cannot be reached: check HTTPS_PROXY / HTTP_PROXY (host and port) and that this host may connect to it.`;
  }
}
