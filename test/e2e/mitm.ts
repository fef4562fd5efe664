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
    /** Record each frame going `dir`; one of `type` goes to the hook set for it (then cleared), the rest on. */
    const carry =
      (dir: 'to-agent' | 'to-relay', type: 'request' | 'response', forward: (text: string) => void) => (d: RawData) => {
        const raw = text(d);
        m.frames.push({ dir, text: raw });
        const frame = JSON.parse(raw) as Record<string, unknown>;
        const key = type === 'request' ? 'onRequest' : 'onResponse';
        const hook = frame.t === type ? m[key] : null;
        if (!hook) return forward(raw);
        m[key] = null;
        void hook(frame, (f) => forward(JSON.stringify(f)));
      };
    relayWs.on(
      'message',
      carry('to-agent', 'request', (t) => agentWs.send(t)),
    );
    agentWs.on(
      'message',
      carry('to-relay', 'response', (t) => {
        if (relayWs.readyState === WebSocket.OPEN) relayWs.send(t);
        else pending.push(t);
      }),
    );
    relayWs.on('close', () => agentWs.terminate());
    agentWs.on('close', () => relayWs.terminate());
    relayWs.on('error', () => agentWs.terminate());
    agentWs.on('error', () => relayWs.terminate());
  });
  return m;
}
