/**
 * The `writers` scenario: what capture costs the application's own writes.
 * N concurrent writers (a process of their own, scripts/bench/writer-process.ts)
 * commit one-row UPDATEs on a watched table for a fixed time, with no capture,
 * with a bare WAL reader, with CAPTURE=trigger and with CAPTURE=wal, each on a
 * fresh database of the same server. Afterwards the log must hold exactly one
 * event per commit (wal: once the capturer has caught up, which is timed).
 */
import { randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import path from 'node:path';
import { type Sql, connect } from '../../src/db/connect';
import { migrate } from '../../src/db/migrate';
import { domain, domainMigrations } from '../../src/domain';
import { createLogger } from '../../src/log';
import { type Pgfeed, startPgfeed } from '../../src/service';
import { ReplicationStream } from '../../src/capture/wal/replication';
import { walCaptured } from '../../test/support/service';
import { now } from './clock';
import type { LatencyStats } from './stats';
import type { WriterJob } from './writer-process';

/**
 * walReader: the watched table set up for CAPTURE=wal (publication, REPLICA
 * IDENTITY FULL, slot) and a pgoutput consumer that only confirms (every 100 ms) what it
 * receives. No capture can cost writers less than that on this machine.
 */
export type CaptureCase = 'none' | 'walReader' | 'trigger' | 'wal';

export interface WritersResult {
  transactionsPerSecond: number;
  commitLatencyMs: LatencyStats;
  /** Events in the log for the writes: must equal the transactions (none, walReader: 0). */
  events: number;
  /** wal: from the last commit to the capturer having appended everything. */
  captureCatchUpMs?: number;
  /** WAL the server wrote during the case (writes, and for wal their append), per transaction. */
  walBytesPerTransaction: number;
}

/** Stock items the writers update (one at random each) and the drain's transactions update (all of them). */
export const ROWS = 1000;

function runWriterProcess(job: WriterJob): Promise<{ count: number; elapsedMs: number; latency: LatencyStats }> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'writer-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    child.once('message', (m) => resolve(m as { count: number; elapsedMs: number; latency: LatencyStats }));
    child.once('exit', (code) => reject(new Error(`writer process exited with ${code} before reporting`)));
    child.send(job);
  });
}

/**
 * A WAL reader that only keeps the newest commit's end and confirms it every
 * 100 ms (and when the server asks): what any consumer must at least do.
 */
async function openReader(url: string, slot: string, publication: string): Promise<{ close(): Promise<void> }> {
  const ref: { stream?: ReplicationStream } = {};
  let received = 0n;
  const stream = await ReplicationStream.open(url, slot, publication, {
    message: (m) => {
      if (m.tag === 'commit') received = m.endLsn;
    },
    keepalive: (walEnd, reply) => {
      if (reply) ref.stream?.confirm(received > 0n ? received : walEnd);
    },
    end: () => {},
  });
  ref.stream = stream;
  const timer = setInterval(() => stream.confirm(received), 100);
  return {
    close: async () => {
      clearInterval(timer);
      await stream.close();
    },
  };
}

/** What a case gets: its fresh database (migrated, company `w` with ROWS stock items) and the server's admin connection. */
interface CaseDatabase {
  name: string;
  url: string;
  sql: Sql;
  admin: Sql;
  /** Starts pgfeed on the database (stopped when the case ends, unless closed before). */
  start(capture: 'trigger' | 'wal'): Promise<Pgfeed>;
}

/**
 * Runs `use` on a fresh database `name` of the server at `adminUrl`, then
 * stops what it started and drops the database and its replication slot.
 */
async function onFreshDatabase<T>(adminUrl: string, name: string, use: (db: CaseDatabase) => Promise<T>): Promise<T> {
  const admin = connect(adminUrl, { max: 1, applicationName: 'bench-admin' });
  await admin.unsafe(`create database ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const sql = connect(url, { max: 2, applicationName: 'bench-admin' });
  const servers: Pgfeed[] = [];
  try {
    await migrate(sql);
    await migrate(sql, domainMigrations());
    await sql`insert into companies (id, name) values ('w', 'Writers')`;
    await sql`insert into stock_items (id, company_id, sku, name, quantity)
              select 'item-' || g, 'w', 'SKU' || g, 'item', 1000000 from generate_series(1, ${ROWS}::int) g`;
    const start = async (capture: 'trigger' | 'wal') => {
      const server = await startPgfeed({
        databaseUrl: url,
        entities: domain.entities,
        migrate: false,
        logger: createLogger('silent'),
        config: { PORT: 0, HOST: '127.0.0.1', CAPTURE: capture, JWT_SECRET: randomBytes(32).toString('hex') },
      });
      servers.push(server);
      return server;
    };
    return await use({ name, url, sql, admin, start });
  } finally {
    for (const server of servers) await server.close(); // closing twice is a no-op
    await sql.end({ timeout: 2 });
    await dropDatabase(admin, name);
    await admin.end();
  }
}

/** Drops database `name` and its replication slots (a CAPTURE=wal instance made one; its walsender may still hold it). */
export async function dropDatabase(admin: Sql, name: string): Promise<void> {
  await admin`select pg_terminate_backend(active_pid) from pg_replication_slots where database = ${name} and active`;
  for (let i = 0; i < 50; i++) {
    const ok = await admin`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = ${name}`.then(
      () => true,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await admin.unsafe(`drop database if exists ${name} with (force)`);
}

/** One case on a fresh database `name` of the server at `adminUrl`. */
export function runWriters(
  adminUrl: string,
  name: string,
  capture: CaptureCase,
  writers: number,
  seconds: number,
): Promise<WritersResult> {
  return onFreshDatabase(adminUrl, name, async ({ url, sql, admin, start }) => {
    let reader: { close(): Promise<void> } | undefined;
    try {
      if (capture === 'trigger' || capture === 'wal') await start(capture);
      if (capture === 'walReader') {
        // pgfeed sets the tables and the slot up for wal capture; a bare reader takes its place.
        await (await start('wal')).close();
        const [s] = await sql<{ slot: string; publication: string }[]>`
          select slot_name as slot, pgfeed.publication() as publication from pg_replication_slots where database = ${name}`;
        reader = await openReader(url, s!.slot, s!.publication);
      }
      const [h] = await sql<{ head: string }[]>`select coalesce(max(id), 0)::text as head from pgfeed.events`;
      const [w] = await admin<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
      const written = await runWriterProcess({ databaseUrl: url, writers, seconds, rows: ROWS });
      let captureCatchUpMs: number | undefined;
      if (capture === 'wal') {
        const t0 = now();
        await walCaptured(sql, 120_000);
        captureCatchUpMs = Math.round(now() - t0);
      }
      const [wal] = await admin<
        { bytes: number }[]
      >`select pg_wal_lsn_diff(pg_current_wal_lsn(), ${w!.lsn}::pg_lsn)::float8 as bytes`;
      const [e] = await sql<{ n: number }[]>`select count(*)::int as n from pgfeed.events where id > ${h!.head}::bigint`;
      return {
        transactionsPerSecond: Math.round(written.count / (written.elapsedMs / 1000)),
        commitLatencyMs: written.latency,
        events: e?.n ?? 0,
        walBytesPerTransaction: Math.round(wal!.bytes / written.count),
        ...(captureCatchUpMs === undefined ? {} : { captureCatchUpMs }),
      };
    } finally {
      await reader?.close();
    }
  });
}

export interface DrainResult {
  changes: number;
  /** From starting pgfeed to every change in the log. */
  seconds: number;
  changesPerSecond: number;
  /** How fast the backlog was written (capture stopped): the writers' pace alone. */
  writtenPerSecond: number;
}

/**
 * The WAL capturer's own pace: `changes` are committed (as UPDATEs of all
 * ROWS items, one transaction each) while no pgfeed runs, so the slot holds
 * them; then pgfeed starts and the time until all of them are in the log is
 * measured, with no writers and no clients sharing the machine.
 */
export function runDrain(adminUrl: string, name: string, changes: number): Promise<DrainResult> {
  return onFreshDatabase(adminUrl, name, async ({ sql, start }) => {
    await (await start('wal')).close(); // the slot and the publication, then nobody captures
    const t0 = now();
    for (let done = 0; done < changes; done += ROWS) await sql`update stock_items set quantity = quantity - 1`;
    const writtenMs = now() - t0;
    const t1 = now();
    await start('wal');
    await walCaptured(sql, 600_000);
    const ms = now() - t1;
    const [e] = await sql<{ n: number }[]>`select count(*)::int as n from pgfeed.events`;
    if (e?.n !== Math.ceil(changes / ROWS) * ROWS) throw new Error(`drain: ${e?.n} events in the log, expected ${changes}`);
    return {
      changes: e.n,
      seconds: Math.round(ms) / 1000,
      changesPerSecond: Math.round(e.n / (ms / 1000)),
      writtenPerSecond: Math.round(e.n / (writtenMs / 1000)),
    };
  });
}
