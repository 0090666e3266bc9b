/** npm run migrate: applies sql/ to DATABASE_URL. */
import { connect } from '../src/db/connect';
import { migrate } from '../src/db/migrate';

const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('migrate: DATABASE_URL must be set\n');
  process.exit(2);
}
const sql = connect(url, { max: 1 });
migrate(sql)
  .then((applied) => process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n'))
  .catch((error: unknown) => {
    process.stderr.write(`migrate failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => sql.end());
