/**
 * An ldapts Client on one directory URL with TLS set up (ldaps:// from the first byte, or StartTLS
 * done before anything else is sent) and allowed exactly one socket.
 *
 * Safety rule: an ldapts Client transparently reconnects when its socket dropped, and the new
 * socket is neither bound nor (for StartTLS) encrypted. A password write on such a socket would be
 * anonymous at best and clear text at worst, so a second socket throws before anything is sent;
 * the caller replaces the client.
 */
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { Client } from 'ldapts';

export interface OpenClientOptions {
  /** TLS options for the URL's host (tls.ts tlsOptionsFor). */
  tlsOptions: ConnectionOptions;
  /** ldap:// upgraded with StartTLS (ignored for ldaps://). */
  startTls: boolean;
  timeoutMs: number;
}

/** A not yet bound client; throws what the StartTLS exchange throws (the client closed). */
export async function openClient(url: string, o: OpenClientOptions): Promise<Client> {
  const secure = url.toLowerCase().startsWith('ldaps:');
  let plainSockets = 0;
  let tlsSockets = 0;
  const refuse = (): never => {
    throw new Error('connection dropped; refusing to reconnect this client (it would be unbound)');
  };
  const createConnection = ((...args: Parameters<typeof net.connect>) => {
    if (plainSockets++ > 0) refuse();
    return net.connect(...args);
  }) as typeof net.connect;
  const createSecureConnection = ((...args: Parameters<typeof tls.connect>) => {
    if (tlsSockets++ > 0) refuse();
    return tls.connect(...args);
  }) as typeof tls.connect;

  const client = new Client({
    url,
    timeout: o.timeoutMs,
    connectTimeout: o.timeoutMs,
    // For ldaps:// the options apply from the first byte; for StartTLS they must not be given
    // here (ldapts would then open TLS directly) but to startTLS().
    ...(secure ? { tlsOptions: o.tlsOptions } : {}),
    createConnection,
    createSecureConnection,
  });
  if (o.startTls && !secure) {
    try {
      // A copy: ldapts stores the plain socket in the options it is given.
      await client.startTLS({ ...o.tlsOptions });
    } catch (err) {
      await client.unbind().catch(() => undefined);
      throw err;
    }
  }
  return client;
}
