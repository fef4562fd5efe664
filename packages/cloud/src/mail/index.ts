/** Mail and SMS: interfaces, the SMTP mailer, the in-memory development mailer and SMS provider. */
import type { Logger } from '@writeback/protocol';
import type { CloudConfig } from '../config.js';
import type { Mailer, SmsProvider } from './mailer.js';
import { createConsoleSmsProvider, createMemoryMailer } from './memory.js';
import { createSmtpMailer } from './smtp.js';

export * from './mailer.js';
export * from './memory.js';
export * from './smtp.js';

/** The mailer the configuration asks for. */
export function createMailerFromConfig(config: CloudConfig, log?: Logger, now?: () => number): Mailer {
  const m = config.mail;
  if (m.transport === 'smtp' && m.smtp) return createSmtpMailer({ ...m.smtp, from: m.from }, log);
  return createMemoryMailer({ ...(log ? { log } : {}), ...(now ? { now } : {}) });
}

export function createSmsFromConfig(_config: CloudConfig, log?: Logger, now?: () => number): SmsProvider {
  return createConsoleSmsProvider({ ...(log ? { log } : {}), ...(now ? { now } : {}) });
}
