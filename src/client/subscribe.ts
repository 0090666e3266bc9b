/**
 * subscribe(): one pgfeed stream over fetch (so the token travels in a header), resumed with Last-Event-ID
 * after any drop, with backoff and jitter: the caller sees every event once, in commit order.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { ChangeEvent, ReadyData, ResetData } from '../events/schema';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The frames' data, checked for the fields the client relies on (the server validated the rest). */
function parseData<T>(text: string, what: string, valid: (v: Record<string, unknown>) => boolean): T {
  const value: unknown = JSON.parse(text);
  if (!isObject(value) || !valid(value)) throw new TypeError(`malformed ${what} data`);
  return value as T;
}
const readyData = (text: string) =>
  parseData<ReadyData>(
    text,
    'ready',
    (v) => (v.lastEventId === null || typeof v.lastEventId === 'string') && typeof v.replayed === 'number',
  );
const resetData = (text: string) => parseData<ResetData>(text, 'reset', (v) => typeof v.reason === 'string');
const changeEvent = (text: string) =>
  parseData<ChangeEvent>(
    text,
    'event',
    (v) => typeof v.id === 'string' && typeof v.type === 'string' && typeof v.entity === 'string' && isObject(v.row),
  );

/**
 * Why a subscription stopped or had to reconnect: `http` (an answer other than a stream), `network`,
 * `protocol` (a frame the client cannot read, or one larger than `maxMessageBytes`), or `application` (the
 * application's own callback threw: the stream goes on).
 */
export class SubscribeError extends Error {
  override name = 'SubscribeError';
  constructor(
    readonly type: 'http' | 'network' | 'protocol' | 'application',
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** 4xx other than 408/429 will not get better by retrying. */
  get fatal(): boolean {
    return (
      this.type === 'http' &&
      this.status !== undefined &&
      this.status >= 400 &&
      this.status < 500 &&
      ![408, 429].includes(this.status)
    );
  }
}

export interface SubscribeOptions {
  /** A stream URL, e.g. `http://localhost:8080/events/company/acme?entities=invoice`. */
  url: string;
  /** Sent as `Authorization: Bearer`; a function is called before every (re)connect. */
  token?: string | (() => string | Promise<string>);
  /** Resume after this event id. */
  lastEventId?: string;
  onEvent: (event: ChangeEvent) => void;
  /** The stream is live; `data.lastEventId` is where a resume would start. */
  onReady?: (data: ReadyData) => void;
  /** History could not be replayed from `lastEventId`: refetch your snapshot. */
  onReset?: (data: ResetData) => void;
  /**
   * Every failed (re)connect, and every exception thrown by the callbacks above (type `application`: the
   * stream goes on). A fatal one (401, 403, 400, 404) also ends the subscription.
   */
  onError?: (error: SubscribeError) => void;
  /** The next (re)connect is in `delayMs` (after a failure, or after the server ended the stream). */
  onRetry?: (delayMs: number) => void;
  signal?: AbortSignal;
  /** Reconnect delay: min(maxMs, max(server retry, minMs) · 2^attempt), ±50 % jitter. */
  backoff?: { minMs?: number; maxMs?: number };
  /**
   * Runs before every (re)connect, inside the reconnect loop (its failures back off and retry like the
   * stream's; a fatal SubscribeError ends the subscription). A string it returns is the position to connect
   * from: `live()` loads its snapshot here and starts at the snapshot's position.
   */
  prepare?: () => Promise<string | undefined>;
  /** The largest frame the client buffers (default 64 MiB of text); a larger one is a protocol error. */
  maxMessageBytes?: number;
  fetch?: typeof fetch;
}

export interface Subscription {
  /** The id of the last event (or ready position) received: where the next reconnect resumes. */
  readonly lastEventId: string | undefined;
  /** Resolves when the subscription has stopped (aborted, closed or fatal error). */
  readonly done: Promise<void>;
  /** Drops the current connection and connects again at once (after `prepare`), without backoff. */
  reconnect(): void;
  close(): void;
}

/** The wait before retry number `attempt` (from 0): min(maxMs, max(serverRetry, minMs) · 2^attempt), ±50 % jitter. */
export function backoffDelay(attempt: number, backoff: SubscribeOptions['backoff'] = {}, serverRetry = 0): number {
  const { minMs = 250, maxMs = 30_000 } = backoff;
  return Math.min(maxMs, Math.max(serverRetry, minMs) * 2 ** attempt) * (0.5 + Math.random());
}

/**
 * Waits `ms`, or less if `signal` aborts or `wake()` is called. The timer and its abort listener go together:
 * whichever ends the wait removes the other, so 50 reconnects leave no listener behind on the signal.
 */
export function sleep(ms: number, signal: AbortSignal): { done: Promise<void>; wake: () => void } {
  let wake!: () => void;
  const done = new Promise<void>((resolve) => {
    wake = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal.addEventListener('abort', wake, { once: true });
  });
  return { done, wake };
}

/** A frame's data could not be read: the connection is dropped and resumed from the last good position. */
class FrameError extends Error {}

/**
 * Subscribes to a pgfeed stream with fetch, so the token travels in a header,
 * and reconnects with Last-Event-ID after any drop, with backoff and jitter:
 * the caller sees every event once, in commit order.
 */
export function subscribe(options: SubscribeOptions): Subscription {
  const controller = new AbortController();
  const { signal } = controller;
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  if (options.signal?.aborted) controller.abort();
  let lastEventId = options.lastEventId;
  let serverRetry = 0;
  const doFetch = options.fetch ?? fetch;

  /** Ends the backoff wait in progress at once (reconnect()). */
  let wake: (() => void) | undefined;
  const wait = async (ms: number) => {
    const sleeping = sleep(ms, signal);
    wake = sleeping.wake;
    await sleeping.done;
    wake = undefined;
  };

  /** Runs one of the application's callbacks: what it throws is its own failure, reported, and the stream goes on. */
  const call = <T>(what: string, fn: ((arg: T) => void) | undefined, arg: T) => {
    try {
      fn?.(arg);
    } catch (cause) {
      try {
        options.onError?.(new SubscribeError('application', `the application's ${what} threw`, undefined, { cause }));
      } catch {
        // onError itself threw: nothing left to tell
      }
    }
  };

  /** Reads a frame's data; a malformed one stops the connection (FrameError), never the application's code. */
  const read = <T>(parse: (text: string) => T, msg: EventSourceMessage): T => {
    try {
      return parse(msg.data);
    } catch (cause) {
      throw new FrameError(`bad ${msg.event ?? 'message'} event`, { cause });
    }
  };

  // The position is the SSE `id:` field, as EventSource keeps it: a `reset` frame carrying an id moves it
  // too, so a reconnect does not replay the reset (and the application does not refetch twice).
  const handle = (msg: EventSourceMessage) => {
    const name = msg.event ?? 'message';
    if (name === 'ready') {
      const data = read(readyData, msg);
      if (data.lastEventId !== null) lastEventId = data.lastEventId;
      call('onReady', options.onReady, data);
      return;
    }
    if (name === 'reset') {
      const data = read(resetData, msg);
      if (msg.id) lastEventId = msg.id;
      call('onReset', options.onReset, data);
      return;
    }
    const event = read(changeEvent, msg);
    if (msg.id) lastEventId = msg.id;
    call('onEvent', options.onEvent, event);
  };

  let connection = new AbortController();
  let restarting = false;

  /**
   * One connection, under its own AbortController (reconnect() aborts it alone). It follows the
   * subscription's signal through one listener that it removes when it ends, so nothing accumulates on the
   * long-lived signal however often it reconnects.
   */
  async function connectOnce(): Promise<boolean> {
    const own = new AbortController();
    connection = own;
    restarting = false;
    const follow = () => own.abort();
    signal.addEventListener('abort', follow, { once: true });
    try {
      return await streamOnce(own.signal);
    } finally {
      signal.removeEventListener('abort', follow);
    }
  }

  async function streamOnce(connectionSignal: AbortSignal): Promise<boolean> {
    const from = await options.prepare?.();
    if (from !== undefined) lastEventId = from;
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (lastEventId !== undefined) headers['Last-Event-ID'] = lastEventId;
    const res = await doFetch(options.url, { headers, signal: connectionSignal, cache: 'no-store' });
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      const retryAfter = Number(res.headers.get('retry-after'));
      if (retryAfter > 0) serverRetry = retryAfter * 1000;
      throw new SubscribeError('http', `HTTP ${res.status}: ${text.slice(0, 300)}`, res.status);
    }
    let live = false;
    let failure: unknown;
    const parser = createParser({
      maxBufferSize: options.maxMessageBytes ?? 64 * 1024 * 1024,
      onEvent: (msg) => {
        if (failure) return;
        try {
          handle(msg);
          if (msg.event === 'ready') live = true;
        } catch (cause) {
          failure = new SubscribeError('protocol', (cause as Error).message, undefined, { cause: (cause as Error).cause });
        }
      },
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded')
          failure ??= new SubscribeError('protocol', error.message, undefined, { cause: error });
      },
      onRetry: (ms) => (serverRetry = ms),
    });
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        if (failure) throw failure;
      }
    } finally {
      // Cancelling the body lets fetch release its socket now instead of when the server gives up on it.
      await reader.cancel().catch(() => {});
    }
    return live;
  }

  const done = (async () => {
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const wasLive = await connectOnce();
        if (wasLive) attempt = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (restarting) {
          restarting = false;
          continue;
        }
        const err =
          error instanceof SubscribeError
            ? error
            : new SubscribeError('network', String((error as Error)?.message ?? error), undefined, { cause: error });
        call('onError', options.onError, err);
        if (err.fatal) break;
      }
      if (signal.aborted) break;
      const delay = backoffDelay(attempt, options.backoff, serverRetry);
      attempt = Math.min(attempt + 1, 20);
      call('onRetry', options.onRetry, delay);
      await wait(delay);
    }
    options.signal?.removeEventListener('abort', abort);
  })();

  return {
    get lastEventId() {
      return lastEventId;
    },
    done,
    reconnect() {
      restarting = true;
      connection.abort();
      wake?.();
    },
    close: abort,
  };
}
