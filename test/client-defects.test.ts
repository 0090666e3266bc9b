import { getEventListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ChangeEvent, subscribe, type SubscribeError } from '../src/client';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { tripWriter } from './support/fixtures';
import { eventually } from './support/eventually';

// subscribe() as an application relies on it: the wire protocol cases use a small SSE endpoint that sends
// exactly the frames in question; the application's exceptions are tested against a real pgfeed.

/** An SSE endpoint answering each request with `respond(request number, its Last-Event-ID)`. */
async function sseServer(respond: (n: number, lastEventId: string | undefined, res: http.ServerResponse) => void) {
  const requests: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    const last = req.headers['last-event-id'] as string | undefined;
    requests.push(last);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    respond(requests.length, last, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  return {
    url,
    requests,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

test('50 reconnects leave no abort listener behind on the signals the subscription holds', async () => {
  // Node 20 does not warn about listeners on an AbortSignal, so the test counts them where they pile up:
  // on the signals subscribe() hands to fetch.
  const signals = new Set<AbortSignal>();
  const recording: typeof fetch = (input, init) => {
    if (init?.signal) signals.add(init.signal);
    return fetch(input, init);
  };
  const sse = await sseServer((_n, _last, res) => res.end('retry: 1\n\n'));
  const sub = subscribe({ url: sse.url, onEvent: () => {}, backoff: { minMs: 1, maxMs: 1 }, fetch: recording });
  try {
    await eventually(() => sse.requests.length >= 50, { what: '50 reconnects', timeoutMs: 20_000 });
    const most = Math.max(...[...signals].map((s) => getEventListeners(s, 'abort').length));
    expect(most).toBeLessThanOrEqual(2);
  } finally {
    sub.close();
    await sub.done;
    await sse.close();
  }
});

test('the position is the SSE id: a reset frame with an id is not replayed on reconnect (one refetch, not two)', async () => {
  const reset = 'id: 9\nevent: reset\ndata: {"reason":"capture_gap"}\n\n';
  // Until the client resumes after 9, the endpoint sends the reset again (as pgfeed's log would replay it).
  const sse = await sseServer((_n, last, res) =>
    last === '9' ? res.write('event: ready\ndata: {"lastEventId":"9","replayed":0}\n\n') : res.end(`retry: 1\n${reset}`),
  );
  const resets: string[] = [];
  const sub = subscribe({
    url: sse.url,
    lastEventId: '3',
    onEvent: () => {},
    onReset: (r) => resets.push(r.reason),
    backoff: { minMs: 1, maxMs: 1 },
  });
  try {
    await eventually(() => sse.requests.length >= 2, { what: 'a reconnect' });
    await eventually(() => sub.lastEventId === '9' || sse.requests.length > 3, { what: 'the position' });
    expect(sse.requests.slice(0, 2)).toEqual(['3', '9']);
    expect(resets).toEqual(['capture_gap']);
  } finally {
    sub.close();
    await sub.done;
    await sse.close();
  }
});

test('the parser buffer is bounded: a frame over maxMessageBytes is a protocol error; 10 MB under the default bound arrive whole', async () => {
  const big = 'x'.repeat(10 * 1024 * 1024);
  const event = (n: number) =>
    `id: ${n}\nevent: trip.created\ndata: ${JSON.stringify({ id: String(n), type: 'trip.created', entity: 'trip', key: 'k', row: { big } })}\n\n`;
  const sse = await sseServer((n, _last, res) => res.end(`retry: 1\n${event(n)}`));
  const errors: SubscribeError[] = [];
  const small = subscribe({
    url: sse.url,
    onEvent: () => {},
    onError: (e) => errors.push(e),
    maxMessageBytes: 1024 * 1024,
    backoff: { minMs: 50, maxMs: 50 },
  });
  const received: ChangeEvent[] = [];
  const whole = subscribe({ url: sse.url, onEvent: (e) => received.push(e), backoff: { minMs: 60_000, maxMs: 60_000 } });
  try {
    await eventually(() => errors.length > 0 && received.length > 0, { what: 'the error and the big event' });
    expect(errors[0]).toMatchObject({ type: 'protocol', fatal: false });
    expect(errors[0]!.message).toMatch(/buffer/i);
    expect((received[0]!.row.big as string).length).toBe(big.length);
  } finally {
    small.close();
    whole.close();
    await Promise.all([small.done, whole.done]);
    await sse.close();
  }
}, 60_000);

describe('against pgfeed', () => {
  let world: Awaited<ReturnType<typeof serviceOnFreshDatabase>>;
  beforeAll(async () => (world = await serviceOnFreshDatabase({ config: { RETRY_MS: 50 } })));
  afterAll(() => closeService(world?.server, world?.db));

  test("an exception in the application's onEvent is reported as the application's; the stream goes on, nothing lost", async () => {
    const { server, db } = world;
    const token = await tokenFor(server, 'alice', 'acme', 'admin');
    const seen: string[] = [];
    const errors: SubscribeError[] = [];
    let readies = 0;
    const sub = subscribe({
      url: `${server.url}/events/company/acme?entities=trip`,
      token,
      onReady: () => readies++,
      onEvent: (e) => {
        seen.push(e.key);
        if (seen.length === 1) throw new Error('the application broke');
      },
      onError: (e) => errors.push(e),
      backoff: { minMs: 20, maxMs: 50 },
    });
    try {
      await eventually(() => readies === 1, { what: 'ready' });
      const keys = await tripWriter(db.sql, 'boom')(3);
      await eventually(() => seen.length >= 3, { what: 'three events' });
      expect(seen).toEqual(keys);
      expect(errors.map((e) => [e.type, e.message, (e.cause as Error).message])).toEqual([
        ['application', "the application's onEvent threw", 'the application broke'],
      ]);
      expect(readies).toBe(1); // the connection was not dropped
    } finally {
      sub.close();
      await sub.done;
    }
  });
});
