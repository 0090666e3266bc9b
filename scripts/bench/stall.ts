/**
 * The `stall` scenario: what one large transaction does to the server that
 * fans it out. N streams of one company (clients in a pool process of their
 * own), one M-row INSERT, and right after it one change of another company
 * with one stream of its own. Inside the server's process the event loop's
 * delay is measured from just before the commit until the last client has the
 * last row (probe.ts); the pool counts each stream's events and checks their
 * order. Systems: pgfeed in both capture modes, the hand-rolled server, and the
 * bare loop (bare.ts: the writes alone, nothing of pgfeed), one frame and 64
 * frames per write — the floor.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Sql } from '../../src/db/connect';
import { Auth } from '../../src/http/auth';
import { freePort } from '../../test/support/toolkit';
import { dropDatabase } from './capture-cost';
import { now } from './clock';
import { COMPANY, prepare, ready } from './costs';
import type { PoolReport, PoolTally } from './pool';
import { Forked, PoolProcess } from './pool-process';
import type { LoopDelay } from './probe';
import { treeUsage } from './proc';
import type { ServerCommand, ServerJob, ServerSystem } from './server-process';
import { type LatencyStats, stats } from './stats';

/** `batch`: the bare loop's frames per write (pgfeed writes a run of up to 64 events to a socket at once). */
export const STALL_SYSTEMS: readonly { name: string; system: ServerSystem; batch?: number }[] = [
  { name: 'pgfeed trigger', system: 'trigger' },
  { name: 'pgfeed wal', system: 'wal' },
  { name: 'hand-rolled', system: 'handrolled' },
  { name: 'bare loop', system: 'bare', batch: 1 },
  { name: 'bare loop, 64 frames per write', system: 'bare', batch: 64 },
];

/** The other tenant, whose one change commits right after the burst. */
const OTHER = 'c1';
const OTHER_MARKER = 'mT-0';
/** The bare loop's frame: about the size of the JSON frame pgfeed sends for one of the burst's trips. */
const FRAME_BYTES = 420;
/** How long a burst may take to reach every client before the scenario gives up on it. */
const BURST_TIMEOUT_MS = 600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StallResult {
  /** The server's event-loop delay from just before the commit until the last client had the last row. */
  loop: LoopDelay;
  /** COMMIT returned → the first client had the first row; → the last client had the last row. */
  firstFrameMs: number;
  lastFrameMs: number;
  /** Every stream got every row exactly once, in order, and none was cut off. */
  complete: boolean;
  tally: PoolTally;
  /** Server CPU (user + system) from the commit until the last client had the last row. */
  serverCpuMs: number;
  /** The other company's change: COMMIT returned → its stream had it, and that minus the last row's arrival. */
  otherTenantMs?: number;
  otherTenantAfterLastRowMs?: number;
  /** The bare loops only: one write (one frame, or 64) to all N sockets, one sample per turn of the loop. */
  perTurnMs?: LatencyStats;
}

/** Runs every system of STALL_SYSTEMS, one after another, each on a fresh database of the server at `adminUrl`. */
export async function runStall(
  adminUrl: string,
  clients: number,
  rows: number,
  defer: (cleanup: () => Promise<unknown>) => void,
  progress: (line: string) => void,
): Promise<Record<string, StallResult>> {
  const out: Record<string, StallResult> = {};
  for (const spec of STALL_SYSTEMS) {
    out[spec.name] = await runOne(adminUrl, spec.system, spec.batch ?? 1, clients, rows, defer);
    const r = out[spec.name]!;
    progress(
      `${spec.name}: worst stall ${r.loop.maxMs} ms (p99 ${r.loop.p99Ms}), last frame ${Math.round(r.lastFrameMs)} ms after commit, complete: ${r.complete}`,
    );
  }
  return out;
}

async function runOne(
  adminUrl: string,
  system: ServerSystem,
  batch: number,
  clients: number,
  rows: number,
  defer: (cleanup: () => Promise<unknown>) => void,
): Promise<StallResult> {
  const local: (() => Promise<unknown>)[] = [];
  const release = async () => {
    for (const step of local.splice(0).reverse()) await step().catch(() => {});
  };
  defer(release);
  try {
    const secret = randomBytes(32).toString('hex');
    const port = await freePort();
    let sql: Sql | undefined;
    let databaseUrl = '';
    if (system !== 'bare') {
      const name = `pgfeed_bench_stall_${system}_${Date.now()}`;
      const admin = connect(adminUrl, { max: 1, applicationName: 'bench-admin' });
      await admin.unsafe(`create database ${name}`);
      local.push(async () => {
        await dropDatabase(admin, name);
        await admin.end();
      });
      const u = new URL(adminUrl);
      u.pathname = `/${name}`;
      databaseUrl = u.toString();
      const db = (sql = connect(databaseUrl, { max: 2, applicationName: 'bench-writer' }));
      local.push(() => db.end({ timeout: 2 }));
      await prepare(db, system);
      await db`insert into companies (id, name) values (${OTHER}, ${OTHER})`;
      await db`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values (${OTHER + '-t0'}, ${OTHER}, 'start', now() + interval '1 day', 100, 100)`;
    }
    const server = new Forked<ServerJob | ServerCommand>('server-process.ts');
    local.push(() => server.stop(15_000));
    await server.started;
    const { url } = await server.ask<{ url: string }>({ system, databaseUrl, secret, port, workers: 1 });
    if (system === 'trigger' || system === 'wal') await ready(url, 1);
    const auth = new Auth(secret);
    const token = await auth.sign({ sub: `${COMPANY}-admin`, company: COMPANY, role: 'admin' });
    const pool = new PoolProcess();
    local.push(() => pool.stop());
    await pool.started;
    await pool.ask({
      cmd: 'streams',
      tally: true,
      urls: Array.from({ length: clients }, () => ({ url: `${url}/events/company/${COMPANY}`, token })),
    });
    let other: PoolProcess | undefined;
    if (sql) {
      const otherPool = (other = new PoolProcess());
      local.push(() => otherPool.stop());
      await otherPool.started;
      const otherToken = await auth.sign({ sub: `${OTHER}-admin`, company: OTHER, role: 'admin' });
      await otherPool.ask({ cmd: 'streams', urls: [{ url: `${url}/events/company/${OTHER}`, token: otherToken }] });
    }

    await server.ask({ cmd: 'probe' });
    const cpu0 = treeUsage(server.pid).cpuMs;
    let committedAt: number;
    let otherCommittedAt = NaN;
    let perTurnMs: LatencyStats | undefined;
    if (sql) {
      await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                select ${COMPANY} || '-s' || g, ${COMPANY}, 'mS-' || g, now() + interval '1 day', 100, 100
                  from generate_series(1, ${rows}::int) g`;
      committedAt = now();
      await sql`update trips set route = ${OTHER_MARKER} where id = ${OTHER + '-t0'}`;
      otherCommittedAt = now();
    } else {
      committedAt = now();
      const burst = await server.ask<{ perTurnMs: number[] }>({ cmd: 'burst', frames: rows, bytes: FRAME_BYTES, batch });
      perTurnMs = stats(burst.perTurnMs);
    }
    const deadline = now() + BURST_TIMEOUT_MS;
    let tally: PoolTally;
    for (;;) {
      tally = await pool.ask<PoolTally>({ cmd: 'tally' });
      if (tally.minEvents >= rows || now() > deadline) break;
      await sleep(100);
    }
    const loop = await server.ask<LoopDelay>({ cmd: 'probed' });
    const serverCpuMs = treeUsage(server.pid).cpuMs - cpu0;
    const result: StallResult = {
      loop,
      firstFrameMs: Math.round(tally.firstReceive - committedAt),
      lastFrameMs: Math.round(tally.lastReceive - committedAt),
      complete:
        tally.streams === clients &&
        tally.minEvents === rows &&
        tally.maxEvents === rows &&
        tally.outOfOrder === 0 &&
        tally.disconnects === 0,
      tally,
      serverCpuMs,
      ...(perTurnMs ? { perTurnMs } : {}),
    };
    if (other) {
      const seen = await other.ask<PoolReport>({ cmd: 'report', commits: { [OTHER_MARKER]: otherCommittedAt } });
      if (seen.latency.count > 0) {
        result.otherTenantMs = Math.round(seen.latency.max);
        result.otherTenantAfterLastRowMs = Math.round(seen.lastReceive - tally.lastReceive);
      }
    }
    return result;
  } finally {
    await release();
  }
}
