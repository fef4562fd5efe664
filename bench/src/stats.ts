/** Percentiles and the report lines every benchmark prints. */
import { readFileSync } from 'node:fs';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] ?? Number.NaN;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    mean,
    max: s[s.length - 1] ?? Number.NaN,
  };
}

export const ms = (x: number): string => x.toFixed(2);

export function row(label: string, s: Summary): string {
  return `${label.padEnd(34)} n=${String(s.n).padStart(5)}  p50=${ms(s.p50).padStart(7)}  p95=${ms(s.p95).padStart(7)}  p99=${ms(s.p99).padStart(7)}  mean=${ms(s.mean).padStart(7)}  max=${ms(s.max).padStart(7)} ms`;
}

/** Elapsed wall time and per-call latencies of one run. */
export interface Drive {
  elapsedMs: number;
  latencies: number[];
}

/** Run `fn(i)` for i in [0, total) with `concurrency` workers; returns elapsed ms and per-call latencies. */
export async function drive(total: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<Drive> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (true) {
        const i = next++;
        if (i >= total) return;
        const s = performance.now();
        await fn(i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { elapsedMs: performance.now() - t0, latencies };
}

/** Clock ticks per second of /proc CPU times (USER_HZ; 100 on every Linux build in use). */
const USER_HZ = 100;

/**
 * CPU time (user + system, all threads) another process has used so far, in ms, from
 * /proc/<pid>/stat; 10 ms ticks, so only sums over many requests mean anything. NaN off Linux.
 */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may hold spaces): utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}
