/**
 * A row that moves to another company, user or key leaves the old scope (a
 * delete there) and enters the new one (a create), each its own resumable event.
 */
import type { Pgfeed } from '../../src/service';
import type { TestDatabase } from '../support/db';
import { caughtUp, closeService, serviceOnFreshDatabase, tokenFor } from '../support/service';
import { type OpenStream, openLiveStream } from '../support/stream';

let db: TestDatabase;
let server: Pgfeed;
beforeAll(async () => ({ db, server } = await serviceOnFreshDatabase()));
afterAll(() => closeService(server, db));

const seen = (s: OpenStream) => s.events().map((f) => [f.event, f.json.key, f.json.companyId, f.json.userId]);

test('a trip moved to another company: acme sees it leave, globex sees it arrive', async () => {
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('mv-1', 'acme', 'A-B', '2026-12-24T08:00:00Z', 10, 10)`;
  await caughtUp(server, db.sql); // streams open after the insert reached the instance: it is not theirs to see
  const acme = await openLiveStream(`${server.url}/events/company/acme`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });
  const globex = await openLiveStream(`${server.url}/events/company/globex`, {
    token: await tokenFor(server, 'gina', 'globex', 'admin'),
  });
  const acmePublic = await openLiveStream(`${server.url}/events/public/acme`);

  await db.sql`update trips set company_id = 'globex', available_slots = 9 where id = 'mv-1'`;
  await acme.waitFor((f) => f.event === 'trip.deleted');
  await globex.waitFor((f) => f.event === 'trip.created');
  await acmePublic.waitFor((f) => f.event === 'trip.deleted');
  expect(seen(acme)).toEqual([['trip.deleted', 'mv-1', 'acme', null]]);
  expect(acme.events()[0]?.json.row).toMatchObject({ companyId: 'acme', availableSlots: 10 });
  expect(seen(globex)).toEqual([['trip.created', 'mv-1', 'globex', null]]);
  expect(globex.events()[0]?.json.row).toMatchObject({ companyId: 'globex', availableSlots: 9 });
  expect(BigInt(globex.events()[0]!.id!)).toBeGreaterThan(BigInt(acme.events()[0]!.id!));

  // Both are events of the log: a resume from before the move replays the leave and the arrival.
  const resumed = await openLiveStream(`${server.url}/events/company/globex`, {
    token: await tokenFor(server, 'gina', 'globex', 'admin'),
    lastEventId: acme.ready.id!,
  });
  expect(seen(resumed)).toEqual([['trip.created', 'mv-1', 'globex', null]]);
  for (const s of [acme, globex, acmePublic, resumed]) s.close();
});

test('a booking reassigned to another customer: the old one sees a delete, the new one a create', async () => {
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('mv-2', 'acme', 'A-B', '2026-12-24T08:00:00Z', 10, 10)`;
  await db.sql`insert into bookings (id, trip_id, company_id, user_id, seats, channel) values ('bk-mv', 'mv-2', 'acme', 'cora', 1, 'online')`;
  await caughtUp(server, db.sql);
  const cora = await openLiveStream(`${server.url}/events/user`, { token: await tokenFor(server, 'cora', 'acme', 'customer') });
  const cody = await openLiveStream(`${server.url}/events/user`, { token: await tokenFor(server, 'cody', 'acme', 'customer') });
  const company = await openLiveStream(`${server.url}/events/company/acme?entities=booking`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });

  await db.sql`update bookings set user_id = 'cody' where id = 'bk-mv'`;
  await cody.waitFor((f) => f.event === 'booking.created');
  await cora.waitFor((f) => f.event === 'booking.deleted');
  await company.waitFor((f) => f.event === 'booking.created');
  expect(seen(cora)).toEqual([['booking.deleted', 'bk-mv', 'acme', 'cora']]);
  expect(seen(cody)).toEqual([['booking.created', 'bk-mv', 'acme', 'cody']]);
  // The company sees the row leave one customer and reach the other, ending in the right state.
  expect(seen(company)).toEqual([
    ['booking.deleted', 'bk-mv', 'acme', 'cora'],
    ['booking.created', 'bk-mv', 'acme', 'cody'],
  ]);
  // An ordinary update is still one update.
  await db.sql`update bookings set status = 'cancelled' where id = 'bk-mv'`;
  await cody.waitFor((f) => f.event === 'booking.updated');
  expect(cody.events().at(-1)?.json.changes).toEqual({ status: 'cancelled' });
  for (const s of [cora, cody, company]) s.close();
});

test('a changed key removes the old row and creates the new one', async () => {
  await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values ('old-key', 'acme', 'MV', 'Thing', 3)`;
  await caughtUp(server, db.sql);
  const acme = await openLiveStream(`${server.url}/events/company/acme?entities=stock`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });
  await db.sql`update stock_items set id = 'new-key' where id = 'old-key'`;
  await acme.waitFor((f) => f.event === 'stock.created');
  expect(seen(acme)).toEqual([
    ['stock.deleted', 'old-key', 'acme', null],
    ['stock.created', 'new-key', 'acme', null],
  ]);
  acme.close();
});
