/**
 * An operator migrates a watched table: every change still reaches the
 * streams exactly once, with the row as it was when it committed, in both
 * capture modes (the suite runs per mode, PGFEED_TEST_CAPTURE). The DDL
 * matrix: add, drop, rename a column, rename the key column, rename the
 * company and user columns, change a column's type, rename the table — each
 * (a) while pgfeed is stopped with changes pending (a backlog: in wal mode
 * the slot holds changes decoded after the DDL), and (b) landing in the middle
 * of a burst of writes. Application writes never fail because of capture.
 * docs/schema-changes.md says what is captured and how.
 */
import type { Pgfeed } from '../src/service';
import type { Sql } from '../src/db/connect';
import { closeService, serviceOnFreshDatabase, startService, tokenFor, TEST_CAPTURE } from './support/service';
import type { TestDatabase } from './support/db';
import { type Frame, openLiveStream } from './support/stream';

type Row = Record<string, unknown>;

jest.setTimeout(120_000);

/** The names writers use; a case's DDL may change them. */
interface Names {
  table: string;
  key: string;
  company: string;
  user: string;
}

interface Case {
  name: string;
  /** Statements run in one transaction, with the marker row written after them. */
  ddl: (t: string) => string;
  after: (before: Names) => Names;
  /** What the row of a change committed before (or after) the DDL looks like. */
  before: (row: Row) => boolean;
  afterRow: (row: Row) => boolean;
}

const same = (n: Names) => n;
const CASES: Case[] = [
  {
    name: 'ADD COLUMN',
    ddl: (t) => `alter table ${t} add column note text default 'x'`,
    after: same,
    before: (r) => !('note' in r),
    afterRow: (r) => r.note === 'x',
  },
  {
    name: 'DROP COLUMN',
    ddl: (t) => `alter table ${t} drop column label`,
    after: same,
    before: (r) => r.label === 'l',
    afterRow: (r) => !('label' in r),
  },
  {
    name: 'RENAME COLUMN',
    ddl: (t) => `alter table ${t} rename column label to title`,
    after: same,
    before: (r) => r.label === 'l' && !('title' in r),
    afterRow: (r) => r.title === 'l' && !('label' in r),
  },
  {
    name: 'RENAME the key column',
    ddl: (t) => `alter table ${t} rename column id to ref`,
    after: (n) => ({ ...n, key: 'ref' }),
    before: (r) => 'id' in r,
    afterRow: (r) => 'ref' in r && !('id' in r),
  },
  {
    name: 'RENAME the company and user columns',
    ddl: (t) => `alter table ${t} rename column company_id to tenant; alter table ${t} rename column user_id to owner`,
    after: (n) => ({ ...n, company: 'tenant', user: 'owner' }),
    before: (r) => 'companyId' in r,
    afterRow: (r) => 'tenant' in r && 'owner' in r && !('companyId' in r),
  },
  {
    name: 'ALTER COLUMN TYPE',
    ddl: (t) => `alter table ${t} alter column n type text using n::text`,
    after: same,
    before: (r) => typeof r.n === 'number',
    afterRow: (r) => typeof r.n === 'string',
  },
  {
    name: 'RENAME the table',
    ddl: (t) => `alter table ${t} rename to ${t}_renamed`,
    after: (n) => ({ ...n, table: `${n.table}_renamed` }),
    before: () => true,
    afterRow: () => true,
  },
];

const PG_UNDEFINED_COLUMN = '42703';
const PG_UNDEFINED_TABLE = '42P01';

let db: TestDatabase;
let server: Pgfeed;
/** Events captured of events committed, per case: the figures of the report. */
const figures: string[] = [];

beforeAll(async () => ({ db, server } = await serviceOnFreshDatabase()));
afterAll(async () => {
  if (process.env.PGFEED_TEST_FIGURES) process.stdout.write(`schema changes (${TEST_CAPTURE}):\n${figures.join('\n')}\n`);
  await closeService(server, db);
});

/**
 * One writer of a case's table: inserts a row then updates it, each its own
 * transaction, with the names in force. A statement refused because the
 * DDL renamed what it names is retried with the new names: what the
 * application itself would do; every committed change is recorded.
 */
function writer(sql: Sql, names: { current: Names; next: Names }, company: string, committed: string[]) {
  const run = async (stmt: (n: Names) => Promise<unknown>) => {
    try {
      await stmt(names.current);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== PG_UNDEFINED_COLUMN && code !== PG_UNDEFINED_TABLE) throw error;
      names.current = names.next;
      await stmt(names.current);
    }
  };
  return async (id: string, n: number) => {
    await run(
      (x) =>
        sql`insert into ${sql(x.table)} (${sql(x.key)}, ${sql(x.company)}, ${sql(x.user)}, n) values (${id}, ${company}, 'u1', ${n})`,
    );
    committed.push(`insert:${id}`);
    await run((x) => sql`update ${sql(x.table)} set n = ${n + 1} where ${sql(x.key)} = ${id}`);
    committed.push(`update:${id}`);
  };
}

async function createWatched(table: string): Promise<void> {
  await db.sql.unsafe(
    `create table ${table} (id text primary key, company_id text not null, user_id text, label text default 'l', n int)`,
  );
  await db.sql`select pgfeed.watch(${table}::regclass, company_column => 'company_id', user_column => 'user_id')`;
}

/** The DDL and, in its transaction, a marker row: the events before it committed before the DDL, the rest after. */
async function migrate(c: Case, table: string, names: Names, company: string): Promise<void> {
  const after = c.after(names);
  await db.sql.begin(async (tx) => {
    await tx.unsafe(c.ddl(table));
    await tx`insert into ${tx(after.table)} (${tx(after.key)}, ${tx(after.company)}, ${tx(after.user)}, n) values ('marker', ${company}, 'u1', 0)`;
  });
}

/** Waits for `n` change events (or gives up after a while, so the count shows what arrived). */
async function eventsOf(stream: Awaited<ReturnType<typeof openLiveStream>>, n: number): Promise<Frame[]> {
  await stream.waitFor(() => stream.events().length >= n, { timeoutMs: 30_000 }).catch(() => undefined);
  return stream.events();
}

/** What a user checks: each committed change once, in scope, with its row as it was at commit. */
function check(c: Case, label: string, events: Frame[], committed: string[], company: string, entity: string): void {
  const got = events.map((f) => `${f.json.op}:${f.json.key}`);
  figures.push(`  ${label}: ${got.length} of ${committed.length} changes captured`);
  expect(got.length).toBe(committed.length);
  expect([...got].sort()).toEqual([...committed].sort());
  const marker = got.indexOf('insert:marker');
  events.forEach((f, i) => {
    expect({ entity: f.json.entity, companyId: f.json.companyId, userId: f.json.userId }).toEqual({
      entity,
      companyId: company,
      userId: 'u1',
    });
    const ok = i < marker ? c.before(f.json.row) : c.afterRow(f.json.row);
    if (!ok) throw new Error(`${label}: event ${f.json.id} (${got[i]}) has the wrong row shape: ${JSON.stringify(f.json.row)}`);
  });
}

describe.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, i) => {
  test('while pgfeed is stopped with changes pending', async () => {
    const table = `ddl_stopped_${i}`;
    const company = `stopped-${i}`;
    await createWatched(table);
    const names = {
      current: { table, key: 'id', company: 'company_id', user: 'user_id' },
      next: c.after({ table, key: 'id', company: 'company_id', user: 'user_id' }),
    };
    const committed: string[] = [];
    const write = writer(db.sql, names, company, committed);
    const from = server.status().position;
    await server.close();
    for (let k = 0; k < 5; k++) await write(`b${k}`, k);
    await migrate(c, table, names.current, company);
    committed.push('insert:marker');
    names.current = names.next;
    for (let k = 0; k < 5; k++) await write(`a${k}`, k);

    server = await startService(db.url);
    const stream = await openLiveStream(`${server.url}/events/company/${company}`, {
      token: await tokenFor(server, 'ops', company, 'admin'),
      lastEventId: from,
    });
    check(c, `${c.name}, stopped`, await eventsOf(stream, committed.length), committed, company, table);
    stream.close();
  });

  test('landing in a burst of writes', async () => {
    const table = `ddl_burst_${i}`;
    const company = `burst-${i}`;
    await createWatched(table);
    const stream = await openLiveStream(`${server.url}/events/company/${company}`, {
      token: await tokenFor(server, 'ops', company, 'admin'),
    });
    const start = { table, key: 'id', company: 'company_id', user: 'user_id' };
    const names = { current: start, next: c.after(start) };
    const committed: string[] = [];
    const write = writer(db.sql, names, company, committed);
    let migrated = false;
    let doneAfter = 0;
    let underway!: () => void;
    const twelve = new Promise<void>((resolve) => (underway = resolve));
    const writers = Array.from({ length: 3 }, async (_, w) => {
      for (let k = 0; !migrated || doneAfter < 30; k++) {
        await write(`w${w}-${k}`, k);
        if (committed.length >= 12) underway();
        if (migrated) doneAfter += 2;
      }
    });
    await twelve;
    await migrate(c, table, start, company);
    committed.push('insert:marker');
    migrated = true;
    await Promise.all(writers);
    check(c, `${c.name}, burst`, await eventsOf(stream, committed.length), committed, company, table);
    stream.close();
  });
});
