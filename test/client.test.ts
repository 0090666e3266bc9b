import { subscribe, SubscribeError } from '../src/client';
import type { ChangeEvent, ResetData } from '../src/events/schema';
import type { Pgfeed } from '../src/service';
import { freshDatabase, type TestDatabase } from './support/db';
import { seedTwoCompanies, tripWriter } from './support/fixtures';
import { startService, tokenFor } from './support/service';

let db: TestDatabase;
let write: (count: number) => Promise<string[]>;
let server: Pgfeed;

beforeAll(async () => {
  db = await freshDatabase();
  write = tripWriter(db.sql, 'c');
  await seedTwoCompanies(db.sql);
  server = await startService(db.url, { RETRY_MS: 50 });
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** Collects a subscription's events and lets the test wait for one. */
function collector() {
  const events: ChangeEvent[] = [];
  const waiters: (() => void)[] = [];
  return {
    events,
    onEvent: (e: ChangeEvent) => {
      events.push(e);
      waiters.splice(0).forEach((w) => w());
    },
    until(key: string, timeoutMs = 15_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${key}; got ${events.map((e) => e.key).join(',')}`)), timeoutMs);
        const check = () => {
          if (events.some((e) => e.key === key)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

test('subscribe() resumes across a server restart and a killed listener, each event once, in order', async () => {
  const token = await tokenFor(server, 'alice', 'acme', 'admin');
  const c = collector();
  const errors: SubscribeError[] = [];
  const resets: ResetData[] = [];
  let subscription: ReturnType<typeof subscribe> | undefined;
  const ready = new Promise<void>((resolve) => {
    const sub = subscribe({
      url: `${server.url}/events/company/acme?entities=trip`,
      token: () => token,
      onEvent: c.onEvent,
      onReady: () => resolve(),
      onReset: (r) => resets.push(r),
      onError: (e) => errors.push(e),
      backoff: { minMs: 20, maxMs: 200 },
    });
    subscription = sub;
  });
  await ready;
  const first = await write(2);
  await c.until(first.at(-1)!);

  // The service restarts on the same port; writes happen while it is down.
  const port = server.port;
  await server.close();
  const whileDown = await write(3);
  server = await startService(db.url, { RETRY_MS: 50, PORT: port });
  await c.until(whileDown.at(-1)!);

  // The listener connection is killed; writes in the gap.
  await db.sql`select pg_terminate_backend(pid) from pg_stat_activity
                where application_name = 'pgfeed-listener' and datname = current_database()`;
  const gap = await write(2);
  await c.until(gap.at(-1)!);
  const after = await write(1);
  await c.until(after[0]!);

  expect(c.events.map((e) => e.key)).toEqual([...first, ...whileDown, ...gap, ...after]);
  expect(resets).toEqual([]);
  expect(errors.every((e) => !e.fatal)).toBe(true);
  expect(subscription?.lastEventId).toBe(c.events.at(-1)?.id);
  subscription?.close();
  await subscription?.done;
});

test('subscribe() stops on a fatal answer (403) and reports it', async () => {
  const token = await tokenFor(server, 'cora', 'acme', 'customer');
  const errors: SubscribeError[] = [];
  const sub = subscribe({ url: `${server.url}/events/company/acme`, token, onEvent: () => {}, onError: (e) => errors.push(e) });
  await sub.done;
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ type: 'http', status: 403, fatal: true });
});
