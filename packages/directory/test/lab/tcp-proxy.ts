/**
 * A TCP relay between the adapter and the real slapd that lets a test decide what happens to one
 * LDAP request on the wire: hold it and never deliver it, or deliver it and drop the answer. Used
 * to lose a connection at an exact point (after the Password Modify request left the adapter),
 * which a real server crash alone cannot time reliably. Everything else is relayed unchanged.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** LDAP protocolOp tag of the first message in a chunk (0x77: ExtendedRequest), or null. */
export function ldapOpTag(chunk: Buffer): number | null {
  if (chunk[0] !== 0x30) return null;
  let pos = 1;
  const l = chunk[pos];
  if (l === undefined) return null;
  pos += l & 0x80 ? 1 + (l & 0x7f) : 1;
  if (chunk[pos] !== 0x02) return null;
  const idLen = chunk[pos + 1];
  if (idLen === undefined) return null;
  pos += 2 + idLen;
  return chunk[pos] ?? null;
}

export type Verdict = 'forward' | 'hold';

export interface TcpProxy {
  port: number;
  url: string;
  /** Decides per client chunk; 'hold' keeps it from the server for good. */
  onClientData: (chunk: Buffer) => Verdict;
  /** While true, the server's answers are dropped instead of relayed. */
  dropServerData: boolean;
  /**
   * Marks every connection open now as dropped by the server while idle: its next request is not
   * relayed, the connection is reset instead (the client learns it only when it uses it). Returns
   * how many were marked. Connections opened afterwards are relayed as usual.
   */
  dropIdleConnections(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const doomed = new WeakSet<Socket>();
  const proxy: TcpProxy = {
    port: 0,
    url: '',
    onClientData: () => 'forward',
    dropServerData: false,
    dropIdleConnections: () => {
      for (const c of clients) doomed.add(c);
      return clients.size;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    clients.add(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      clients.delete(client);
    };
    client.on('data', (chunk: Buffer) => {
      if (doomed.has(client)) {
        // A TCP reset, as from a server (or a middlebox) that forgot the connection.
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      if (proxy.onClientData(chunk) === 'forward') upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!proxy.dropServerData) client.write(chunk);
    });
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  proxy.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  proxy.url = `ldap://127.0.0.1:${proxy.port}`;
  return proxy;
}
