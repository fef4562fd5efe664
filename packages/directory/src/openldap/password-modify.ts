/**
 * The RFC 3062 Password Modify extended request value, encoded here because ldapts only takes an
 * opaque Buffer for `exop()`:
 *
 *   PasswdModifyRequestValue ::= SEQUENCE {
 *     userIdentity [0] OCTET STRING OPTIONAL,
 *     oldPasswd    [1] OCTET STRING OPTIONAL,
 *     newPasswd    [2] OCTET STRING OPTIONAL }
 *
 * newPasswd is always sent: without it slapd GENERATES a password and sets it, which would leave
 * the person with a password nobody knows.
 */
import { tlv } from './ber.js';

export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

export interface PasswordModifyRequest {
  /** DN of the entry to change; omitted: the bound identity. */
  userIdentity?: string;
  oldPassword?: string;
  newPassword: string;
}

/**
 * Encodes the request value. The returned Buffer holds passwords: it serialises as "[redacted]"
 * (ldapts' debug log JSON-stringifies every request) and should be wiped with `wipe()` once sent.
 */
export function encodePasswordModifyRequest(req: PasswordModifyRequest): Buffer {
  const parts: Buffer[] = [];
  if (req.userIdentity !== undefined) parts.push(tlv(0x80, Buffer.from(req.userIdentity, 'utf8')));
  if (req.oldPassword !== undefined) parts.push(tlv(0x81, Buffer.from(req.oldPassword, 'utf8')));
  parts.push(tlv(0x82, Buffer.from(req.newPassword, 'utf8')));
  const body = Buffer.concat(parts);
  const value = tlv(0x30, body);
  for (const p of parts) p.fill(0);
  body.fill(0);
  Object.defineProperty(value, 'toJSON', { value: () => '[redacted]', enumerable: false });
  return value;
}

/** Overwrites a buffer that held a secret (best effort: JS strings cannot be wiped). */
export function wipe(buf: Buffer): void {
  buf.fill(0);
}
