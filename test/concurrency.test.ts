import { connect } from '../src/db/connect';
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { captured, caughtUp, startService, tokenFor } from './support/service';
import { type Frame, openStream } from './support/stream';
import { seededRandom } from './support/toolkit';

const SEED = Number(process.env.PGFEED_TEST_SEED ?? Date.now() % 1_000_000);
const COMPANIES = ['c1', 'c2', 'c3'];
const USERS = COMPANIES.flatMap((c) => [`${c}-u1`, `${c}-u2`].map((id) => ({ id, company: c })));
const WRITERS = 200;
const TX_PER_WRITER = 5;

let db: TestDatabase;
const servers: Pgfeed[] = [];

beforeAll(async () => {
  db = await freshDatabase();
  for (const c of COMPANIES) await db.sql`insert into companies (id, name) values (${c}, ${c})`;
  for (const u of USERS)
    await db.sql`insert into users (id, company_id, role, name) values (${u.id}, ${u.company}, 'customer', ${u.id})`;
  for (const c of COMPANIES) {
    await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                 values (${c + '-trip'}, ${c}, 'R', '2026-12-24T08:00:00Z', 100000, 100000)`;
    await db.sql`insert into stock_items (id, company_id, sku, name, quantity) values (${c + '-item'}, ${c}, 'S', 'S', 100000)`;
  }
  servers.push(await startService(db.url, { HEARTBEAT_MS: 100, MAX_CONNECTIONS_PER_USER: 1000 }));
  servers.push(await startService(db.url, { HEARTBEAT_MS: 100, MAX_CONNECTIONS_PER_USER: 1000, REPLAY_BUFFER_SIZE: 50 }));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await db?.drop();
});

interface Subscription {
  name: string;
  path: string;
  token?: string;
  /** Which committed events this subscriber may see. */
  sees: (e: { entity: string; company_id: string; user_id: string | null }) => boolean;
}

test(`hundreds of concurrent writers, random disconnects and resumes on two instances: every subscriber gets exactly its history (seed ${SEED})`, async () => {
  const tokenOf = (sub: string, company: string, role: 'admin' | 'customer') => tokenFor(servers[0]!, sub, company, role);
  const subs: Subscription[] = [];
  for (const c of COMPANIES) {
    subs.push({
      name: `company ${c}`,
      path: `/events/company/${c}`,
      token: await tokenOf(`${c}-admin`, c, 'admin'),
      sees: (e) => e.company_id === c,
    });
    subs.push({
      name: `public ${c}`,
      path: `/events/public/${c}`,
      sees: (e) => e.company_id === c && (e.entity === 'trip' || e.entity === 'stock'),
    });
  }
  for (const u of USERS.filter((_, i) => i % 2 === 0)) {
    subs.push({
      name: `user ${u.id}`,
      path: '/events/user',
      token: await tokenOf(u.id, u.company, 'customer'),
      sees: (e) => e.company_id === u.company && e.user_id === u.id,
    });
  }
  await captured(db.sql);
  const [{ head } = { head: '0' }] = await db.sql<
    { head: string }[]
  >`select coalesce(max(id), 0)::text as head from pgfeed.events`;

  let writing = true;
  const received = new Map<string, Frame[]>();
  const reconnects = { n: 0 };
  const readers = subs.map(async (sub) => {
    const got: Frame[] = [];
    received.set(sub.name, got);
    let last = head;
    const pick = seededRandom(SEED ^ sub.name.length ^ (sub.name.charCodeAt(sub.name.length - 1) << 8));
    for (;;) {
      const done = !writing; // after the writers finish, one more resume collects the rest
      const server = servers[Math.floor(pick() * servers.length)]!;
      const s = await openStream(`${server.url}${sub.path}`, { ...(sub.token ? { token: sub.token } : {}), lastEventId: last });
      expect(s.status).toBe(200);
      const ready = await s.waitFor((f) => f.event === 'ready', { timeoutMs: 20_000 });
      if (!done) {
        const quota = 1 + Math.floor(pick() * 40);
        await s.waitFor(() => s.events().length >= quota || !writing, { timeoutMs: 60_000 });
      }
      s.close();
      await s.ended;
      expect(s.frames.some((f) => f.event === 'reset')).toBe(false);
      got.push(...s.events());
      last = s.events().at(-1)?.id ?? ready.json.lastEventId;
      reconnects.n++;
      if (done) return;
    }
  });

  const pool = connect(db.url, { max: 40 });
  let changes = 0;
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    const r = seededRandom(SEED * 1000 + w);
    for (let t = 0; t < TX_PER_WRITER; t++) {
      const c = COMPANIES[Math.floor(r() * COMPANIES.length)]!;
      const user = USERS.filter((u) => u.company === c)[Math.floor(r() * 2)]!.id;
      const kind = Math.floor(r() * 4);
      const n = await pool.begin(async (tx) => {
        if (kind === 0) {
          await tx`update trips set available_slots = available_slots - 1 where id = ${c + '-trip'}`;
          await tx`insert into bookings (id, trip_id, company_id, user_id, seats, channel)
                   values (${`b-${w}-${t}`}, ${c + '-trip'}, ${c}, ${user}, 1, 'online')`;
          return 2;
        }
        if (kind === 1) {
          await tx`update stock_items set reserved = reserved + 1 where id = ${c + '-item'}`;
          await tx`insert into checkouts (id, company_id, user_id, item_id) values (${`k-${w}-${t}`}, ${c}, ${user}, ${c + '-item'})`;
          return 2;
        }
        if (kind === 2) {
          await tx`update stock_items set quantity = quantity + 1 where id = ${c + '-item'}`;
          return 1;
        }
        await tx`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                 values (${`t-${w}-${t}`}, ${c}, 'X', '2026-12-24T08:00:00Z', 1, 1)`;
        await tx`delete from trips where id = ${`t-${w}-${t}`}`;
        return 2;
      });
      changes += n;
    }
  });
  await Promise.all(writers);
  await pool.end();
  await Promise.all(servers.map((s) => caughtUp(s, db.sql)));
  writing = false;
  await Promise.all(readers);

  const history = await db.sql<{ id: string; entity: string; company_id: string; user_id: string | null }[]>`
    select e.id::text as id, e.entity, e.company_id, e.user_id from pgfeed.events e where e.id > ${head}::bigint order by e.id`;
  expect(history).toHaveLength(changes);
  for (const sub of subs) {
    const expected = history.filter(sub.sees).map((e) => e.id);
    const got = (received.get(sub.name) ?? []).map((f) => f.id);
    if (got.join() !== expected.join())
      throw new Error(`seed ${SEED}: ${sub.name} got ${got.length} events, expected ${expected.length}`);
    expect(got).toEqual(expected);
  }
  expect(reconnects.n).toBeGreaterThan(subs.length * 2);
}, 120_000);
