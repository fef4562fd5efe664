/**
 * Outgoing mail and SMS behind small interfaces, so flows depend on "send this" and not on a
 * transport. Message bodies carry one-time codes and must never reach a log: loggers here only
 * ever see a redacted address and the subject.
 */

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  /** Which implementation this is (shown by `doctor`-like pages and logs). */
  readonly kind: 'smtp' | 'memory';
  /** Resolves once the transport accepted the message; rejects with MailError otherwise. */
  send(msg: MailMessage): Promise<void>;
  close(): Promise<void>;
}

export interface SmsMessage {
  to: string;
  text: string;
}

export interface SmsProvider {
  readonly kind: string;
  send(msg: SmsMessage): Promise<void>;
}

export type MailErrorCode = 'invalid_recipient' | 'transport_failed';

export class MailError extends Error {
  override readonly name = 'MailError';
  readonly code: MailErrorCode;
  constructor(code: MailErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** `alice@example.com` → `a***@example.com`; a phone number keeps its last two digits. For logs. */
export function redactAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at > 0) return `${address.slice(0, 1)}***${address.slice(at)}`;
  const digits = address.replace(/\D/g, '');
  return digits.length > 2 ? `***${digits.slice(-2)}` : '***';
}

const EMAIL = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/;
/** A single plain address (no display name, no list, no header injection). */
export const isPlainEmail = (v: string): boolean => v.length <= 254 && EMAIL.test(v);

export function assertRecipient(to: string): void {
  if (!isPlainEmail(to)) throw new MailError('invalid_recipient', 'recipient is not a single plain e-mail address');
}
