/**
 * What a server's clients feel while it works: the event loop's delay, from
 * node:perf_hooks monitorEventLoopDelay (a timer every RESOLUTION_MS; a turn
 * that runs long shows as that much delay). Started and read by the stall
 * scenario inside the server's process (server-process.ts).
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** The delay figures of one measured period, milliseconds. */
export interface LoopDelay {
  /** The longest stall: the turn that held the loop longest. */
  maxMs: number;
  p99Ms: number;
  p50Ms: number;
  /** Samples taken (one per RESOLUTION_MS of loop time, fewer while it stalls). */
  samples: number;
}

const RESOLUTION_MS = 5;

let histogram: IntervalHistogram | undefined;

/** Starts measuring (again, from zero). */
export function startProbe(): void {
  histogram?.disable();
  histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
}

/** Stops measuring and returns what was seen since startProbe(). */
export function stopProbe(): LoopDelay {
  const h = histogram;
  histogram = undefined;
  if (!h) return { maxMs: NaN, p99Ms: NaN, p50Ms: NaN, samples: 0 };
  h.disable();
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  return { maxMs: ms(h.max), p99Ms: ms(h.percentile(99)), p50Ms: ms(h.percentile(50)), samples: h.count };
}
