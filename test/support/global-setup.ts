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
  await admin.unsafe(`drop database if exists ${template}`);
  await admin.unsafe(`create database ${template}`);
  await admin.end();
  const sql = connect(databaseUrl(server.adminUrl, template), { max: 1 });
  await migrate(sql);
  await migrate(sql, domainMigrations());
  await sql.end();
  process.env.PGFEED_TEST_ADMIN_URL = server.adminUrl;
  process.env.PGFEED_TEST_TEMPLATE = template;
  process.stdout.write(`\npgfeed tests: PostgreSQL from ${server.kind}\n`);
}
