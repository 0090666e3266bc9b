/**
 * A stopped service leaves nothing running in the process that started it:
 * no timer, no socket (what an application that starts and stops pgfeed, or
 * another project's test suite, would otherwise accumulate).
 */
import { freshDatabase, type TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { trackHandles } from './support/handles';
import { startService } from './support/service';

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

test('a service started and stopped 5 times leaves no timer or socket behind', async () => {
  // What pgfeed's code creates, its driver, and the HTTP app's rate limiters (express-rate-limit's stores).
  const handles = trackHandles(/\/src\/|\/(node_modules|vendor)\/(postgres|express-rate-limit)\//);
  try {
    for (let i = 0; i < 5; i++) {
      const server = await startService(db.url);
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      await server.close();
    }
    // Destruction is reported asynchronously: wait for it, then say what is left.
    await eventually(() => Object.keys(handles.live()).length === 0, { timeoutMs: 5000 }).catch(() => undefined);
    expect(handles.origins()).toEqual([]);
  } finally {
    handles.stop();
  }
});
