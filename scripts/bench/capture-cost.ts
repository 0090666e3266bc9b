/**
 * The `writers` scenario: what capture costs the application's own writes.
 * N concurrent writers commit one-row UPDATEs on a watched table for a fixed
 * time, with no capture, with CAPTURE=trigger and with CAPTURE=wal, each on a
 * fresh database of the same server. Afterwards the log must hold exactly one
 * event per commit (wal: once the capturer has caught up, which is timed).
 */
import { connect } from '../../src/db/connect';
import { migrate } from '../../src/db/migrate';
import { domain, domainMigrations } from '../../src/domain';
import { createLogger } from '../../src/log';
import { startPgfeed } from '../../src/service';
import { SYNC_PREFIX } from '../../src/capture/wal/capturer';
import { now } from './clock';
import { type LatencyStats, stats } from './stats';

export type CaptureCase = 'none' | 'trigger' | 'wal';

export interface WritersResult {
  transactionsPerSecond: number;
  commitLatencyMs: LatencyStats;
  /** Events in the log for the writes: must equal the transactions (none: 0). */
  events: number;
  /** wal: from the last commit to the capturer having appended everything. */
  captureCatchUpMs?: number;
}

const ROWS = 1000;

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
  const sql = connect(url, { max: writers + 2, applicationName: 'bench-writer' });
  let server: Awaited<ReturnType<typeof startPgfeed>> | undefined;
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
        config: { PORT: 0, HOST: '127.0.0.1', CAPTURE: capture },
      });
    }
    const [h] = await sql<{ head: string }[]>`select coalesce(max(id), 0)::text as head from pgfeed.events`;
    const latencies: number[] = [];
    const start = now();
    const until = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        let seed = w * 7919 + 1;
        while (now() < until) {
          seed = (seed * 48271) % 2147483647;
          const id = `item-${(seed % ROWS) + 1}`;
          const t0 = now();
          await sql`update stock_items set quantity = quantity - 1 where id = ${id}`;
          latencies.push(now() - t0);
        }
      }),
    );
    const elapsed = (now() - start) / 1000;
    let captureCatchUpMs: number | undefined;
    if (capture === 'wal') {
      const t0 = now();
      const [mark] = await sql<{ lsn: string }[]>`select pg_logical_emit_message(true, ${SYNC_PREFIX}, '')::text as lsn`;
      for (;;) {
        const [r] = await sql<{ done: boolean }[]>`select applied_lsn >= ${mark!.lsn}::pg_lsn as done from pgfeed.capture`;
        if (r?.done) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      captureCatchUpMs = Math.round(now() - t0);
    }
    const [e] = await sql<{ n: number }[]>`select count(*)::int as n from pgfeed.events where id > ${h!.head}::bigint`;
    return {
      transactionsPerSecond: Math.round(latencies.length / elapsed),
      commitLatencyMs: stats(latencies),
      events: e?.n ?? 0,
      ...(captureCatchUpMs === undefined ? {} : { captureCatchUpMs }),
    };
  } finally {
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
