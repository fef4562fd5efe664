/**
 * A standalone relay node: serves agents over WSS (or WS behind a proxy) and reaches the cloud
 * nodes through NATS (requests, presence, revocations, and the agent gate the cloud answers).
 *
 *   RELAY_PORT=8443 RELAY_HOST=0.0.0.0 TLS_CERT=cert.pem TLS_KEY=key.pem \
 *   NATS_URL=nats://127.0.0.1:4222 WRITEBACK_CLOUD_PUBLIC_KEY=<base64url> \
 *   node --import tsx packages/relay/src/main.ts
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect } from 'nats';
import { createLogger, publicKeyObject, useStderrLogging } from '@writeback/protocol';
import { loadRelayConfig } from './config.js';
import { createRelayHub } from './hub.js';
import { createNatsGate, startNatsBridge } from './nats.js';
import { createNatsLink } from './nats-link.js';

/** A failed presence publish keeps /healthz red this long (the clouds may not hear this node's agents). */
const PRESENCE_FAILURE_RED_MS = 30_000;

async function main(): Promise<void> {
  useStderrLogging(process.env);
  const log = createLogger({ name: 'relay' });
  const config = loadRelayConfig();
  for (const w of config.warnings) log.warn(`INSECURE: ${w}`);

  // Reconnect forever with a capped, jittered backoff; /healthz says whether the link is up.
  const link = createNatsLink({
    log: log.child({ component: 'nats' }),
    reconnectBaseMs: Math.min(250, config.natsReconnectMaxMs),
    reconnectCapMs: config.natsReconnectMaxMs,
  });
  const nc = await connect({
    servers: config.natsUrl,
    name: `writeback-relay${config.relayId ? `-${config.relayId}` : ''}`,
    ...link.connectOptions,
  });
  link.watch(nc);
  const hub = createRelayHub({
    ...(config.relayId ? { relayId: config.relayId } : {}),
    cloudVerifyKey: publicKeyObject('Ed25519', config.cloudPublicKey),
    gate: createNatsGate(nc, { prefix: config.natsPrefix, log }),
    heartbeatMs: config.heartbeatMs,
    maxPendingAuth: config.maxPendingAuth,
    maxPendingAuthPerIp: config.maxPendingAuthPerIp,
    log,
  });
  const bridge = startNatsBridge(hub, nc, { prefix: config.natsPrefix, log, link });

  const onRequest: Parameters<typeof createHttpServer>[1] = (req, res) => {
    if (req.url === '/healthz') {
      // Ready only while NATS is reachable and this node's presence answers get out: without
      // either, no cloud node can reach the agents held here. Failed publishes are shown either
      // way (an agent answer too large for NATS is counted, but is that request's fate only).
      const nats = link.state();
      const failures = bridge.publishFailures();
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
            ...(nats.status === 'down' ? { attempts: nats.attempts } : {}),
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

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('relay stopping', { signal });
    await bridge.stop();
    await hub.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Draining waits for the server: with the link down, just close.
    if (link.isUp()) await nc.drain();
    else await nc.close();
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
