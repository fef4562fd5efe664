/**
 * A real relay hub on a real HTTP server (127.0.0.1, port 0 unless given), and the cloud signing
 * keys it trusts: what the relay's and the agent's tests run against.
 */
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSigningKeyPair, privateKeyObject, publicKeyObject } from '@writeback/protocol';
import { createRelayHub, type PresenceEvent, type RelayHub, type RelayHubOptions } from '@writeback/relay';
import { quietLog } from './logs.js';
import { eventsOf, type EventSource } from './wait.js';

/** The cloud's signing key pair, as agent certificates and requests are signed with. */
export interface CloudKeys {
  /** Ed25519 public key (base64url), as an agent's state holds it. */
  publicKey: string;
  signingKey: KeyObject;
  verifyKey: KeyObject;
}

export function makeCloudKeys(): CloudKeys {
  const pair = generateSigningKeyPair();
  return {
    publicKey: pair.publicKey,
    signingKey: privateKeyObject(pair.privateJwk),
    verifyKey: publicKeyObject('Ed25519', pair.publicKey),
  };
}

export interface HubFixture {
  hub: RelayHub;
  server: Server;
  port: number;
  /** `ws://127.0.0.1:<port>/agent` */
  url: string;
  close(): Promise<void>;
}

/**
 * A hub trusting `cloud.verifyKey` that admits every agent (`gate`) and logs nothing unless the
 * options say otherwise.
 */
export async function startHub(
  cloud: { verifyKey: KeyObject },
  options: Partial<RelayHubOptions> = {},
  port = 0,
): Promise<HubFixture> {
  const hub = createRelayHub({ cloudVerifyKey: cloud.verifyKey, gate: () => true, log: quietLog(), ...options });
  const server = createServer((_req, res) => res.writeHead(404).end());
  hub.attach(server);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const actual = (server.address() as AddressInfo).port;
  return {
    hub,
    server,
    port: actual,
    url: `ws://127.0.0.1:${actual}/agent`,
    async close() {
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The hub's presence events (agents connecting and disconnecting), for `waitFor`. */
export function presenceEvents(hub: Pick<RelayHub, 'onPresence'>): EventSource<PresenceEvent> {
  return eventsOf((listener) => hub.onPresence(listener), 'presence event');
}
