/**
 * `pgfeed drop-slot`: removes what CAPTURE=wal leaves on the server. A
 * replication slot keeps WAL for as long as it exists, so it must not outlive
 * pgfeed: run this when removing pgfeed or going back to CAPTURE=trigger,
 * after stopping every instance (a running capturer would create it again).
 */
import { defaultSlotName, dropSlot } from '../capture/wal/slot';
import { type Command, withDatabase } from './command';

export const dropSlotCommand: Command = {
  summary: "drop CAPTURE=wal's replication slot and publication (when removing pgfeed)",
  usage: `
usage: pgfeed drop-slot

Drops the replication slot of CAPTURE=wal (CAPTURE_SLOT, default
pgfeed_<database>) and the publication pgfeed_capture from DATABASE_URL's
database, ending the connection that holds the slot. A slot keeps WAL on the
server for as long as it exists: run this when you remove pgfeed or go back to
CAPTURE=trigger, after stopping every instance. Safe to run again.

  DATABASE_URL=postgres://user:password@host:5432/db pgfeed drop-slot`,
  options: {},
  run: (_values, env) =>
    withDatabase(env, async (sql, config) => {
      const slot = config.CAPTURE_SLOT ?? defaultSlotName(config.DATABASE_URL);
      const dropped = await dropSlot(sql, slot);
      // The publication is named by pgfeed.publication(); a database without pgfeed's schema has none.
      const [installed] = await sql<{ yes: boolean }[]>`select to_regprocedure('pgfeed.publication()') is not null as yes`;
      const [p] = installed?.yes
        ? await sql<{ name: string }[]>`select pubname as name from pg_publication where pubname = pgfeed.publication()`
        : [];
      if (p) await sql`drop publication ${sql(p.name)}`;
      process.stdout.write(
        (dropped ? `dropped replication slot ${slot}` : `no replication slot ${slot}`) +
          (p ? `; dropped publication ${p.name}\n` : '\n'),
      );
      return 0;
    }),
};
