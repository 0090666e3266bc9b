import { performance } from 'node:perf_hooks';

/**
 * Wall-clock milliseconds with sub-millisecond resolution. The parent stamps
 * commits and the pool processes stamp receipts with this same expression;
 * on one machine both read the same system clock.
 */
export const now = (): number => performance.timeOrigin + performance.now();
