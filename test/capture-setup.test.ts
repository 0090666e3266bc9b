/**
 * CAPTURE=wal refuses to start, with one clear line, where logical replication
 * cannot work: a server without wal_level=logical, or a user without the
 * REPLICATION attribute. Runs in both modes, on every server.
 */
import { randomBytes } from 'node:crypto';
import { connect } from '../src/db/connect';
import { domain } from '../src/domain';
import { startPgfeed } from '../src/service';
import { createLogger } from '../src/log';
import { freshDatabase, type TestDatabase } from './support/db';
import { TEST_JWT_SECRET } from './support/service';

let db: TestDatabase;
const role = `pgfeed_norepl_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await freshDatabase();
  await db.sql.unsafe(`create role ${role} login password 'norepl' nosuperuser noreplication`);
  await db.sql.unsafe(`grant all on schema pgfeed, public to ${role}`);
  await db.sql.unsafe(`grant all on all tables in schema pgfeed, public to ${role}`);
});
afterAll(async () => {
  await db.sql.unsafe(`drop owned by ${role}`);
  await db.drop();
  const admin = connect(process.env.PGFEED_TEST_ADMIN_URL!, { max: 1 });
  await admin.unsafe(`drop role if exists ${role}`);
  await admin.end();
});

test('CAPTURE=wal names what is missing: wal_level=logical, or the REPLICATION attribute', async () => {
  const [server] = await db.sql<{ wal_level: string }[]>`select current_setting('wal_level') as wal_level`;
  const url = new URL(db.url);
  url.username = role;
  url.password = 'norepl';
  const start = startPgfeed({
    databaseUrl: url.toString(),
    ...domain,
    migrate: false,
    logger: createLogger('silent'),
    config: { PORT: 0, HOST: '127.0.0.1', JWT_SECRET: TEST_JWT_SECRET, CAPTURE: 'wal' },
  });
  if (server!.wal_level === 'logical') {
    await expect(start).rejects.toThrow(
      /^CAPTURE=wal needs a user with the REPLICATION attribute \(ALTER ROLE <user> REPLICATION\)/,
    );
  } else {
    await expect(start).rejects.toThrow(`CAPTURE=wal needs wal_level=logical, but the server has wal_level=${server!.wal_level}`);
  }
});
