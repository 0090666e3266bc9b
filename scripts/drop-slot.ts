/**
 * npm run capture:drop-slot: drops CAPTURE=wal's replication slot and
 * publication from DATABASE_URL's database (CAPTURE_SLOT, default
 * pgfeed_<database>). A slot keeps WAL on the server for as long as it
 * exists: run this when pgfeed is removed or moved back to CAPTURE=trigger.
 */
import { defaultSlotName, dropSlot } from '../src/capture/wal/slot';
import { connect } from '../src/db/connect';

const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('capture:drop-slot: DATABASE_URL must be set\n');
  process.exit(2);
}
const slot = process.env.CAPTURE_SLOT || defaultSlotName(url);
const sql = connect(url, { max: 1 });
(async () => {
  const dropped = await dropSlot(sql, slot);
  const [p] = await sql<{ name: string | null }[]>`
    select pubname as name from pg_publication where pubname = (select pgfeed.publication())`;
  if (p?.name) await sql`drop publication ${sql(p.name)}`;
  return dropped;
})()
  .then((dropped) => process.stdout.write(dropped ? `dropped replication slot ${slot}\n` : `no replication slot ${slot}\n`))
  .catch((error: unknown) => {
    process.stderr.write(`capture:drop-slot failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => sql.end());
