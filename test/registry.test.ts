import type { ChangeEvent } from '../src/events/schema';
import { FeedEvent } from '../src/streams/feed-event';
import { DOMAIN_ENTITIES } from '../src/domain/entities';
import { EntityRegistry } from '../src/events/entity';
import { type Filter, matches } from '../src/streams/filter';
import { RowRenderer } from '../src/streams/html';
import { Registry } from '../src/streams/registry';
import type { Subscriber } from '../src/streams/subscriber';

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

test('dispatch only visits the streams of the event’s company and user', () => {
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

  registry.dispatch(feedEvent(event({ id: '7', entity: 'booking', type: 'booking.created', userId: 'cora' })));
  registry.dispatch(feedEvent(event({ id: '8' })));

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
