/**
 * The one supervised loop (src/db/supervise.ts) on its own: what an attempt
 * creates is released whatever ends it, failures are counted the way /readyz
 * reports them. The connections it supervises are tested against PostgreSQL
 * in listener-faults, wal-capture and wal-supervise.
 */
import { type Session, Supervisor, type SupervisorOptions } from '../src/db/supervise';
import { createLogger } from '../src/log';
import { eventually } from './support/eventually';

const logger = createLogger('silent');

function supervisor(open: SupervisorOptions['open'], more: Partial<SupervisorOptions> = {}): Supervisor {
  return new Supervisor({ name: 'test', logger, open, delay: () => 0, ...more });
}

test("an attempt's resources are released newest first when it ends, and one created after the end at once", async () => {
  const released: string[] = [];
  let first: Session | undefined;
  let attempts = 0;
  const s = supervisor(async (session) => {
    attempts++;
    if (first) return; // later attempts hold until stop
    first = session;
    session.own('connection', (r) => released.push(r));
    session.defer(() => released.push('timer'));
    session.end(new Error('lost'));
    session.own('late', (r) => released.push(r));
  });
  s.start();
  await eventually(() => attempts >= 2, { what: 'a second attempt' });
  expect(released).toEqual(['late', 'timer', 'connection']);
  await s.stop();
});

test('stop() while an attempt is still opening releases what it created, and what it creates later', async () => {
  const released: string[] = [];
  let opened!: () => void;
  const opening = new Promise<void>((resolve) => (opened = resolve));
  let session: Session | undefined;
  const s = supervisor(async (sess) => {
    session = sess;
    sess.own('socket', (r) => released.push(r));
    await opening; // a connect that has not answered yet
    sess.own('stream', (r) => released.push(r));
  });
  s.start();
  await eventually(() => session !== undefined, { what: 'the attempt opening' });
  await s.stop();
  expect(released).toEqual(['socket']);
  expect(session!.active).toBe(false);
  opened();
  await eventually(() => released.length === 2, { what: 'the late resource released' });
  expect(released).toEqual(['socket', 'stream']);
});

test('failures are counted until an attempt proves healthy; expected errors are no failure; an open that hangs is given up', async () => {
  let n = 0;
  let healthyNow: Session | undefined;
  const seen: { failures: number; lastError: string | undefined }[] = [];
  const s: Supervisor = supervisor(
    async (session) => {
      n++;
      if (n <= 3) throw new Error(`refused ${n}`);
      if (n === 4) return new Promise<never>(() => {}); // hangs: openTimeoutMs ends it
      if (n === 5) throw Object.assign(new Error('busy'), { code: 'busy' });
      if (n === 6) throw new Error('refused again');
      healthyNow = session;
      session.healthy();
    },
    {
      expected: (e) => (e as { code?: string }).code === 'busy',
      openTimeoutMs: 50,
      onEnd: () => seen.push({ failures: s.health.failures, lastError: s.health.lastError }),
    },
  );
  s.start();
  await eventually(() => healthyNow !== undefined, { what: 'a healthy attempt' });
  expect(seen).toEqual([
    { failures: 1, lastError: 'refused 1' },
    { failures: 2, lastError: 'refused 2' },
    { failures: 3, lastError: 'refused 3' },
    { failures: 4, lastError: 'test: not connected after 50 ms' },
    { failures: 0, lastError: undefined }, // busy: the normal state of a standby
    { failures: 1, lastError: 'refused again' },
  ]);
  expect(s.health).toMatchObject({ failures: 0, lastError: undefined, attempts: 7 });
  await s.stop();
});
