/**
 * The load generator's HTTP client: HTTP/1.1 keep-alive over plain sockets, one request at a time
 * per socket, as wrk and autocannon do. The benchmark runs it in the cloud's own process (the cloud
 * and the relay are in-process there), so everything the client spends is CPU taken from the path
 * being measured; node:http's client (agent bookkeeping, header objects, streams) costs about as
 * much as the server side of a request. This one writes a prebuilt request and reads back the
 * status and the body, nothing else: a caller on another machine would not load the cloud at all.
 *
 * Only what the cloud's API answers is handled: `content-length` or `chunked` bodies, keep-alive.
 */
import { connect, type Socket } from 'node:net';

export interface HttpResponse {
  status: number;
  body: string;
}

interface Pending {
  head: string;
  body: Buffer;
  resolve: (r: HttpResponse) => void;
  reject: (err: Error) => void;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** Reads one response at a time off a socket. */
class Connection {
  readonly #socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #current: Pending | null = null;
  #onIdle: (c: Connection) => void;
  closed = false;

  constructor(host: string, port: number, onIdle: (c: Connection) => void, onGone: (c: Connection) => void) {
    this.#onIdle = onIdle;
    this.#socket = connect({ host, port, noDelay: true });
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    const gone = (err?: Error) => {
      if (this.closed) return;
      this.closed = true;
      const p = this.#current;
      this.#current = null;
      onGone(this);
      p?.reject(err ?? new Error('connection closed before the response'));
    };
    this.#socket.on('error', gone);
    this.#socket.on('close', () => gone());
  }

  send(p: Pending): void {
    this.#current = p;
    this.#socket.write(p.body.length > 0 ? Buffer.concat([Buffer.from(p.head, 'latin1'), p.body]) : p.head);
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const p = this.#current;
    if (!p) return;
    const end = this.#buf.indexOf(CRLF2);
    if (end < 0) return;
    const head = this.#buf.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const start = end + 4;
    let body: Buffer | null = null;
    let rest: Buffer;
    const cl = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    if (cl) {
      const len = Number(cl[1]);
      if (this.#buf.length < start + len) return;
      body = this.#buf.subarray(start, start + len);
      rest = this.#buf.subarray(start + len);
    } else if (/\r\ntransfer-encoding:\s*chunked/.test(lower)) {
      const parts: Buffer[] = [];
      let at = start;
      for (;;) {
        const eol = this.#buf.indexOf('\r\n', at);
        if (eol < 0) return;
        const size = Number.parseInt(this.#buf.subarray(at, eol).toString('latin1'), 16);
        if (this.#buf.length < eol + 2 + size + 2) return;
        if (size === 0) {
          rest = this.#buf.subarray(eol + 4);
          break;
        }
        parts.push(this.#buf.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      p.reject(new Error('response without content-length or chunked body'));
      this.#socket.destroy();
      return;
    }
    this.#buf = rest.length > 0 ? Buffer.from(rest) : Buffer.alloc(0);
    this.#current = null;
    const keep = !/\r\nconnection:\s*close/.test(lower);
    if (!keep) this.#socket.destroy();
    p.resolve({ status, body: body.toString('utf8') });
    if (keep) this.#onIdle(this);
  }

  close(): void {
    this.closed = true;
    this.#socket.destroy();
  }
}

/** A keep-alive client to one origin with at most `maxSockets` connections. */
export class LeanHttpClient {
  readonly #host: string;
  readonly #port: number;
  readonly #max: number;
  readonly #headers: string;
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  readonly #queue: Pending[] = [];

  constructor(origin: string, o: { maxSockets: number; headers?: Record<string, string> }) {
    const u = new URL(origin);
    if (u.protocol !== 'http:') throw new TypeError('LeanHttpClient: http:// origins only');
    this.#host = u.hostname;
    this.#port = Number(u.port || 80);
    this.#max = o.maxSockets;
    this.#headers = `Host: ${u.host}\r\n${Object.entries(o.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}`;
  }

  post(path: string, json: string): Promise<HttpResponse> {
    const body = Buffer.from(json, 'utf8');
    const head = `POST ${path} HTTP/1.1\r\n${this.#headers}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    return new Promise<HttpResponse>((resolve, reject) => {
      this.#dispatch({ head, body, resolve, reject });
    });
  }

  #dispatch(p: Pending): void {
    const idle = this.#idle.pop();
    if (idle) {
      idle.send(p);
      return;
    }
    if (this.#all.size < this.#max) {
      const c = new Connection(
        this.#host,
        this.#port,
        (conn) => this.#release(conn),
        (conn) => {
          this.#all.delete(conn);
          const i = this.#idle.indexOf(conn);
          if (i >= 0) this.#idle.splice(i, 1);
          // A slot is free again: a queued request may take it.
          const next = this.#queue.shift();
          if (next) this.#dispatch(next);
        },
      );
      this.#all.add(c);
      c.send(p);
      return;
    }
    this.#queue.push(p);
  }

  #release(c: Connection): void {
    const next = this.#queue.shift();
    if (next) c.send(next);
    else this.#idle.push(c);
  }

  close(): void {
    for (const c of this.#all) c.close();
    this.#all.clear();
    this.#idle.length = 0;
  }
}
