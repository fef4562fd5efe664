/**
 * Transport checks for the agent's two outbound URLs. Plain text is only acceptable to a loopback
 * host (a local test stack) or with an explicit opt-in, and is always said loudly.
 */
import { isIP } from 'node:net';
import type { Logger } from '@writeback/protocol';
import { AgentError } from './errors.js';

/** Whether a URL host is this machine (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Parse and check an outbound URL. `secure`/`plain` are the accepted schemes (wss/ws, https/http).
 * Throws AgentError `invalid_config` for a malformed URL or another scheme, `insecure_url` for a
 * plain-text URL to a non-loopback host without `allowPlaintext`.
 */
export function checkOutboundUrl(
  raw: string,
  kind: { secure: 'wss:' | 'https:'; plain: 'ws:' | 'http:'; option: string },
  allowPlaintext: boolean,
  log: Logger,
): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new AgentError('invalid_config', `${kind.option} is not a URL`, { cause });
  }
  if (url.username || url.password) throw new AgentError('invalid_config', `${kind.option} must not carry credentials`);
  if (url.protocol === kind.secure) return url;
  if (url.protocol !== kind.plain)
    throw new AgentError('invalid_config', `${kind.option} must be a ${kind.secure}// URL`);
  if (isLoopbackHost(url.hostname)) {
    log.warn(`INSECURE: ${kind.option} uses plain ${kind.plain}// (loopback host; acceptable for a local stack only)`, {
      host: url.host,
    });
    return url;
  }
  if (!allowPlaintext)
    throw new AgentError(
      'insecure_url',
      `${kind.option} uses plain ${kind.plain}// to a non-loopback host; use ${kind.secure}// (or allow plaintext explicitly)`,
    );
  log.warn(
    `INSECURE: ${kind.option} uses plain ${kind.plain}// to a remote host because plaintext was explicitly allowed`,
    { host: url.host },
  );
  return url;
}
