/**
 * AD's two time encodings: FILETIME (100-ns ticks since 1601-01-01 UTC, e.g. pwdLastSet,
 * lockoutTime) and negative 100-ns intervals (domain and PSO durations such as maxPwdAge).
 */

const TICKS_PER_MS = 10_000n;
const EPOCH_DIFF_MS = 11_644_473_600_000n;
/** The "never" value of durations and of accountExpires. */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** FILETIME string → epoch ms; null for 0 / never / unparsable. */
export function filetimeToMs(value: string | undefined): number | null {
  const t = toBig(value);
  if (t === null || t <= 0n || t === INT64_MAX) return null;
  return Number(t / TICKS_PER_MS - EPOCH_DIFF_MS);
}

/** Duration attribute (negative 100-ns intervals) → seconds; 0 for "none" / "never" / unparsable. */
export function intervalToSeconds(value: string | undefined): number {
  const t = toBig(value);
  if (t === null || t === 0n || t === INT64_MIN) return 0;
  const abs = t < 0n ? -t : t;
  return Number(abs / 10_000_000n);
}

/** rootDSE currentTime (GeneralizedTime `YYYYMMDDHHMMSS.0Z`) → epoch ms; null when unparsable. */
export function generalizedTimeToMs(value: string | undefined): number | null {
  const m = value ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(value) : null;
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  return Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0);
}

function toBig(value: string | undefined): bigint | null {
  if (value === undefined || !/^-?\d{1,20}$/.test(value)) return null;
  return BigInt(value);
}
