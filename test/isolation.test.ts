import type { Pgfeed } from '../src/service';
import type { TestDatabase } from './support/db';
import { EVERY_ENTITY_TYPES, writeEveryEntity } from './support/fixtures';
import { closeService, serviceOnFreshDatabase, tokenFor } from './support/service';
import { type OpenStream, openLiveStream } from './support/stream';

let db: TestDatabase;
let server: Pgfeed;

beforeAll(async () => ({ db, server } = await serviceOnFreshDatabase()));
afterAll(() => closeService(server, db));

const ready = (path: string, token?: string) => openLiveStream(`${server.url}${path}`, token ? { token } : {});

test('every entity × insert/update/delete reaches exactly the streams that may see it', async () => {
  const streams = {
    acmeAdmin: await ready('/events/company/acme', await tokenFor(server, 'alice', 'acme', 'admin')),
    acmeCashier: await ready('/events/company/acme', await tokenFor(server, 'carl', 'acme', 'cashier')),
    cora: await ready('/events/user', await tokenFor(server, 'cora', 'acme', 'customer')),
    cody: await ready('/events/user', await tokenFor(server, 'cody', 'acme', 'customer')),
    acmePublic: await ready('/events/public/acme'),
    globexAdmin: await ready('/events/company/globex', await tokenFor(server, 'gina', 'globex', 'admin')),
    gus: await ready('/events/user', await tokenFor(server, 'gus', 'globex', 'customer')),
  };

  await writeEveryEntity(db.sql, 'acme', 'cora', 'a');
  // A marker on globex, written last: once globex streams have it, every acme event has been dispatched too.
  await writeEveryEntity(db.sql, 'globex', 'gus', 'g');

  const types = (s: OpenStream) => s.events().map((f) => f.event);
  await streams.acmeAdmin.waitFor((f) => f.event === 'trip.deleted');
  await streams.globexAdmin.waitFor((f) => f.event === 'trip.deleted');
  await streams.acmePublic.waitFor((f) => f.event === 'trip.deleted');
  await streams.gus.waitFor((f) => f.event === 'booking.deleted');

  expect(types(streams.acmeAdmin)).toEqual(EVERY_ENTITY_TYPES);
  expect(types(streams.acmeCashier)).toEqual(EVERY_ENTITY_TYPES);
  expect(types(streams.globexAdmin)).toEqual(EVERY_ENTITY_TYPES);
  const userTypes = EVERY_ENTITY_TYPES.filter((t) => t.startsWith('booking') || t.startsWith('checkout'));
  expect(types(streams.cora)).toEqual(userTypes);
  expect(types(streams.gus)).toEqual(userTypes);
  expect(types(streams.cody)).toEqual([]);
  expect(types(streams.acmePublic)).toEqual(EVERY_ENTITY_TYPES.filter((t) => t.startsWith('trip') || t.startsWith('stock')));

  for (const f of [...streams.acmeAdmin.events(), ...streams.cora.events(), ...streams.acmePublic.events()]) {
    expect(f.json.companyId).toBe('acme');
  }
  for (const f of streams.globexAdmin.events()) expect(f.json.companyId).toBe('globex');
  for (const f of streams.cora.events()) expect(f.json.userId).toBe('cora');

  // Ids are decimal strings, increasing along the stream, and each frame's id line matches its data.
  const ids = streams.acmeAdmin.events().map((f) => BigInt(f.id ?? '0'));
  expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0n))).toBe(true);
  for (const f of streams.acmeAdmin.events()) expect(f.id).toBe(f.json.id);

  // Rows: camelCase, whole row after the change; before it for a delete; changes only for updates.
  const [tripCreated, tripUpdated] = streams.acmeAdmin.events();
  expect(tripCreated?.json).toMatchObject({
    op: 'insert',
    changes: null,
    row: { id: 'a-trip', availableSlots: 40, companyId: 'acme' },
  });
  expect(tripUpdated?.json.changes).toMatchObject({ availableSlots: 38 });
  expect(Object.keys(tripUpdated?.json.changes ?? {}).sort()).toEqual(['availableSlots', 'updatedAt']);
  const tripDeleted = streams.acmeAdmin.events().at(-1);
  expect(tripDeleted?.json).toMatchObject({ op: 'delete', type: 'trip.deleted', row: { availableSlots: 38 }, changes: null });

  // Public projection: availability only, no user ids, no bookings.
  const publicStock = streams.acmePublic.events().find((f) => f.event === 'stock.updated');
  expect(publicStock?.json.row).toEqual({ id: 'a-item', sku: 'a', name: 'Helmet', available: 4 });
  expect(publicStock?.json.changes).toEqual({ available: 4 });
  const publicTrip = streams.acmePublic.events()[0];
  expect(Object.keys(publicTrip?.json.row ?? {}).sort()).toEqual(
    ['availableSlots', 'bookingHalted', 'capacity', 'departsAt', 'id', 'route'].sort(),
  );
  for (const f of streams.acmePublic.events()) expect(f.json.userId).toBeNull();

  for (const s of Object.values(streams)) s.close();
});

test('an UPDATE that changes nothing produces no event', async () => {
  const s = await ready('/events/company/acme', await tokenFor(server, 'alice', 'acme', 'admin'));
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('noop', 'acme', 'N-O', '2026-12-24T08:00:00Z', 4, 4)`;
  await db.sql`update trips set route = route, available_slots = available_slots where id = 'noop'`;
  await db.sql`update trips set capacity = 5 where id = 'noop'`;
  await s.waitFor((f) => f.event === 'trip.updated');
  expect(s.events().map((f) => f.event)).toEqual(['trip.created', 'trip.updated']);
  expect(s.events()[1]?.json.changes).toMatchObject({ capacity: 5 });
  s.close();
});

test('pgfeed.watch() attaches the same events to any table', async () => {
  await db.sql`create table invoices (id text primary key, company_id text not null, user_id text, amount int not null)`;
  await expect(db.sql`select pgfeed.watch('public.invoices', company_column => 'tenant')`).rejects.toThrow(/no column "tenant"/);
  const [w] =
    await db.sql`select pgfeed.watch('public.invoices', company_column => 'company_id', user_column => 'user_id') as entity`;
  expect(w?.entity).toBe('invoices');
  const company = await ready('/events/company/acme?entities=invoices', await tokenFor(server, 'alice', 'acme', 'admin'));
  const user = await ready('/events/user', await tokenFor(server, 'cora', 'acme', 'customer'));
  await db.sql`insert into invoices values ('inv-1', 'acme', 'cora', 100)`;
  await db.sql`update invoices set amount = 120 where id = 'inv-1'`;
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values ('not-an-invoice', 'acme', 'N-O', '2026-12-24T08:00:00Z', 4, 4)`;
  await db.sql`insert into invoices values ('inv-2', 'globex', 'gus', 7)`;
  const updated = await company.waitFor((f) => f.event === 'invoices.updated');
  expect(updated.json).toMatchObject({
    entity: 'invoices',
    key: 'inv-1',
    companyId: 'acme',
    userId: 'cora',
    changes: { amount: 120 },
  });
  expect(company.events().map((f) => f.event)).toEqual(['invoices.created', 'invoices.updated']);
  await user.waitFor((f) => f.event === 'invoices.updated');
  expect(user.events().every((f) => f.json.userId === 'cora')).toBe(true);
  company.close();
  user.close();
});
