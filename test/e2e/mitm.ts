/**
 * A man in the middle between the agent and the relay: the position of a compromised relay. It
 * forwards WebSocket frames both ways, records every one, and lets a test rewrite, delay, drop or
 * duplicate the requests it carries.
 */
import { once } from 'node:events';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

export type Hook = (frame: Record<string, unknown>, send: (f: Record<string, unknown>) => void) => void | Promise<void>;

export interface Mitm {
  url: string;
  /** Every frame seen, both directions, as raw text. */
  frames: { dir: 'to-agent' | 'to-relay'; text: string }[];
  /** Set to intercept the next relay→agent `request` frame (then cleared). */
  onRequest: Hook | null;
  /** Set to intercept the next agent→relay `response` frame (then cleared). */
  onResponse: Hook | null;
  close(): Promise<void>;
}

export async function startMitm(targetUrl: () => string): Promise<Mitm> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 });
  await once(wss, 'listening');
  const address = wss.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const m: Mitm = {
    url: `ws://127.0.0.1:${port}/agent`,
    frames: [],
    onRequest: null,
    onResponse: null,
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
  wss.on('connection', (agentWs) => {
    const relayWs = new WebSocket(targetUrl());
    const pending: string[] = [];
    const text = (d: RawData) => (Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer)).toString('utf8');
    relayWs.on('open', () => {
      for (const p of pending) relayWs.send(p);
      pending.length = 0;
    });
    relayWs.on('message', (d) => {
      const t = text(d);
      m.frames.push({ dir: 'to-agent', text: t });
      const frame = JSON.parse(t) as Record<string, unknown>;
      if (frame.t === 'request' && m.onRequest) {
        const hook = m.onRequest;
        m.onRequest = null;
        void hook(frame, (f) => agentWs.send(JSON.stringify(f)));
        return;
      }
      agentWs.send(t);
    });
    agentWs.on('message', (d) => {
      const t = text(d);
      m.frames.push({ dir: 'to-relay', text: t });
      const frame = JSON.parse(t) as Record<string, unknown>;
      if (frame.t === 'response' && m.onResponse) {
        const hook = m.onResponse;
        m.onResponse = null;
        void hook(frame, (f) => relayWs.send(JSON.stringify(f)));
        return;
      }
      if (relayWs.readyState === WebSocket.OPEN) relayWs.send(t);
      else pending.push(t);
    });
    relayWs.on('close', () => agentWs.terminate());
    agentWs.on('close', () => relayWs.terminate());
    relayWs.on('error', () => agentWs.terminate());
    agentWs.on('error', () => relayWs.terminate());
  });
  return m;
}
