/**
 * SMTP mailer (nodemailer): implicit TLS (465), STARTTLS required (587, the default) or plain
 * (local relays only; warned about by config). The password comes from config (env or a file)
 * and is handed to nodemailer only; failures are logged with a redacted recipient.
 */
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Logger } from '@writeback/protocol';
import { MailError, assertRecipient, redactAddress, type Mailer } from './mailer.js';

export interface SmtpMailerOptions {
  host: string;
  port: number;
  /** tls: implicit TLS; starttls: upgrade required; none: plain text (only to a local relay). */
  security: 'tls' | 'starttls' | 'none';
  user?: string | undefined;
  password?: string | undefined;
  /** Path of a file holding the password (first line), instead of `password`. */
  passwordFile?: string | undefined;
  /** PEM file of a CA to trust for the SMTP server's certificate. */
  caFile?: string | undefined;
  /** Default true; false accepts any certificate (test servers). */
  rejectUnauthorized?: boolean | undefined;
  from: string;
  timeoutMs?: number | undefined;
}

export function createSmtpMailer(opts: SmtpMailerOptions, log?: Logger): Mailer {
  const pass = opts.passwordFile ? readFileSync(opts.passwordFile, 'utf8').split(/\r?\n/)[0] : opts.password;
  const timeout = opts.timeoutMs ?? 15_000;
  const transportOptions: SMTPTransport.Options = {
    host: opts.host,
    port: opts.port,
    secure: opts.security === 'tls',
    requireTLS: opts.security === 'starttls',
    ignoreTLS: opts.security === 'none',
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    tls: {
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      ...(opts.caFile ? { ca: readFileSync(opts.caFile) } : {}),
    },
    ...(opts.user ? { auth: { user: opts.user, pass: pass ?? '' } } : {}),
  };
  const transport = nodemailer.createTransport(transportOptions);
  return {
    kind: 'smtp',
    async send(msg) {
      assertRecipient(msg.to);
      try {
        await transport.sendMail({
          from: opts.from,
          to: msg.to,
          subject: msg.subject,
          text: msg.text,
          ...(msg.html ? { html: msg.html } : {}),
        });
        log?.info('mail sent', { to: redactAddress(msg.to), subject: msg.subject });
      } catch (err) {
        log?.warn('mail not sent', { to: redactAddress(msg.to), subject: msg.subject, err });
        throw new MailError('transport_failed', 'the SMTP server did not accept the message', { cause: err });
      }
    },
    async close() {
      transport.close();
    },
  };
}
