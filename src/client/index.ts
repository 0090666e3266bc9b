/**
 * pgfeed/client: subscribe to a pgfeed stream from Node or a browser. It needs
 * only fetch and eventsource-parser; the types come from the server's zod
 * schemas, but no schema code is loaded.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { ChangeEvent, ReadyData, ResetData } from '../events/schema';

export type { ChangeEvent, EntityEvent, Op, ReadyData, ResetData } from '../events/schema';

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

/** Why a subscription stopped or had to reconnect. */
export class SubscribeError extends Error {
  override name = 'SubscribeError';
  constructor(
    readonly type: 'http' | 'network' | 'protocol',
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
  /** Every failed (re)connect; a fatal one (401, 403, 400, 404) also ends the subscription. */
  onError?: (error: SubscribeError) => void;
  signal?: AbortSignal;
  /** Reconnect delay: min(maxMs, max(server retry, minMs) · 2^attempt), ±50 % jitter. */
  backoff?: { minMs?: number; maxMs?: number };
  fetch?: typeof fetch;
}

export interface Subscription {
  /** The id of the last event (or ready position) received: where the next reconnect resumes. */
  readonly lastEventId: string | undefined;
  /** Resolves when the subscription has stopped (aborted, closed or fatal error). */
  readonly done: Promise<void>;
  close(): void;
}

/**
 * Subscribes to a pgfeed stream with fetch, so the token travels in a header,
 * and reconnects with Last-Event-ID after any drop, with backoff and jitter:
 * the caller sees every event once, in commit order.
 */
export function subscribe(options: SubscribeOptions): Subscription {
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  if (options.signal?.aborted) controller.abort();
  let lastEventId = options.lastEventId;
  let serverRetry = 0;
  const doFetch = options.fetch ?? fetch;
  const minMs = options.backoff?.minMs ?? 250;
  const maxMs = options.backoff?.maxMs ?? 30_000;

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      controller.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });

  const handle = (msg: EventSourceMessage) => {
    const name = msg.event ?? 'message';
    if (name === 'ready') {
      const data = readyData(msg.data);
      if (data.lastEventId !== null) lastEventId = data.lastEventId;
      options.onReady?.(data);
      return;
    }
    if (name === 'reset') {
      options.onReset?.(resetData(msg.data));
      return;
    }
    const event = changeEvent(msg.data);
    lastEventId = event.id;
    options.onEvent(event);
  };

  async function connectOnce(): Promise<boolean> {
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (lastEventId !== undefined) headers['Last-Event-ID'] = lastEventId;
    const res = await doFetch(options.url, { headers, signal: controller.signal, cache: 'no-store' });
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      const retryAfter = Number(res.headers.get('retry-after'));
      if (retryAfter > 0) serverRetry = retryAfter * 1000;
      throw new SubscribeError('http', `HTTP ${res.status}: ${text.slice(0, 300)}`, res.status);
    }
    let live = false;
    let failure: unknown;
    const parser = createParser({
      onEvent: (msg) => {
        try {
          handle(msg);
          if (msg.event === 'ready') live = true;
        } catch (cause) {
          failure = new SubscribeError('protocol', `bad ${msg.event ?? 'message'} event`, undefined, { cause });
        }
      },
      onRetry: (ms) => (serverRetry = ms),
    });
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (failure) throw failure;
    }
    return live;
  }

  const done = (async () => {
    let attempt = 0;
    while (!controller.signal.aborted) {
      try {
        const wasLive = await connectOnce();
        if (wasLive) attempt = 0;
      } catch (error) {
        if (controller.signal.aborted) break;
        const err =
          error instanceof SubscribeError
            ? error
            : new SubscribeError('network', String((error as Error)?.message ?? error), undefined, { cause: error });
        options.onError?.(err);
        if (err.fatal) break;
      }
      if (controller.signal.aborted) break;
      const base = Math.min(maxMs, Math.max(serverRetry, minMs) * 2 ** attempt);
      attempt = Math.min(attempt + 1, 20);
      await wait(base * (0.5 + Math.random()));
    }
    options.signal?.removeEventListener('abort', abort);
  })();

  return {
    get lastEventId() {
      return lastEventId;
    },
    done,
    close: abort,
  };
}
