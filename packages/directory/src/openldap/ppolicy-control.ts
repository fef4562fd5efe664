/**
 * The password policy control (draft-behera-ldap-password-policy, OID 1.3.6.1.4.1.42.2.27.8.5.1)
 * as ldapts can carry it. ldapts has no class for it; it parses an unknown RESPONSE control into
 * the REQUEST control instance with the same OID (notes, gotcha 1), so each request gets a fresh
 * instance and the caller reads `response` after the call returns or throws.
 *
 *   PasswordPolicyResponseValue ::= SEQUENCE {
 *     warning [0] CHOICE { timeBeforeExpiration [0] INTEGER, graceAuthNsRemaining [1] INTEGER } OPTIONAL,
 *     error   [1] ENUMERATED { passwordExpired(0), accountLocked(1), changeAfterReset(2),
 *                  passwordModNotAllowed(3), mustSupplyOldPassword(4), insufficientPasswordQuality(5),
 *                  passwordTooShort(6), passwordTooYoung(7), passwordInHistory(8), passwordTooLong(9) } OPTIONAL }
 */
import { Control, type BerReader } from 'ldapts';
import type { PolicyReason } from '@writeback/protocol';
import { readElement, readUnsigned } from './ber.js';

export const PPOLICY_CONTROL_OID = '1.3.6.1.4.1.42.2.27.8.5.1';

export const PPOLICY_ERRORS = [
  'passwordExpired',
  'accountLocked',
  'changeAfterReset',
  'passwordModNotAllowed',
  'mustSupplyOldPassword',
  'insufficientPasswordQuality',
  'passwordTooShort',
  'passwordTooYoung',
  'passwordInHistory',
  'passwordTooLong',
] as const;
export type PpolicyError = (typeof PPOLICY_ERRORS)[number];

/** What the server said in its response control. Empty object: control present, nothing to say. */
export interface PasswordPolicyResponse {
  error?: PpolicyError | 'unknown';
  timeBeforeExpiration?: number;
  graceAuthNsRemaining?: number;
  /** The value could not be decoded (kept, so callers can log it; never trusted further). */
  malformed?: boolean;
}

/** Decodes the response control value; never throws on untrusted bytes. */
export function decodePasswordPolicyResponse(value: Buffer): PasswordPolicyResponse {
  if (value.length === 0) return {};
  const seq = readElement(value, 0);
  if (seq?.tag !== 0x30) return { malformed: true };
  const out: PasswordPolicyResponse = {};
  let pos = seq.start;
  while (pos < seq.end) {
    const el = readElement(value, pos, seq.end);
    if (!el) return { ...out, malformed: true };
    if (el.tag === 0xa0) {
      const w = readElement(value, el.start, el.end);
      const n = w ? readUnsigned(value, w) : null;
      if (!w || n === null) return { ...out, malformed: true };
      if (w.tag === 0x80) out.timeBeforeExpiration = n;
      else if (w.tag === 0x81) out.graceAuthNsRemaining = n;
    } else if (el.tag === 0x81) {
      const n = readUnsigned(value, el);
      if (n === null) return { ...out, malformed: true };
      out.error = PPOLICY_ERRORS[n] ?? 'unknown';
    }
    pos = el.end;
  }
  return out;
}

/**
 * Request control (no value) whose `response` is filled by ldapts when the server answers with
 * the control. Non-critical: a server without the overlay still does the operation, and the
 * adapter then reports reasons as `unspecified` (the doctor flags the missing overlay).
 */
export class PasswordPolicyControl extends Control {
  /** Set once the server's response control has been parsed; null: the server sent none. */
  response: PasswordPolicyResponse | null = null;

  constructor() {
    super(PPOLICY_CONTROL_OID, { critical: false });
  }

  protected override parseControl(reader: BerReader): void {
    this.response = decodePasswordPolicyResponse(reader.buffer);
  }
}

/** Policy reasons for a ppolicy error on a password write; null when the error is not a policy one. */
export function reasonsForPpolicyError(error: PasswordPolicyResponse['error']): PolicyReason[] | null {
  switch (error) {
    case 'passwordTooShort':
      return ['too_short'];
    case 'passwordTooLong':
      return ['too_long'];
    case 'passwordTooYoung':
      return ['min_age'];
    case 'passwordInHistory':
      return ['history'];
    // slapd's built-in check only measures length; a pwdCheckModule rejection also lands here.
    case 'insufficientPasswordQuality':
      return ['complexity'];
    default:
      return null;
  }
}
