import type { ChangeEvent } from '../src/events/schema';
import { FeedEvent } from '../src/streams/feed-event';
import { DOMAIN_ENTITIES } from '../src/domain/entities';
import { EntityRegistry } from '../src/events/entity';
import { type Filter, matches } from '../src/streams/filter';
import { RowRenderer } from '../src/streams/html';
import { Registry } from '../src/streams/registry';
import { EventEmitter } from 'node:events';
import { type IncomingMessage, type ServerResponse, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subscriber, type SubscriberHost } from '../src/streams/subscriber';
import { eventually } from './support/eventually';

const event = (over: Partial<ChangeEvent>): ChangeEvent => ({
  id: '1',
  type: 'trip.updated',
  entity: 'trip',
  op: 'update',
  companyId: 'acme',
  userId: null,
  key: 't1',
  row: { id: 't1' },
  changes: null,
  committedAt: '2026-11-22T10:00:00.000Z',
  ...over,
});

const entities = new EntityRegistry(DOMAIN_ENTITIES);
const presentation = { entities, renderer: new RowRenderer(entities) };
const feedEvent = (e: ChangeEvent) => new FeedEvent(e, presentation);

/** A stand-in that records what it is offered (the registry only uses filter, subject and offer). */
function fakeSubscriber(filter: Filter, subject?: string) {
  const offered: string[] = [];
  const s = { filter, subject, offer: (e: FeedEvent) => offered.push(e.event.id) };
  return { s: s as unknown as Subscriber, offered };
}

test('a fan-out only visits the streams of the event’s company and user', () => {
  const registry = new Registry();
  Array.from({ length: 1000 }, (_, i) => {
    const filter: Filter = { scope: { kind: 'company', companyId: `c${i}` } };
    // Any visit to another company's stream would be a scan: make it fail loudly.
    const s = {
      filter,
      subject: `u${i}`,
      offer: () => {
        throw new Error('offered to another company');
      },
    };
    registry.add(s as unknown as Subscriber);
  });
  const company = fakeSubscriber({ scope: { kind: 'company', companyId: 'acme' } }, 'alice');
  const cora = fakeSubscriber({ scope: { kind: 'user', companyId: 'acme', userId: 'cora' } }, 'cora');
  const cody = fakeSubscriber({ scope: { kind: 'user', companyId: 'acme', userId: 'cody' } }, 'cody');
  const publicStream = fakeSubscriber({ scope: { kind: 'public', companyId: 'acme' }, entities: new Set(['trip', 'stock']) });
  for (const x of [company, cora, cody, publicStream]) registry.add(x.s);

  // Each event's fan-out run to the end, as the feed's slices would.
  for (const e of [event({ id: '7', entity: 'booking', type: 'booking.created', userId: 'cora' }), event({ id: '8' })]) {
    registry.fanout([feedEvent(e)]).run(Number.POSITIVE_INFINITY);
  }

  expect(company.offered).toEqual(['7', '8']);
  expect(cora.offered).toEqual(['7']);
  expect(cody.offered).toEqual([]);
  expect(publicStream.offered).toEqual(['8']);
  expect(registry.size).toBe(1004);
  expect(registry.countFor('acme', 'alice')).toBe(1);
  registry.remove(company.s);
  registry.remove(company.s);
  expect(registry.countFor('acme', 'alice')).toBe(0);
  expect(registry.size).toBe(1003);
});

test('matches: scope first, then entities and keys', () => {
  const e = event({ entity: 'stock', key: 's1' });
  expect(matches({ scope: { kind: 'company', companyId: 'acme' } }, e)).toBe(true);
  expect(matches({ scope: { kind: 'company', companyId: 'globex' } }, e)).toBe(false);
  expect(matches({ scope: { kind: 'company', companyId: 'acme' }, entities: new Set(['trip']) }, e)).toBe(false);
  expect(matches({ scope: { kind: 'company', companyId: 'acme' }, keys: new Set(['s2']) }, e)).toBe(false);
  expect(matches({ scope: { kind: 'user', companyId: 'acme', userId: 'cora' } }, e)).toBe(false);
  const publicScope = { kind: 'public', companyId: 'acme' } as const;
  expect(matches({ scope: publicScope, entities: new Set(['trip', 'stock']) }, event({ entity: 'booking' }))).toBe(false);
  expect(matches({ scope: publicScope, entities: new Set(['trip', 'stock']) }, event({ entity: 'trip' }))).toBe(true);
  // A public filter without its entity list carries nothing, rather than everything.
  expect(matches({ scope: publicScope }, event({ entity: 'trip' }))).toBe(false);
});

test('the public projection keeps availability and drops everything else', () => {
  const publicFrame = feedEvent(
    event({
      entity: 'stock',
      userId: 'someone',
      row: { id: 's1', companyId: 'acme', sku: 'S', name: 'Lamp', quantity: 5, reserved: 2, updatedAt: 'x', secret: 'no' },
      changes: { reserved: 2, updatedAt: 'x' },
    }),
  ).frame('public', 'json');
  const stock = JSON.parse(publicFrame.toString().split('\ndata: ')[1]!);
  expect(stock.row).toEqual({ id: 's1', sku: 'S', name: 'Lamp', available: 3 });
  expect(stock.changes).toEqual({ available: 3 });
  expect(stock.userId).toBeNull();
});

test('frames are encoded once per view and format and shared', () => {
  const fe = feedEvent(event({ id: '9' }));
  const a = fe.frame('full', 'json');
  expect(fe.frame('full', 'json')).toBe(a);
  expect(a.toString()).toBe(`id: 9\nevent: trip.updated\ndata: ${JSON.stringify(event({ id: '9' }))}\n\n`);
  expect(fe.frame('public', 'json')).not.toBe(a);
});

/** A feed's host for the streams of `registry`, with bounds no test here reaches. */
function hostOf(registry: Registry): SubscriberHost {
  return {
    maxBufferedBytes: 1e9,
    maxBehindBytes: 1e9,
    stallMs: 60_000,
    sent: () => {},
    slow: () => {},
    closed: (s) => registry.remove(s),
    drained: (s) => s.flush(),
  };
}

/** A response that records the ids of the frames written to it, and closes like a socket whose client left. */
class RecordingResponse extends EventEmitter {
  destroyed = false;
  readonly ids: string[] = [];
  write(frame: Buffer): boolean {
    const id = /^id: (\d+)/.exec(frame.toString())?.[1];
    if (id) this.ids.push(id);
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.leave();
  }
  destroy(): void {
    this.leave();
  }
  leave(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

test('a fan-out that spans slices reaches each stream once, in order, while streams open and close in between', async () => {
  const registry = new Registry();
  const host = hostOf(registry);
  /** An acme stream, registered, covering `position` (as Feed.open leaves a stream before its replay). */
  const register = (position: bigint) => {
    const res = new RecordingResponse();
    const s = new Subscriber(res as unknown as ServerResponse, host, {
      filter: { scope: { kind: 'company', companyId: 'acme' } },
      format: 'json',
    });
    registry.add(s);
    s.cover(position);
    return { s, res };
  };
  const streams = Array.from({ length: 1000 }, () => register(6n));
  await Promise.all(streams.map(({ s }) => s.goLive()));
  const [e7, e8, e9] = ['7', '8', '9'].map((id) => feedEvent(event({ id })));

  // Two events for the same streams, one fan-out; a deadline already past: one look at the clock's worth
  // of streams, then it yields.
  const fanout = registry.fanout([e7!, e8!]);
  const first = fanout.run(-Infinity);
  expect(first).toBeGreaterThan(0);
  expect(first).toBeLessThan(2000);
  expect(fanout.done).toBe(false);

  // Between two slices: a stream that got 7 and 8 leaves, one not reached yet leaves,
  streams[0]!.res.leave();
  streams[999]!.res.leave();
  // a new live stream opens (7 and 8 committed before it: not for it; it covers the ring head, 8),
  const late = register(8n);
  await late.s.goLive();
  // and a stream resumes from 6: still replaying (7 and 8 come from the ring) when the fan-out reaches it.
  const resumer = register(6n);

  const second = fanout.run(Infinity);
  expect(fanout.done).toBe(true);
  await resumer.s.replay(e7!);
  await resumer.s.replay(e8!);
  await resumer.s.goLive();
  registry.fanout([e9!]).run(Infinity);

  expect(streams[0]!.res.ids).toEqual(['7', '8']);
  expect(streams[999]!.res.ids).toEqual([]);
  for (const { res } of streams.slice(1, 999)) expect(res.ids).toEqual(['7', '8', '9']);
  expect(late.res.ids).toEqual(['9']);
  expect(resumer.res.ids).toEqual(['7', '8', '9']);
  // Written by the fan-out: both events to the 999 streams open when reached (the one that left first was
  // skipped); the new stream dropped them by position, the resuming one held them until its replay.
  expect(first + second).toBe(2 * 999);
  expect(fanout.delivered()).toEqual([e7, e8]);
});

test('a fan-out slice hands its frames to the sockets before it returns, a run of one event too', async () => {
  // Uncorked, Node's http response corks the socket itself and writes in a process.nextTick: the writes of
  // every stream a slice visited would then all run after the slice, in one long turn of the loop.
  const registry = new Registry();
  const host = hostOf(registry);
  const responses: ServerResponse[] = [];
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.flushHeaders();
    responses.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const received = Array.from({ length: 3 }, () => '');
  const clients = await Promise.all(
    received.map(
      (_, i) =>
        new Promise<IncomingMessage>((resolve) =>
          get({ host: '127.0.0.1', port, path: '/' }, (r) => {
            r.on('data', (chunk: Buffer) => (received[i] += chunk.toString()));
            resolve(r);
          }),
        ),
    ),
  );
  try {
    const streams = responses.map((res) => {
      const s = new Subscriber(res, host, { filter: { scope: { kind: 'company', companyId: 'acme' } }, format: 'json' });
      registry.add(s);
      return s;
    });
    await Promise.all(streams.map((s) => s.goLive()));
    const [e1, e2, e3] = ['1', '2', '3'].map((id) => feedEvent(event({ id })));

    for (const run of [[e1!], [e2!, e3!]]) {
      expect(registry.fanout(run).run(Infinity)).toBe(run.length * streams.length);
      // Nothing left queued in the process: the syscalls ran inside the slice, where its deadline counts them.
      expect(responses.map((res) => res.socket?.writableLength)).toEqual([0, 0, 0]);
    }
    const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]);
    await eventually(() => received.every((text) => ids(text).length === 3), { what: 'every client has the 3 frames' });
    expect(received.map(ids)).toEqual([0, 1, 2].map(() => ['1', '2', '3']));
  } finally {
    for (const c of clients) c.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
