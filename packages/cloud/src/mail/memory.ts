/**
 * Development mailer and SMS provider: messages stay in this process (the newest `keep`), readable
 * by tests and the demo; the log gets one line per message with a redacted recipient and the
 * subject, never the body (which holds codes).
 */
import type { Logger } from '@writeback/protocol';
import {
  assertRecipient,
  redactAddress,
  type MailMessage,
  type Mailer,
  type SmsMessage,
  type SmsProvider,
} from './mailer.js';

export interface SentMail extends MailMessage {
  at: number;
}

export interface MemoryMailer extends Mailer {
  readonly kind: 'memory';
  /** Messages sent, oldest first. */
  readonly messages: readonly SentMail[];
  /** Resolves with the next (or an already sent, unread) message to `to`. */
  waitFor(to: string, opts?: { timeoutMs?: number; since?: number }): Promise<SentMail>;
}

type Waiter = { to: string; since: number; resolve: (m: SentMail) => void };

export function createMemoryMailer(opts: { log?: Logger; now?: () => number; keep?: number } = {}): MemoryMailer {
  const messages: SentMail[] = [];
  const keep = opts.keep ?? 200;
  const now = opts.now ?? Date.now;
  let waiters: Waiter[] = [];
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  return {
    kind: 'memory',
    messages,
    async send(msg) {
      assertRecipient(msg.to);
      const sent: SentMail = { ...msg, at: now() };
      messages.push(sent);
      if (messages.length > keep) messages.splice(0, messages.length - keep);
      opts.log?.info('mail sent (kept in memory)', { to: redactAddress(msg.to), subject: msg.subject });
      const ready = waiters.filter((w) => same(w.to, msg.to) && sent.at >= w.since);
      waiters = waiters.filter((w) => !ready.includes(w));
      for (const w of ready) w.resolve(sent);
    },
    waitFor(to, o = {}) {
      const since = o.since ?? Number.NEGATIVE_INFINITY;
      const found = [...messages].reverse().find((m) => same(m.to, to) && m.at >= since);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w: Waiter = {
          to,
          since,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          reject(new Error(`no mail to ${redactAddress(to)} within ${o.timeoutMs ?? 10_000} ms`));
        }, o.timeoutMs ?? 10_000);
        waiters.push(w);
      });
    },
    async close() {},
  };
}

export interface MemorySmsProvider extends SmsProvider {
  readonly kind: 'console';
  readonly messages: readonly (SmsMessage & { at: number })[];
}

/**
 * The development SMS provider: keeps messages in memory and logs that one was sent (redacted
 * number, no text). Real providers implement SmsProvider the same way.
 */
export function createConsoleSmsProvider(
  opts: { log?: Logger; now?: () => number; keep?: number } = {},
): MemorySmsProvider {
  const messages: (SmsMessage & { at: number })[] = [];
  const keep = opts.keep ?? 200;
  return {
    kind: 'console',
    messages,
    async send(msg) {
      messages.push({ ...msg, at: (opts.now ?? Date.now)() });
      if (messages.length > keep) messages.splice(0, messages.length - keep);
      opts.log?.info('sms sent (development provider, kept in memory)', { to: redactAddress(msg.to) });
    },
  };
}
