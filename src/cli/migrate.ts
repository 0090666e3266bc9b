/** `pgfeed migrate`: applies pgfeed's migrations (schema pgfeed only) to DATABASE_URL; `--demo` adds the demo's tables. */
import { migrate } from '../db/migrate';
import { type Command, withDatabase } from './command';

export const migrateCommand: Command = {
  summary: "apply pgfeed's migrations (schema pgfeed only) to DATABASE_URL",
  usage: `
usage: pgfeed migrate [--demo]

Applies pgfeed's migrations (sql/, schema pgfeed: it creates nothing outside it)
to DATABASE_URL and prints what it applied. \`pgfeed start\` does the same at
start; an advisory lock lets several instances migrate at once.

  --demo   also the demo application's tables (sql/domain/), as \`pgfeed demo\` does

  DATABASE_URL=postgres://user:password@host:5432/db pgfeed migrate`,
  options: { demo: { type: 'boolean' } },
  run: (values, env) =>
    withDatabase(env, async (sql) => {
      const applied = await migrate(sql);
      if (values.demo) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { domainMigrations } = require('../domain') as typeof import('../domain');
        applied.push(...(await migrate(sql, domainMigrations())));
      }
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
      return 0;
    }),
};
