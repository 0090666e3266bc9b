import type { Page } from 'playwright-core';
import { listDomId, rowDomId } from '../src/streams/html';
import { badge, openDashboard, pageSuite } from './support/pages';
import { TEST_CAPTURE, caughtUp } from './support/service';

// The live pages' two old bugs, in a real Chromium, now through live(): a created row the page already
// shows, and a truncate.
const suite = pageSuite();

const addTrip = (id: string) =>
  suite.db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
         values (${id}, 'acme', ${`Route ${id}`}, '2026-12-24T08:00:00Z', 10, 10)`;
const rowsOf = (page: Page, key: string) => page.locator(`#${rowDomId('trip', key)}`).count();

/** Snapshot pages whose position the test replaced (so a test knows its rewrite took effect). */
let rewritten = 0;

/** The dashboard, live; `position` replaces the position live()'s snapshot pages say they reflect. */
async function dashboard(position?: () => string): Promise<Page> {
  const page = await openDashboard(suite, {
    before: async (p) => {
      if (!position) return;
      await p.route(/\/snapshots\/company\//, async (route) => {
        const res = await route.fetch();
        const body = (await res.text()).replace(/"lastEventId":"\d+"/, `"lastEventId":"${position()}"`);
        rewritten++;
        await route.fulfill({ response: res, body });
      });
    },
  });
  await badge(page, 'live');
  return page;
}

test("a create the page's rows already hold (a position below it, as wal capture can give) does not show the row twice", async () => {
  const [before] = await suite.db.sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from pgfeed.events`;
  await addTrip('twice');
  await caughtUp(suite.server, suite.db.sql);
  // The snapshot holds the row, but says its position is before the row's create: the stream replays the create.
  const page = await dashboard(() => before!.id);
  expect(rewritten).toBeGreaterThan(0);
  await addTrip('after'); // a live change, so the replayed create has certainly been applied
  await page.waitForSelector(`#${rowDomId('trip', 'after')}`);
  expect(await rowsOf(page, 'twice')).toBe(1);
  expect(await page.textContent(`[data-count="${listDomId('trip')}"]`)).toBe(
    String(await page.locator(`#${listDomId('trip')} .row`).count()),
  );
});

test('a truncate of a watched table empties its list', async () => {
  await addTrip('gone1');
  await addTrip('gone2');
  const page = await dashboard();
  expect(await rowsOf(page, 'gone1')).toBe(1);
  await suite.db.sql.begin(async (tx) => {
    if (TEST_CAPTURE === 'wal') {
      await tx`truncate trips cascade`;
    } else {
      // Row triggers never see a truncate (only wal capture records one): the test truncates and appends the
      // record wal capture would, under the lock that orders the log, and NOTIFYs it as the triggers do.
      await tx`select pg_advisory_xact_lock(pgfeed.commit_lock_key())`;
      await tx`truncate trips cascade`;
      await tx`
        with e as (
          insert into pgfeed.events (id, entity, op, company_id, user_id, key, row, changes)
          values (nextval('pgfeed.event_id_seq'), 'trip', 'truncate', null, null, '', '{}', null) returning *
        )
        select pg_notify(pgfeed.channel(), pgfeed.event_json(e)::text) from e`;
    }
  });
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 0, `#${listDomId('trip')} .row`);
  expect(await page.textContent(`[data-count="${listDomId('trip')}"]`)).toBe('0');
});
