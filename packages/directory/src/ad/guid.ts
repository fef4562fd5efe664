/**
 * objectGUID: the AD anchor. On the wire it is 16 bytes; people and the Windows tools write it as
 * the standard GUID string, whose first three groups are the little-endian fields of those bytes.
 */

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** 16 objectGUID bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower case). */
export function guidToString(bytes: Buffer): string {
  if (bytes.length !== 16) throw new RangeError('objectGUID must be 16 bytes');
  const hex = bytes.toString('hex');
  const swap = (s: string): string => Buffer.from(s, 'hex').reverse().toString('hex');
  return `${swap(hex.slice(0, 8))}-${swap(hex.slice(8, 12))}-${swap(hex.slice(12, 16))}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** GUID string (braces optional, any case) → the 16 objectGUID bytes; null when not a GUID. */
export function guidFromString(text: string): Buffer | null {
  const m = GUID_RE.exec(text.trim());
  if (!m) return null;
  const [, a = '', b = '', c = '', d = '', e = ''] = m;
  const swap = (s: string): string => Buffer.from(s, 'hex').reverse().toString('hex');
  return Buffer.from(`${swap(a)}${swap(b)}${swap(c)}${d}${e}`, 'hex');
}
