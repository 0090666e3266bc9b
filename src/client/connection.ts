/**
 * A live collection's connection state, as a pure transition function (like electric's
 * shape-stream-state.ts): the wiring in live.ts reports what happened, this says what the badge shows.
 * Unit-tested without a network (test/live-collection.test.ts).
 */
import type { SubscribeError } from './subscribe';

/**
 * - connecting: loading the snapshot or opening the stream, until the stream's `ready`;
 * - live: every change that commits now arrives;
 * - reconnecting: the stream failed; the next try is at `retryAt` (ms since the epoch);
 * - offline: the browser says there is no network; retries when it is back;
 * - paused: the application (or a hidden tab) closed the stream; `resume()` catches up from the position;
 * - polling: the stream keeps failing while the server answers (a proxy buffering SSE): the snapshot is
 *   reloaded every so often, the next at `nextAt`, and the stream is still tried;
 * - closed: `close()`, or an answer that retrying will not change (`error`: 401, 403, 404, 400).
 */
export type ConnectionState =
  | { status: 'connecting' }
  | { status: 'live' }
  | { status: 'reconnecting'; retryAt: number; error?: SubscribeError }
  | { status: 'offline' }
  | { status: 'paused' }
  | { status: 'polling'; nextAt: number }
  | { status: 'closed'; error?: SubscribeError };

export type ConnectionStatus = ConnectionState['status'];

/** What the wiring reports. */
export type ConnectionInput =
  | { type: 'connect' }
  | { type: 'ready' }
  | { type: 'retry'; at: number; online: boolean; error?: SubscribeError }
  | { type: 'poll'; at: number }
  | { type: 'pause' }
  | { type: 'resume' }
  /** A tab that shares another tab's stream (`shareTab`) shows that tab's state. */
  | { type: 'mirror'; state: ConnectionState }
  | { type: 'fatal'; error: SubscribeError }
  | { type: 'close' };

export const INITIAL_STATE: ConnectionState = { status: 'connecting' };

/** The state after `input`. Closed is final; a paused collection ignores its old stream's late news. */
export function nextState(state: ConnectionState, input: ConnectionInput): ConnectionState {
  if (state.status === 'closed') return state;
  switch (input.type) {
    case 'close':
      return { status: 'closed' };
    case 'fatal':
      return { status: 'closed', error: input.error };
    case 'pause':
      return { status: 'paused' };
    case 'resume':
      return state.status === 'paused' ? { status: 'connecting' } : state;
  }
  if (state.status === 'paused') return state;
  switch (input.type) {
    case 'connect':
      // A retry after a failure still says reconnecting (or polling) until it is live: no flicker.
      return ['connecting', 'reconnecting', 'polling', 'offline'].includes(state.status) ? state : { status: 'connecting' };
    case 'ready':
      return state.status === 'live' ? state : { status: 'live' };
    case 'retry':
      // The stream ended (failed, or the server closed it): say when it is tried again.
      if (state.status === 'polling') return state;
      if (!input.online) return { status: 'offline' };
      return input.error
        ? { status: 'reconnecting', retryAt: input.at, error: input.error }
        : { status: 'reconnecting', retryAt: input.at };
    case 'poll':
      return { status: 'polling', nextAt: input.at };
    case 'mirror':
      if (input.state.status === 'closed' || input.state.status === 'paused') return state; // never forwarded
      return JSON.stringify(input.state) === JSON.stringify(state) ? state : input.state;
  }
}
