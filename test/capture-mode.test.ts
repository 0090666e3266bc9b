/**
 * One database, one capture mode. An instance whose CAPTURE differs from the
 * database's refuses to start with one line (two paths drawing ids at once
 * could break commit order); switching is the explicit `pgfeed capture-mode
 * --set` step. And both paths draw ids under the one ordering lock. Runs in
 * both modes, on every server.
 */
import type { Pgfeed } from '../src/service';
import { finish, pgfeed } from './support/cli';
import { fleetOnFreshDatabase, startService, TEST_CAPTURE, tokenFor } from './support/service';
import { openLiveStream } from './support/stream';

const fleet = fleetOnFreshDatabase();
const OTHER = TEST_CAPTURE === 'wal' ? 'trigger' : 'wal';

const mode = async () => (await fleet.db.sql<{ mode: string | null }[]>`select mode from pgfeed.capture_state`)[0]?.mode;

/** `server` delivers a stock item written now to acme's live company stream. */
async function delivers(server: Pgfeed, key: string): Promise<void> {
  const stream = await openLiveStream(`${server.url}/events/company/acme`, {
    token: await tokenFor(server, 'alice', 'acme', 'admin'),
  });
  await fleet.db.sql`insert into stock_items (id, company_id, sku, name, quantity) values (${key}, 'acme', ${key}, 'x', 1)`;
  await stream.waitFor((f) => f.json?.key === key);
  stream.close();
}

test('an instance with another CAPTURE than its database refuses to start, with one line, and leaves nothing behind', async () => {
  const first = await fleet.start();
  expect(await mode()).toBe(TEST_CAPTURE);
  await expect(fleet.start({ CAPTURE: OTHER })).rejects.toThrow(
    new RegExp(
      `^CAPTURE=${OTHER}, but this database captures with CAPTURE=${TEST_CAPTURE}: all instances of a database use its mode\\. ` +
        `Start with CAPTURE=${TEST_CAPTURE}, or switch the database first with \`pgfeed capture-mode --set ${OTHER}\` \\(docs/operations\\.md\\)$`,
    ),
  );
  expect(await mode()).toBe(TEST_CAPTURE);
  if (OTHER === 'wal') {
    // Refused before its slot was created: nothing holds WAL for it.
    const [slots] = await fleet.db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_replication_slots where database = current_database()`;
    expect(slots?.n).toBe(0);
  }
  // The instance of the database's mode is unaffected.
  await delivers(first, 'kept');
  await first.close();
});

test('pgfeed capture-mode --set switches the database; then only instances of the new mode start', async () => {
  const env = { DATABASE_URL: fleet.db.url };
  const shown = await finish(pgfeed(['capture-mode'], env));
  expect(shown).toMatchObject({ code: 0, stdout: `capture mode: ${TEST_CAPTURE}\n` });
  const bad = await finish(pgfeed(['capture-mode', '--set', 'notify'], env));
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe('pgfeed capture-mode: --set must be trigger or wal, not "notify" (see pgfeed capture-mode --help)\n');

  const [server] = await fleet.db.sql<{ wal_level: string }[]>`select current_setting('wal_level') as wal_level`;
  const switched = await finish(pgfeed(['capture-mode', '--set', OTHER], env));
  if (OTHER === 'wal' && server?.wal_level !== 'logical') {
    // This server cannot do wal: the switch says why and changes nothing.
    expect(switched.code).toBe(1);
    expect(switched.stderr).toMatch(/^pgfeed capture-mode failed: CAPTURE=wal needs wal_level=logical/);
    expect(await mode()).toBe(TEST_CAPTURE);
    return;
  }
  expect(switched).toMatchObject({ code: 0, stdout: `capture mode: ${OTHER}\n` });
  await expect(startService(fleet.db.url, { CAPTURE: TEST_CAPTURE })).rejects.toThrow(/^CAPTURE=\w+, but this database captures/);
  const next: Pgfeed = await fleet.start({ CAPTURE: OTHER });
  await delivers(next, 'switched');
  await next.close();
});

test('every id drawer takes the one ordering lock: the WAL path waits for a trigger-path commit in progress', async () => {
  // What a trigger-captured transaction holds while it commits its events.
  await fleet.db.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(pgfeed.commit_lock_key())`;
    const other = fleet.db.sql.reserve();
    const conn = await other;
    try {
      await conn`set lock_timeout = '300ms'`;
      // The WAL path's other id drawer (a gap record); the batch append takes the same lock first.
      await expect(conn`select pgfeed.wal_gap()`).rejects.toMatchObject({ code: '55P03' });
    } finally {
      conn.release();
    }
  });
  const [after] = await fleet.db.sql<{ n: number }[]>`select count(*)::int as n from pgfeed.events where op = 'reset'`;
  expect(after?.n).toBe(0);
});
