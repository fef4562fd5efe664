/**
 * The faults of `npm run chaos`, in the order they run. Each `inject` applies its fault and
 * resolves when the fault has ended (the killed process runs again and is ready, NATS is back, the
 * paused relay continues, the flood is closed): the recovery clock starts then.
 */
import { connect, type Socket } from 'node:net';
import type { Cluster, Managed } from './cluster.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ScenarioOptions {
  natsDownS: number;
  /** Sockets of the connection flood. */
  floodSockets: number;
  /** How long the flood is held (at least until the agent restarted during it is back). */
  floodHoldS: number;
  /** Whether an agent is killed and started again during the flood (it must get in). */
  floodRestartsAgent: boolean;
  /** How long a killed process stays down before it is started again. */
  downMs: number;
  say: (line: string) => void;
}

export interface Scenario {
  name: string;
  /** Apply the fault; resolve at its end. What it returns is printed on the scenario's line. */
  inject(c: Cluster, o: ScenarioOptions): Promise<Record<string, string | number>>;
}

async function killAndRestart(p: Managed, o: ScenarioOptions): Promise<Record<string, number>> {
  await p.kill('SIGKILL');
  o.say(`  ${p.name} killed (-9)`);
  await sleep(o.downMs);
  const t0 = performance.now();
  await p.start();
  const s = (performance.now() - t0) / 1000;
  o.say(`  ${p.name} restarted, ready after ${s.toFixed(1)} s`);
  return { restart_s: Number(s.toFixed(1)) };
}

/** `count` unauthenticated WebSockets against the relay on `port` (from 127.0.0.2–9): the ones upgraded. */
async function flood(port: number, count: number): Promise<{ sockets: Socket[]; upgraded: number; refused: number }> {
  const sockets: Socket[] = [];
  let upgraded = 0;
  let refused = 0;
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${2 + (i % 8)}` });
          sockets.push(s);
          let settled = false;
          const done = (ok: boolean) => {
            if (settled) return;
            settled = true;
            if (ok) upgraded += 1;
            else refused += 1;
            resolve();
          };
          const timer = setTimeout(() => done(false), 10_000);
          s.once('connect', () => {
            s.write(
              `GET /agent HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                `Sec-WebSocket-Key: ${Buffer.from(`chaos-flood-${String(i).padStart(4, '0')}`).toString('base64')}\r\n` +
                'Sec-WebSocket-Version: 13\r\n\r\n',
            );
          });
          s.once('data', (d: Buffer) => {
            clearTimeout(timer);
            done(d.toString('latin1').startsWith('HTTP/1.1 101'));
          });
          s.on('error', () => {
            clearTimeout(timer);
            done(false);
          });
          s.once('close', () => {
            clearTimeout(timer);
            done(false);
          });
        }),
    ),
  );
  return { sockets, upgraded, refused };
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'kill_agent',
    inject: (c, o) => killAndRestart(c.agents[0], o),
  },
  {
    name: 'kill_relay',
    inject: (c, o) => killAndRestart(c.relays[0], o),
  },
  {
    name: 'kill_cloud',
    inject: (c, o) => killAndRestart(c.clouds[0], o),
  },
  {
    name: 'nats_down',
    async inject(c, o) {
      await c.nats.stop();
      o.say(`  nats-server killed for ${o.natsDownS} s`);
      await sleep(o.natsDownS * 1000);
      await c.nats.start();
      o.say('  nats-server back');
      return { down_s: o.natsDownS };
    },
  },
  {
    name: 'pg_terminate',
    async inject(c, o) {
      const n = await c.terminateDbConnections();
      o.say(`  ${n} PostgreSQL connections of the clouds terminated`);
      return { terminated: n };
    },
  },
  {
    name: 'presence_delay',
    async inject(c, o) {
      c.relays[1].signal('SIGSTOP');
      o.say('  relay2 stopped (SIGSTOP) for 2 s');
      await sleep(2_000);
      c.relays[1].signal('SIGCONT');
      return { stopped_s: 2 };
    },
  },
  {
    name: 'connection_flood',
    async inject(c, o) {
      const port = Number(new URL(c.relayUrls[0]).port);
      const t0 = performance.now();
      const f = await flood(port, o.floodSockets);
      o.say(
        `  ${o.floodSockets} unauthenticated WebSockets against relay1: ${f.upgraded} upgraded, ${f.refused} refused`,
      );
      // An agent of relay1 reconnects during the flood: it must get in.
      let agentS = 0;
      if (o.floodRestartsAgent) {
        await c.agents[0].kill('SIGKILL');
        const a0 = performance.now();
        await c.agents[0].start();
        agentS = (performance.now() - a0) / 1000;
        o.say(`  agent1 killed and restarted during the flood: connected after ${agentS.toFixed(1)} s`);
      }
      const left = o.floodHoldS * 1000 - (performance.now() - t0);
      if (left > 0) await sleep(left);
      const still = f.sockets.filter((s) => !s.destroyed).length;
      for (const s of f.sockets) s.destroy();
      return {
        upgraded: f.upgraded,
        refused: f.refused,
        open_at_end: still,
        ...(o.floodRestartsAgent ? { agent_in_s: Number(agentS.toFixed(1)) } : {}),
      };
    },
  },
];
