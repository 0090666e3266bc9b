import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** One parsed SSE message, with `json` when its data is JSON. */
export interface Frame {
  id: string | undefined;
  event: string;
  data: string;
  json: any;
}

export interface OpenStream {
  status: number;
  headers: Headers;
  /** Every message so far, in arrival order. */
  frames: Frame[];
  /** Change events only (not ready/reset). */
  events(): Frame[];
  /** Raw text received (to see comments such as `: ping`). */
  text(): string;
  /** Resolves with the first frame (from `from` on) matching `pred`; rejects after `timeoutMs` or when the stream ends. */
  waitFor(pred: (f: Frame) => boolean, opts?: { timeoutMs?: number; from?: number }): Promise<Frame>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens a stream with fetch and parses it with eventsource-parser; non-2xx answers resolve with the body in `text()`. */
export async function openStream(
  url: string,
  opts: { token?: string; lastEventId?: string; headers?: Record<string, string> } = {},
): Promise<OpenStream> {
  const controller = new AbortController();
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.lastEventId !== undefined) headers['Last-Event-ID'] = opts.lastEventId;
  const res = await fetch(url, { headers, signal: controller.signal });
  const frames: Frame[] = [];
  let raw = '';
  const waiters = new Set<() => void>();
  let finished = false;
  const notify = () => waiters.forEach((w) => w());
  const parser = createParser({
    onEvent: (m: EventSourceMessage) => {
      let json: unknown;
      try {
        json = JSON.parse(m.data);
      } catch {
        json = undefined;
      }
      frames.push({ id: m.id, event: m.event ?? 'message', data: m.data, json });
      notify();
    },
  });
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const text = decoder.decode(chunk, { stream: true });
        raw += text;
        parser.feed(text);
        notify();
      }
    } catch {
      // aborted or reset: the stream is over either way
    } finally {
      finished = true;
      notify();
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    frames,
    events: () => frames.filter((f) => f.event !== 'ready' && f.event !== 'reset'),
    text: () => raw,
    ended,
    close: () => controller.abort(),
    waitFor(pred, { timeoutMs = 10_000, from = 0 } = {}) {
      return new Promise<Frame>((resolve, reject) => {
        // Frames only append: each check looks at the new ones (and the last, for predicates on the whole stream),
        // so waiting through 50 000 events stays linear.
        let scanned = from;
        const check = () => {
          let hit: Frame | undefined;
          for (let i = Math.max(from, Math.min(scanned, frames.length - 1)); i < frames.length && !hit; i++) {
            if (pred(frames[i]!)) hit = frames[i];
          }
          scanned = frames.length;
          if (hit) return done(() => resolve(hit));
          if (finished)
            done(() =>
              reject(new Error(`stream ended before the awaited frame; got ${JSON.stringify(frames.map((f) => f.event))}`)),
            );
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(new Error(`timed out after ${timeoutMs} ms; got ${JSON.stringify(frames.map((f) => [f.event, f.id]))}`)),
            ),
          timeoutMs,
        );
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Waits until `n` change events have arrived (from index `from` of events()). */
export async function waitForEvents(stream: OpenStream, n: number, timeoutMs = 10_000): Promise<Frame[]> {
  await stream.waitFor(() => stream.events().length >= n, { timeoutMs });
  return stream.events();
}

/** Opens a stream that must be accepted (200) and resolves once it is live (`ready`). */
export async function openLiveStream(
  url: string,
  opts: { token?: string; lastEventId?: string; headers?: Record<string, string> } = {},
): Promise<OpenStream & { ready: Frame }> {
  const s = await openStream(url, opts);
  if (s.status !== 200) throw new Error(`stream ${url} answered ${s.status}: ${s.text()}`);
  const ready = await s.waitFor((f) => f.event === 'ready');
  return Object.assign(s, { ready });
}

/**
 * A client that reads the response head and then nothing more: its socket
 * fills and stays full, as a stuck tab or a dead proxy leaves it. It cannot
 * see the server close it (it reads nothing); watch the server side.
 */
export async function openStalledStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; destroy(): void }> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, resolve);
    req.on('error', reject);
  });
  res.pause();
  res.on('error', () => {}); // the server cutting it off is expected
  return { status: res.statusCode ?? 0, destroy: () => res.destroy() };
}
