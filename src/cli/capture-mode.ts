/**
 * `pgfeed capture-mode`: shows, or switches, how the database fills the log.
 * Every instance of a database must use the database's mode (one that does
 * not refuses to start), so switching is this explicit step, not a side
 * effect of starting an instance with another CAPTURE.
 */
import { checkPrerequisites, defaultSlotName, ensureSlot } from '../capture/wal/slot';
import { migrate } from '../db/migrate';
import { type Command, UsageError, withDatabase } from './command';

export const captureModeCommand: Command = {
  summary: "show or switch the database's capture mode (CAPTURE=trigger|wal)",
  usage: `
usage: pgfeed capture-mode [--set trigger|wal]

Without --set, prints the mode of DATABASE_URL's database (trigger, wal, or
none before the first instance started). With --set, switches it: every
watched table moves to that capture path in one transaction (writers of a
table wait for its switch), so each change is captured by exactly one path.
For wal it first creates the publication and the replication slot
(CAPTURE_SLOT, default pgfeed_<database>). Then restart every instance with
the new CAPTURE: one whose CAPTURE differs from the database's refuses to
start. Going back to trigger: run this while the wal instances still run, so
they append what the slot still holds, then restart them with
CAPTURE=trigger and run \`pgfeed drop-slot\`. See docs/operations.md.

  DATABASE_URL=postgres://user:password@host:5432/db pgfeed capture-mode --set wal`,
  options: { set: { type: 'string' } },
  run: (values, env) =>
    withDatabase(env, async (sql, config) => {
      const mode = values.set;
      if (mode !== undefined && mode !== 'trigger' && mode !== 'wal') {
        throw new UsageError(`--set must be trigger or wal, not "${String(mode)}"`);
      }
      await migrate(sql);
      if (mode === 'wal') {
        await checkPrerequisites(sql);
        // The publication and the slot first, then the tables: no change falls between the two paths.
        await ensureSlot(sql, config.CAPTURE_SLOT ?? defaultSlotName(config.DATABASE_URL));
      }
      if (mode !== undefined) await sql`select pgfeed.set_capture(${mode})`;
      const [r] = await sql<{ mode: string | null }[]>`select mode from pgfeed.capture_state`;
      process.stdout.write(`capture mode: ${r?.mode ?? 'none (the first instance to start claims its CAPTURE)'}\n`);
      return 0;
    }),
};
