import { connect } from '../../src/db/connect';
import { migrate } from '../../src/db/migrate';
import { domainMigrations } from '../../src/domain';
import { ensureBuilt } from './build';
import { startTestServer, type TestServer } from './database-server';
import { databaseUrl } from './db';

declare global {
  var __PGFEED_TEST_SERVER__: TestServer | undefined;
}

/** Builds dist/ when stale, starts (or picks) the server, migrates a template database (pgfeed and the demo domain) that each test file clones. */
export default async function globalSetup(): Promise<void> {
  ensureBuilt();
  const server = await startTestServer();
  globalThis.__PGFEED_TEST_SERVER__ = server;
  const template = `pgfeed_template_${process.pid}`;
  const admin = connect(server.adminUrl, { max: 1 });
  const capture = process.env.PGFEED_TEST_CAPTURE === 'wal' ? 'wal' : 'trigger';
  const [level] = await admin<{ wal_level: string }[]>`select current_setting('wal_level') as wal_level`;
  if (capture === 'wal' && level?.wal_level !== 'logical') {
    await admin.end();
    await server.stop();
    throw new Error(
      `PGFEED_TEST_CAPTURE=wal, but the ${server.kind} PostgreSQL has wal_level=${level?.wal_level}: it cannot run the suite in wal mode`,
    );
  }
  await admin.unsafe(`drop database if exists ${template}`);
  await admin.unsafe(`create database ${template}`);
  await admin.end();
  const sql = connect(databaseUrl(server.adminUrl, template), { max: 1 });
  await migrate(sql);
  await migrate(sql, domainMigrations());
  await sql.end();
  process.env.PGFEED_TEST_ADMIN_URL = server.adminUrl;
  process.env.PGFEED_TEST_TEMPLATE = template;
  process.stdout.write(`\npgfeed tests: PostgreSQL from ${server.kind}, CAPTURE=${capture}\n`);
}
