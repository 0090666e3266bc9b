/** npm run migrate: applies pgfeed's migrations and the demo domain's to DATABASE_URL. */
import { connect } from '../src/db/connect';
import { migrate } from '../src/db/migrate';
import { domainMigrations } from '../src/domain';

const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('migrate: DATABASE_URL must be set\n');
  process.exit(2);
}
const sql = connect(url, { max: 1 });
(async () => [...(await migrate(sql)), ...(await migrate(sql, domainMigrations()))])()
  .then((applied) => process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n'))
  .catch((error: unknown) => {
    process.stderr.write(`migrate failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => sql.end());
