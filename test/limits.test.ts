import { captured, metric, reached, fleetOnFreshDatabase, tokenFor } from './support/service';
import { openLiveStream, openStalledStream, openStream } from './support/stream';
import { eventually } from './support/eventually';

const world = fleetOnFreshDatabase();
const service = world.start;

test('MAX_CONNECTIONS_PER_USER: one stream too many is a 429 with Retry-After', async () => {
  const server = await service({ MAX_CONNECTIONS_PER_USER: 2 });
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const open = [
    await openLiveStream(`${server.url}/events/company/acme`, { token: token }),
    await openLiveStream(`${server.url}/events/user`, { token: token }),
  ];
  const res = await fetch(`${server.url}/events/company/acme`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).toBe(429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await res.json()).toMatchObject({ error: { code: 'too_many_connections' } });
  // Another user is not affected, and a closed stream frees its slot.
  open.push(
    await openLiveStream(`${server.url}/events/company/acme`, { token: await tokenFor(server, 'carl', 'acme', 'cashier') }),
  );
  open[0]?.close();
  await open[0]?.ended;
  await eventually(() => server.streamsOf('acme', 'alice') === 1);
  open.push(await openLiveStream(`${server.url}/events/company/acme`, { token: token }));
  open.forEach((s) => s.close());
});

test('MAX_CONNECTIONS_PER_USER counts a subject within its company: the admin of one company does not use up the streams of the admin of another', async () => {
  const server = await service({ MAX_CONNECTIONS_PER_USER: 1 });
  // Tokens minted per company repeat subjects; each pair (company, sub) is its own user.
  const acmeAdmin = await openLiveStream(`${server.url}/events/company/acme`, {
    token: await tokenFor(server, 'admin', 'acme', 'admin'),
  });
  const globexAdmin = await openLiveStream(`${server.url}/events/company/globex`, {
    token: await tokenFor(server, 'admin', 'globex', 'admin'),
  });
  expect(server.streamsOf('acme', 'admin')).toBe(1);
  expect(server.streamsOf('globex', 'admin')).toBe(1);
  acmeAdmin.close();
  globexAdmin.close();
});

test('MAX_CONNECTIONS: streams beyond it are refused with 429', async () => {
  const server = await service({ MAX_CONNECTIONS: 2, MAX_ANONYMOUS_CONNECTIONS: 2 });
  const a = await openLiveStream(`${server.url}/events/public/acme`);
  const b = await openLiveStream(`${server.url}/events/public/acme`);
  const res = await fetch(`${server.url}/events/public/acme`);
  expect(res.status).toBe(429);
  expect(res.headers.get('retry-after')).toBeTruthy();
  await res.text();
  a.close();
  b.close();
});

test('connection attempts faster than the rate limit get 429 with Retry-After', async () => {
  const server = await service({ RATE_LIMIT_PER_MINUTE: 3 });
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${server.url}/events/company/acme`); // 401s count too: attempts are limited
    statuses.push(res.status);
    if (res.status === 429) retryAfter = res.headers.get('retry-after');
    await res.text();
  }
  expect(statuses).toEqual([401, 401, 401, 429]);
  expect(Number(retryAfter)).toBeGreaterThan(0);
});

test('a client that stops reading is cut off, and resumes with Last-Event-ID losing nothing', async () => {
  const server = await service({ SLOW_CLIENT_MAX_BYTES: 64 * 1024 });
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  await captured(world.db.sql);
  const [head] = await world.db.sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from pgfeed.events`;
  const from = head?.id ?? '0';

  const stalled = await openStalledStream(`${server.url}/events/company/acme`, { Authorization: `Bearer ${token}` });
  await eventually(() => server.status().streams === 1);

  // ~12 MB of events: far more than socket buffers and the 64 KiB bound.
  const route = 'x'.repeat(4000);
  await world.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               select 'bulk-' || g, 'acme', ${route}, '2026-12-24T08:00:00Z', 10, 10 from generate_series(1, 3000) g`;
  // The paused client cannot see its socket close (it reads nothing), so watch the server side.
  await eventually(async () => (await metric(server, 'pgfeed_slow_client_disconnects_total')) === 1, { timeoutMs: 20_000 });
  await eventually(() => server.status().streams === 0);
  stalled.destroy();
  await captured(world.db.sql);
  const [last] = await world.db.sql<{ id: string }[]>`select max(id)::text as id from pgfeed.events`;
  await reached(server, BigInt(last?.id ?? '0'), 20_000);

  const resumed = await openStream(`${server.url}/events/company/acme`, { token, lastEventId: from });
  const ready = await resumed.waitFor((f) => f.event === 'ready', { timeoutMs: 20_000 });
  expect(ready.json).toEqual({ lastEventId: last?.id, replayed: 3000 });
  const keys = resumed.events().map((f) => f.json.key as string);
  expect(keys).toHaveLength(3000);
  expect(new Set(keys).size).toBe(3000);
  expect(keys[0]).toBe('bulk-1');
  expect(keys.at(-1)).toBe('bulk-3000');
  resumed.close();
});
