/**
 * The few BER pieces the OpenLDAP adapter encodes and decodes itself: the RFC 3062 Password Modify
 * request value and the ppolicy response control value. Kept free of ldapts so the encodings can be
 * read (and tested) against the RFCs on their own.
 */

/** Definite-length BER length octets (short form below 128, long form up to 4 bytes). */
export function encodeLength(length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > 0xffffffff) throw new RangeError('BER length out of range');
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value. */
export function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

/** A decoded element: its tag and where its value sits in the buffer. */
export interface BerElement {
  tag: number;
  start: number;
  end: number;
}

/**
 * Reads one element at `offset`; null when the bytes are truncated or malformed (indefinite
 * length, multi-byte tags, lengths past the end): untrusted input never throws from here.
 */
export function readElement(buf: Buffer, offset: number, limit = buf.length): BerElement | null {
  if (offset + 2 > limit) return null;
  const tag = buf[offset];
  if (tag === undefined || (tag & 0x1f) === 0x1f) return null;
  let first = buf[offset + 1];
  if (first === undefined) return null;
  let pos = offset + 2;
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4 || pos + n > limit) return null;
    length = 0;
    for (let i = 0; i < n; i++) {
      first = buf[pos + i];
      if (first === undefined) return null;
      length = length * 256 + first;
    }
    pos += n;
  }
  if (pos + length > limit) return null;
  return { tag, start: pos, end: pos + length };
}

/** Non-negative integer content (INTEGER / ENUMERATED, up to 6 bytes); null when negative or too long. */
export function readUnsigned(buf: Buffer, el: BerElement): number | null {
  const len = el.end - el.start;
  if (len < 1 || len > 6) return null;
  if ((buf[el.start] ?? 0) & 0x80) return null;
  let v = 0;
  for (let i = el.start; i < el.end; i++) v = v * 256 + (buf[i] ?? 0);
  return v;
}
