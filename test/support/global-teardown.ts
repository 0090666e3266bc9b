import { connect } from '../../src/db/connect';

export default async function globalTeardown(): Promise<void> {
  const server = globalThis.__PGFEED_TEST_SERVER__;
  const template = process.env.PGFEED_TEST_TEMPLATE;
  if (server && template && server.kind === 'url') {
    // A shared server: leave it as it was found.
    const admin = connect(server.adminUrl, { max: 1 });
    const leftovers = await admin<{ datname: string }[]>`
      select datname from pg_database where datname like ${'pgfeed_t_' + process.pid + '_%'} or datname = ${template}`;
    for (const { datname } of leftovers) {
      await admin`select pg_terminate_backend(active_pid) from pg_replication_slots where database = ${datname} and active`;
      await admin`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = ${datname} and not active`;
      await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    }
    await admin.end();
  }
  await server?.stop();
}
