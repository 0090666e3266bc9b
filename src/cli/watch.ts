/**
 * `pgfeed watch`, `pgfeed unwatch`, `pgfeed watches`: operators declare which
 * tables stream, and what anonymous public streams may see of them, without
 * writing code. Built on pgfeed.watch(), pgfeed.unwatch() and
 * pgfeed.set_public_columns(); running instances pick the change up within
 * a couple of seconds (their catalog re-reads it).
 */
import { migrate } from '../db/migrate';
import type { Sql } from '../db/connect';
import { type Command, UsageError, withDatabase } from './command';

interface Watched {
  table: string;
  entity: string;
  companyColumn: string;
  userColumn: string | null;
  keyColumn: string;
  publicColumns: string[] | null;
}

async function listWatched(sql: Sql): Promise<Watched[]> {
  return sql<Watched[]>`
    select w.table_name::text as table, w.entity, w.company_column as "companyColumn", w.user_column as "userColumn",
           w.key_column as "keyColumn", p.columns as "publicColumns"
      from pgfeed.watched w left join pgfeed.watch_public p on p.table_name = w.table_name
     order by w.entity`;
}

function describeWatched(w: Watched): string {
  return (
    `${w.table} as ${w.entity} (company: ${w.companyColumn}, user: ${w.userColumn ?? '-'}, key: ${w.keyColumn}, ` +
    `public: ${w.publicColumns ? w.publicColumns.join(', ') : 'no'})`
  );
}

/** Prints the watched tables, one a line. */
async function printList(sql: Sql): Promise<number> {
  const rows = await listWatched(sql);
  process.stdout.write(rows.length ? rows.map((w) => `${describeWatched(w)}\n`).join('') : 'no watched tables\n');
  return 0;
}

/** `a,b , c` → ['a','b','c']; '' → [] (not public). */
function columnList(text: string): string[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const c of items) if (c.length > 63) throw new UsageError(`column name "${c}" is longer than 63 characters`);
  return items;
}

/** The single `<table>` positional. */
function tableOf(positionals: string[], command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? `which table? pgfeed ${command} <table>` : 'one table at a time');
  }
  return positionals[0]!;
}

const text = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

export const watchCommand: Command = {
  summary: 'stream a table: pgfeed watch <table> --company-column … --public-columns … (--list: what is watched)',
  usage: `
usage: pgfeed watch <table> [--company-column C] [--user-column U] [--key-column K] [--entity NAME]
                            [--public-columns A,B,...]
       pgfeed watch --list

Makes every INSERT, UPDATE and DELETE of <table> (optionally schema-qualified:
billing.invoices) an event on the streams, whoever writes it, with
pgfeed.watch(). Events carry the entity name (default: the table's name), the
company from --company-column (default company_id), the user from
--user-column (default: none; then user streams never carry the table) and the
row key from --key-column (default id).

--public-columns names the columns anonymous public streams and snapshots
(/events/public/:companyId, /snapshots/public/:companyId) show of a row; only
those ever leave. Without it a newly watched table is not public, and a
watched one keeps its public columns; --public-columns "" makes it private.

Running again with other options changes them. Applies pgfeed's migrations
first (schema pgfeed only). Running instances pick the change up within about
two seconds.

  DATABASE_URL=postgres://... pgfeed watch orders --company-column tenant_id --user-column customer_id \\
      --public-columns id,status,updated_at
  DATABASE_URL=postgres://... pgfeed watch --list`,
  positionals: '<table>',
  options: {
    'company-column': { type: 'string' },
    'user-column': { type: 'string' },
    'key-column': { type: 'string' },
    entity: { type: 'string' },
    'public-columns': { type: 'string' },
    list: { type: 'boolean' },
  },
  run: (values, env, positionals = []) => {
    if (values.list) {
      if (positionals.length > 0) throw new UsageError('--list takes no table');
      return withDatabase(env, async (sql) => {
        await migrate(sql);
        return printList(sql);
      });
    }
    const table = tableOf(positionals, 'watch');
    const publicColumns = text(values['public-columns']);
    const columns = publicColumns === undefined ? undefined : columnList(publicColumns);
    return withDatabase(env, async (sql) => {
      await migrate(sql);
      const watched = await sql.begin(async (tx) => {
        const [w] = await tx<{ entity: string }[]>`
          select pgfeed.watch(${table}::regclass,
                              company_column => ${text(values['company-column']) ?? 'company_id'},
                              user_column => ${text(values['user-column']) ?? null},
                              key_column => ${text(values['key-column']) ?? 'id'},
                              entity => ${text(values.entity) ?? null}) as entity`;
        if (columns !== undefined) await tx`select pgfeed.set_public_columns(${table}::regclass, ${columns}::text[])`;
        return w!.entity;
      });
      const row = (await listWatched(sql)).find((w) => w.entity === watched)!;
      process.stdout.write(`watching ${describeWatched(row)}\n`);
      return 0;
    });
  },
};

export const unwatchCommand: Command = {
  summary: 'stop streaming a table: pgfeed unwatch <table>',
  usage: `
usage: pgfeed unwatch <table>

Stops producing events for <table> (pgfeed.unwatch()) and forgets its public
columns. Events already in the log stay until EVENT_RETENTION prunes them.

  DATABASE_URL=postgres://... pgfeed unwatch orders`,
  positionals: '<table>',
  options: {},
  run: (_values, env, positionals = []) => {
    const table = tableOf(positionals, 'unwatch');
    return withDatabase(env, async (sql) => {
      await migrate(sql);
      const [w] = await sql<{ watched: boolean }[]>`
        select exists (select 1 from pgfeed.watched where table_name = ${table}::regclass) as watched`;
      if (!w?.watched) {
        process.stderr.write(`pgfeed unwatch: ${table} is not watched\n`);
        return 1;
      }
      await sql`select pgfeed.unwatch(${table}::regclass)`;
      process.stdout.write(`stopped watching ${table}\n`);
      return 0;
    });
  },
};

export const watchesCommand: Command = {
  summary: 'list the watched tables (as pgfeed watch --list)',
  usage: `
usage: pgfeed watches

Lists the watched tables: entity, company, user and key columns, public columns.

  DATABASE_URL=postgres://... pgfeed watches`,
  options: {},
  run: (_values, env) =>
    withDatabase(env, async (sql) => {
      await migrate(sql);
      return printList(sql);
    }),
};

/** The commands of this file, for src/cli/index.ts. */
export const WATCH_COMMANDS: Record<string, Command> = {
  watch: watchCommand,
  unwatch: unwatchCommand,
  watches: watchesCommand,
};
