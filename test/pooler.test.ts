/**
 * pgfeed behind PgBouncer in transaction mode (a real one, Debian's package):
 * the listener cannot LISTEN through it, and pgfeed says so at once instead
 * of running "ready" and delivering nothing; with LISTENER_DATABASE_URL
 * direct, everything else goes through the pooler and events flow.
 */
import { ListenerSetupError } from '../src/listener/listener';
import { freshDatabase, type TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { type PgBouncer, startPgBouncer } from './support/pgbouncer';
import { TEST_CAPTURE, startService, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

let db: TestDatabase;
let bouncer: PgBouncer;

beforeAll(async () => {
  db = await freshDatabase();
  await seedTwoCompanies(db.sql);
  bouncer = await startPgBouncer(db.url, 'transaction');
});
afterAll(async () => {
  await bouncer?.close();
  await db?.drop();
});

// The replication connection cannot go through a pooler either: in wal mode it is direct, as documented.
const direct = () => (TEST_CAPTURE === 'wal' ? { CAPTURE_DATABASE_URL: db.url } : {});

test('DATABASE_URL through PgBouncer in transaction mode, listener too: pgfeed refuses to start within seconds, with one clear line', async () => {
  const started = Date.now();
  const attempt = startService(bouncer.url, direct());
  await expect(attempt).rejects.toThrow(ListenerSetupError);
  const ms = Date.now() - started;
  const error = (await attempt.catch((e: unknown) => e)) as Error;
  expect(error.message).toMatch(/^the listener connection LISTENs but receives no notifications .*LISTENER_DATABASE_URL/);
  expect(error.message).not.toContain('\n');
  expect(ms).toBeLessThan(15_000);
  process.stdout.write(`pooler misconfiguration → refused in ${ms} ms\n`);
}, 30_000);

test('DATABASE_URL through PgBouncer in transaction mode, LISTENER_DATABASE_URL direct: ready, snapshots and events flow', async () => {
  const server = await startService(bouncer.url, { LISTENER_DATABASE_URL: db.url, ...direct() });
  try {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    const token = await tokenFor(server, 'alice', 'acme', 'admin');
    const stream = await openLiveStream(`${server.url}/events/company/acme`, { token });
    const keys = await tripWriter(db.sql, 'pooled-')(3);
    await stream.waitFor((f) => f.json?.key === keys.at(-1), { timeoutMs: 15_000 });
    expect(stream.events().map((f) => f.json.key)).toEqual(keys);
    // The API's reads go through the pooler.
    const snapshot = await fetch(`${server.url}/api/companies/acme/trips`, { headers: { Authorization: `Bearer ${token}` } });
    expect(snapshot.status).toBe(200);
    const body = (await snapshot.json()) as { items: { id: string }[] };
    expect(body.items.map((t) => t.id)).toEqual(expect.arrayContaining(keys));
    stream.close();
  } finally {
    await server.close();
  }
}, 30_000);

test("the listener's route turns into a transaction-mode pooler while running: /readyz is 503 with the reason within seconds", async () => {
  const route = await startPgBouncer(db.url, 'session');
  const server = await startService(db.url, { LISTENER_DATABASE_URL: route.url, ...direct() });
  try {
    const readyz = async () => {
      const res = await fetch(`${server.url}/readyz`);
      return { status: res.status, body: (await res.json()) as { ready: boolean; reason?: string } };
    };
    expect((await readyz()).status).toBe(200); // a session-mode pool carries LISTEN
    await route.setMode('transaction');
    const changed = Date.now();
    await db.sql`select pg_terminate_backend(pid) from pg_stat_activity
                  where application_name = 'pgfeed-listener' and datname = current_database()`;
    let last = await readyz();
    await eventually(
      async () => {
        last = await readyz();
        return last.status === 503 && /receives no notifications/.test(last.body.reason ?? '');
      },
      { timeoutMs: 20_000, what: '/readyz 503 saying the listener hears nothing' },
    );
    const ms = Date.now() - changed;
    expect(last.body.reason).toMatch(
      /^listener connecting: the listener connection LISTENs but receives no notifications .*LISTENER_DATABASE_URL/,
    );
    process.stdout.write(`listener route turned transaction-mode → /readyz 503 with the reason in ${ms} ms\n`);
  } finally {
    await server.close();
    await route.close();
  }
}, 40_000);
