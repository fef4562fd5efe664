/** Percentiles and the report lines every benchmark prints. */

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
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), mean, max: s[s.length - 1] ?? Number.NaN };
}

export const ms = (x: number): string => x.toFixed(2);

export function row(label: string, s: Summary): string {
  return `${label.padEnd(34)} n=${String(s.n).padStart(5)}  p50=${ms(s.p50).padStart(7)}  p95=${ms(s.p95).padStart(7)}  p99=${ms(s.p99).padStart(7)}  mean=${ms(s.mean).padStart(7)}  max=${ms(s.max).padStart(7)} ms`;
}

/** Run `fn(i)` for i in [0, total) with `concurrency` workers; returns elapsed ms and per-call latencies. */
export async function drive(total: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<{ elapsedMs: number; latencies: number[] }> {
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
