/**
 * Reading attribute values out of ldapts search entries without trusting their shape: names are
 * matched case-insensitively (DCs answer in schema case) and every value is checked for its type.
 */
import type { Entry } from 'ldapts';

function raw(entry: Entry, name: string): Entry[string] | undefined {
  const direct = entry[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const key of Object.keys(entry)) if (key.toLowerCase() === lower) return entry[key];
  return undefined;
}

/** All string values of an attribute (binary values are skipped); [] when absent. */
export function strings(entry: Entry, name: string): string[] {
  const v = raw(entry, name);
  if (v === undefined) return [];
  const list: unknown[] = Array.isArray(v) ? v : [v];
  return list.filter((x): x is string => typeof x === 'string');
}

/** The first string value, or undefined. */
export function str(entry: Entry, name: string): string | undefined {
  return strings(entry, name)[0];
}

/** An integer attribute as a JS number (undefined when absent or not an integer). */
export function int(entry: Entry, name: string): number | undefined {
  const s = str(entry, name);
  if (s === undefined || !/^-?\d{1,16}$/.test(s)) return undefined;
  return Number(s);
}

/** The first binary value (attributes named in explicitBufferAttributes). */
export function bytes(entry: Entry, name: string): Buffer | undefined {
  const v = raw(entry, name);
  if (v === undefined) return undefined;
  const list: unknown[] = Array.isArray(v) ? v : [v];
  const b = list[0];
  return Buffer.isBuffer(b) ? b : undefined;
}

/** All binary values of an attribute (attributes named in explicitBufferAttributes); [] when absent. */
export function buffers(entry: Entry, name: string): Buffer[] {
  const v = raw(entry, name);
  if (v === undefined) return [];
  const list: unknown[] = Array.isArray(v) ? v : [v];
  return list.filter((x): x is Buffer => Buffer.isBuffer(x));
}
