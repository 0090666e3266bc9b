/**
 * The `writers` scenario: what capture costs the application's own writes.
 * N concurrent writers (a process of their own, scripts/bench/writer-process.ts)
 * commit one-row UPDATEs on a watched table for a fixed time, with no capture,
 * with a bare WAL reader, with CAPTURE=trigger and with CAPTURE=wal, each on a
 * fresh database of the same server. Afterwards the log must hold exactly one
 * event per commit (wal: once the capturer has caught up, which is timed).
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { connect } from '../../src/db/connect';
import { migrate } from '../../src/db/migrate';
import { domain, domainMigrations } from '../../src/domain';
import { createLogger } from '../../src/log';
import { startPgfeed } from '../../src/service';
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

const ROWS = 1000;

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

/** One case on a fresh database `name` of the server at `adminUrl`. */
export async function runWriters(
  adminUrl: string,
  name: string,
  capture: CaptureCase,
  writers: number,
  seconds: number,
): Promise<WritersResult> {
  const admin = connect(adminUrl, { max: 1, applicationName: 'bench-admin' });
  await admin.unsafe(`create database ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const sql = connect(url, { max: 2, applicationName: 'bench-admin' });
  let server: Awaited<ReturnType<typeof startPgfeed>> | undefined;
  let reader: { close(): Promise<void> } | undefined;
  try {
    await migrate(sql);
    await migrate(sql, domainMigrations());
    await sql`insert into companies (id, name) values ('w', 'Writers')`;
    await sql`insert into stock_items (id, company_id, sku, name, quantity)
              select 'item-' || g, 'w', 'SKU' || g, 'item', 1000000 from generate_series(1, ${ROWS}::int) g`;
    if (capture !== 'none') {
      server = await startPgfeed({
        databaseUrl: url,
        entities: domain.entities,
        migrate: false,
        logger: createLogger('silent'),
        config: { PORT: 0, HOST: '127.0.0.1', CAPTURE: capture === 'trigger' ? 'trigger' : 'wal' },
      });
    }
    if (capture === 'walReader') {
      // pgfeed set the tables and the slot up for wal capture; a bare reader takes its place.
      await server!.close();
      server = undefined;
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
    await server?.close();
    await sql.end({ timeout: 2 });
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
    await admin.end();
  }
}
