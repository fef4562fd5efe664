/**
 * A real SMTP listener for tests (smtp-server on 127.0.0.1, a free port): accepts every message,
 * keeps it parsed just enough for assertions (envelope, headers, subject, text and html parts),
 * and lets a test wait for the next message to an address. No authentication, no TLS: it stands in
 * for a local relay (`SMTP_SECURITY=none`).
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface CapturedMail {
  from: string;
  to: string[];
  subject: string;
  headers: Map<string, string>;
  text: string;
  html: string | null;
  raw: string;
  at: number;
}

export interface SmtpCapture {
  host: string;
  port: number;
  readonly messages: readonly CapturedMail[];
  /** The first message to `to` received at or after `since` (default: any), waiting up to timeoutMs. */
  waitFor(to: string, opts?: { timeoutMs?: number; since?: number }): Promise<CapturedMail>;
  close(): Promise<void>;
}

function decodeQp(s: string): Buffer {
  const bytes: number[] = [];
  const soft = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i++) {
    const ch = soft[i];
    const hex = soft.slice(i + 1, i + 3);
    if (ch === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(ch ?? ''));
  }
  return Buffer.from(bytes);
}

/** RFC 2047 encoded words (=?utf-8?Q?...?= / ?B?) in a header value. */
function decodeWords(v: string): string {
  return v.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*/g, (_m, _cs: string, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : decodeQp(text.replace(/_/g, ' ')).toString('utf8'),
  );
}

function splitPart(raw: string): { headers: Map<string, string>; body: string } {
  const idx = raw.search(/\r?\n\r?\n/);
  const head = idx < 0 ? raw : raw.slice(0, idx);
  const body = idx < 0 ? '' : raw.slice(idx).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0) headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
  }
  return { headers, body };
}

function decodeBody(headers: Map<string, string>, body: string): string {
  const cte = (headers.get('content-transfer-encoding') ?? '').toLowerCase();
  if (cte === 'base64') return Buffer.from(body.replace(/\s/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') return decodeQp(body).toString('utf8');
  return body;
}

/** text/plain and text/html parts of a message (walks multipart/* recursively). */
function parts(headers: Map<string, string>, body: string, out: { text: string | null; html: string | null }): void {
  const ct = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(ct)?.[1];
  if (/^multipart\//i.test(ct) && boundary) {
    for (const chunk of body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break;
      const p = splitPart(chunk.replace(/^\r?\n/, ''));
      parts(p.headers, p.body, out);
    }
    return;
  }
  if (/^text\/html/i.test(ct)) out.html ??= decodeBody(headers, body);
  else if (/^text\/plain/i.test(ct)) out.text ??= decodeBody(headers, body);
}

export async function startSmtpCapture(): Promise<SmtpCapture> {
  const messages: CapturedMail[] = [];
  let waiters: { to: string; since: number; resolve: (m: CapturedMail) => void }[] = [];
  const matches = (m: CapturedMail, to: string, since: number) =>
    m.at >= since && m.to.some((t) => t.toLowerCase() === to.toLowerCase());
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const { headers, body } = splitPart(raw);
        const out: { text: string | null; html: string | null } = { text: null, html: null };
        parts(headers, body, out);
        const mail: CapturedMail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: decodeWords(headers.get('subject') ?? ''),
          headers,
          text: out.text ?? '',
          html: out.html,
          raw,
          at: Date.now(),
        };
        messages.push(mail);
        const ready = waiters.filter((w) => matches(mail, w.to, w.since));
        waiters = waiters.filter((w) => !ready.includes(w));
        for (const w of ready) w.resolve(mail);
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.server.address();
  const port = addr !== null && typeof addr === 'object' ? (addr satisfies AddressInfo).port : 0;
  return {
    host: '127.0.0.1',
    port,
    messages,
    waitFor(to, opts = {}) {
      const since = opts.since ?? 0;
      const found = messages.find((m) => matches(m, to, since));
      if (found) return Promise.resolve(found);
      const timeoutMs = opts.timeoutMs ?? 15_000;
      return new Promise((resolve, reject) => {
        const entry = {
          to,
          since,
          resolve: (m: CapturedMail) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== entry);
          reject(new Error(`no mail to ${to} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(entry);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
