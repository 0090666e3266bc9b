/** Latency figures, shared by the client pools and the writers scenario. */
export interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** count, p50, p99 and max of `values` (milliseconds), to 0.1 ms. */
export function stats(values: number[]): LatencyStats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const round = (v: number) => Math.round(v * 10) / 10; // 0.1 ms: finer than the clock deserves
  return { count: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted.at(-1) ?? NaN) };
}

/** The 0th, 1st, …, 100th percentile of `values` (milliseconds, to 0.1 ms): a latency distribution to draw. */
export function percentiles(values: number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  return Array.from({ length: 101 }, (_, q) => {
    const v = sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))]!;
    return Math.round(v * 10) / 10;
  });
}
