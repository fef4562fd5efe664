/**
 * A standalone relay node: serves agents over WSS (or WS behind a proxy) and reaches the cloud
 * nodes through NATS (requests, presence, revocations, and the agent gate the cloud answers).
 *
 *   RELAY_PORT=8443 RELAY_HOST=0.0.0.0 TLS_CERT=cert.pem TLS_KEY=key.pem \
 *   NATS_URL=nats://127.0.0.1:4222 WRITEBACK_CLOUD_PUBLIC_KEY=<base64url> \
 *   node --import tsx packages/relay/src/main.ts
 *
 * On RELAY_PORT besides the agents' path: `GET /healthz` (readiness: NATS up and presence getting
 * out; 503 otherwise) and `GET /livez` (liveness: 200 whenever the process answers). It starts
 * while NATS is down and connects when NATS is there.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createLogger, publicKeyObject, useStderrLogging } from '@writeback/protocol';
import type { AgentGate } from './client.js';
import { loadRelayConfig } from './config.js';
import { RelayError } from './errors.js';
import { createRelayHub } from './hub.js';
import { createNatsGate, startNatsBridge, type NatsBridge, type PublishFailures } from './nats.js';
import { createNatsLink } from './nats-link.js';

/** A failed presence publish keeps /healthz red this long (the clouds may not hear this node's agents). */
const PRESENCE_FAILURE_RED_MS = 30_000;

async function main(): Promise<void> {
  useStderrLogging(process.env);
  const log = createLogger({ name: 'relay' });
  const config = loadRelayConfig();
  for (const w of config.warnings) log.warn(`INSECURE: ${w}`);

  // Reconnect forever with a capped, jittered backoff; /healthz says whether the link is up. The
  // first connection is made in the background: the relay starts (and agents may dial it) while
  // NATS is down; until it is up agents are told `auth_unavailable` (retry soon), since only the
  // cloud, over NATS, can say whether an agent is still honoured.
  const link = createNatsLink({
    log: log.child({ component: 'nats' }),
    reconnectBaseMs: Math.min(250, config.natsReconnectMaxMs),
    reconnectCapMs: config.natsReconnectMaxMs,
  });
  const dialer = link.connect({
    servers: config.natsUrl,
    name: `writeback-relay${config.relayId ? `-${config.relayId}` : ''}`,
  });
  let natsGate: AgentGate | null = null;
  const hub = createRelayHub({
    ...(config.relayId ? { relayId: config.relayId } : {}),
    cloudVerifyKey: publicKeyObject('Ed25519', config.cloudPublicKey),
    // With the link down the question would wait in nats.js's buffer until its timeout: fail at once.
    gate: (agentId, tenantId) => {
      if (!natsGate || !link.isUp()) throw new RelayError('gate_failed', 'NATS is down: the cloud cannot be asked');
      return natsGate(agentId, tenantId);
    },
    heartbeatMs: config.heartbeatMs,
    maxPendingAuth: config.maxPendingAuth,
    maxPendingAuthPerIp: config.maxPendingAuthPerIp,
    log,
  });
  let bridge: NatsBridge | null = null;
  let stopping = false;
  void dialer.connected
    .then((nc) => {
      if (!nc || stopping) return;
      natsGate = createNatsGate(nc, { prefix: config.natsPrefix, log });
      bridge = startNatsBridge(hub, nc, { prefix: config.natsPrefix, log, link });
    })
    .catch((err: unknown) => {
      // NATS_URL or the options cannot work (not a NATS outage, which is waited out): exit like a bad setting.
      process.stderr.write(`relay cannot use NATS: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
  const noFailures: PublishFailures = { count: 0, last: null, lastPresenceFailureAt: null };

  const onRequest: Parameters<typeof createHttpServer>[1] = (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/livez') {
      // Liveness: this process's event loop answers. No dependency is checked (that is /healthz).
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
      return;
    }
    if (path === '/healthz') {
      // Ready only while NATS is reachable and this node's presence answers get out: without
      // either, no cloud node can reach the agents held here. Failed publishes are shown either
      // way (an agent answer too large for NATS is counted, but is that request's fate only).
      const nats = link.state();
      const failures = bridge?.publishFailures() ?? noFailures;
      const presenceFailing =
        failures.lastPresenceFailureAt !== null &&
        Date.now() - failures.lastPresenceFailureAt < PRESENCE_FAILURE_RED_MS;
      const up = nats.status === 'up' && !presenceFailing;
      res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          ok: up,
          relayId: hub.relayId,
          agents: hub.agentCount(),
          nats: {
            status: nats.status,
            since: nats.since,
            ...(nats.status === 'down' || nats.status === 'connecting' ? { attempts: nats.attempts } : {}),
            publishErrors: failures.count,
            lastPublishError: failures.last,
            presence: presenceFailing ? 'failing' : 'ok',
          },
        }),
      );
      return;
    }
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'not_found', message: 'not found' } }));
  };
  // A socket that dribbles its upgrade request is cut after 10 s (Node's default is 60 s); after
  // the upgrade the hub's handshake deadline takes over.
  const slow = { headersTimeout: 10_000, requestTimeout: 15_000 };
  const server: HttpServer | HttpsServer = config.tls
    ? createHttpsServer(
        { ...slow, cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
        onRequest,
      )
    : createHttpServer(slow, onRequest);
  hub.attach(server, config.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  log.info('relay listening', {
    relayId: hub.relayId,
    host: config.host,
    port: config.port,
    path: config.path,
    tls: config.tls !== null,
  });

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('relay stopping', { signal });
    dialer.stop();
    await bridge?.stop();
    await hub.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Draining waits for the server: with the link down, just close.
    const nc = dialer.connection();
    if (nc && link.isUp()) await nc.drain();
    else if (nc) await nc.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `relay failed to start: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`,
  );
  process.exit(1);
});
