/**
 * What the connection badge says for each state of live() (docs/pages.md, "The badge never lies"). Pure, so
 * it is unit-tested without a browser (test/pages-badge.test.ts).
 */
import type { ConnectionState } from '../../../client';

export interface Badge {
  /** The badge's and the body's `data-state` / `data-live` (the stylesheet greys stale data by it). */
  state: string;
  text: string;
}

/** Seconds as people read them: "30", or "0.4" below one. */
const seconds = (ms: number) => String(Math.round(ms / 1000) || ms / 1000);

/** The badge for `state`; `pollEveryMs` is the polling fallback's pace, `now` the current time (ms). */
export function badgeOf(state: ConnectionState, pollEveryMs: number, now: number): Badge {
  switch (state.status) {
    case 'connecting':
      return { state: 'connecting', text: 'connecting…' };
    case 'live':
      return { state: 'live', text: 'live' };
    case 'reconnecting': {
      const at = new Date(state.retryAt).toLocaleTimeString();
      return {
        state: 'reconnecting',
        text: `reconnecting: next try at ${at} (in ${Math.max(1, Math.ceil((state.retryAt - now) / 1000))} s)`,
      };
    }
    case 'offline':
      return { state: 'offline', text: 'offline: waiting for the network' };
    case 'paused':
      return { state: 'paused', text: 'paused while this tab is hidden' };
    case 'polling':
      return { state: 'polling', text: `live updates unavailable: refreshing every ${seconds(pollEveryMs)} s` };
    case 'closed':
      if (state.error?.status === 401) return { state: 'failed', text: 'signed out: open the page again with a sign-in link' };
      return { state: 'failed', text: `stopped: ${state.error?.message ?? 'closed'}` };
  }
}
