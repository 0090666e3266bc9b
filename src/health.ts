import type { Capture } from './capture';
import type { Listener } from './listener/listener';

/** Failed capture attempts in a row (a busy slot is not one) from which the instance reports not ready. */
export const CAPTURE_FAILURES_NOT_READY = 3;

/** Whether this instance can deliver what commits, and if not, why: what /readyz answers. */
export interface Readiness {
  ready: boolean;
  /** One line an operator can act on, while not ready. */
  reason?: string;
}

/**
 * Ready while the listener is LISTENing and caught up, and capture (wal mode)
 * is not failing again and again: a capturer that cannot append delivers
 * nothing new to any instance, however live their listeners are.
 */
export function readiness(listener: Listener, capture: Capture | undefined): Readiness {
  if (!listener.ready) {
    const why = listener.reason;
    return { ready: false, reason: `listener ${listener.state}${why ? `: ${why}` : ''}` };
  }
  const status = capture?.status();
  if (status?.failures !== undefined && status.failures >= CAPTURE_FAILURES_NOT_READY) {
    return {
      ready: false,
      reason: `capture failing: ${status.failures} attempts in a row since ${status.failingSince ?? '?'}: ${status.error ?? '?'}`,
    };
  }
  return { ready: true };
}
