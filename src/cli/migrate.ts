/** `pgfeed migrate`: applies pgfeed's migrations and the demo domain's to DATABASE_URL. */
import { migrate } from '../db/migrate';
import { domainMigrations } from '../domain';
import { type Command, withDatabase } from './command';

export const migrateCommand: Command = {
  summary: "apply pgfeed's migrations (schema pgfeed) and the demo's to DATABASE_URL",
  usage: `
usage: pgfeed migrate

Applies pgfeed's migrations (sql/, schema pgfeed) and the demo domain's
(sql/domain/) to DATABASE_URL and prints what it applied. \`pgfeed start\` does
the same at start; an advisory lock lets several instances migrate at once.

  DATABASE_URL=postgres://user:password@host:5432/db pgfeed migrate`,
  options: {},
  run: (_values, env) =>
    withDatabase(env, async (sql) => {
      const applied = [...(await migrate(sql)), ...(await migrate(sql, domainMigrations()))];
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
      return 0;
    }),
};
