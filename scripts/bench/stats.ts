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
