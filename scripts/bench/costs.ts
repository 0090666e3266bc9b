/**
 * The `costs` scenario: what a stream costs the server, for pgfeed
 * (CAPTURE=trigger, CAPTURE=wal, and trigger with two workers), for the
 * hand-rolled LISTEN/NOTIFY server and for the floor (a bare node:http SSE
 * server, floor.ts: what Node itself costs), in one run so that the ratios
 * compare like with like. Each system gets a fresh database, its server in a process of its
 * own (server-process.ts; CPU and RSS read from /proc for its whole process
 * tree) and its clients in pool processes of at most POOL_STREAMS streams each
 * (a process here may hold 20 000 descriptors). All streams follow one
 * company. They are opened in steps (1k, 10k, 18k by default): the opens' CPU
 * gives CPU per connection, the RSS after gc at each step memory per stream,
 * and at every step but the last, changes fanned out to every stream give CPU
 * per 1 000 frames and the latency distribution.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Sql } from '../../src/db/connect';
import { migrate } from '../../src/db/migrate';
import { domainMigrations } from '../../src/domain';
import { Auth } from '../../src/http/auth';
import { freePort } from '../../test/support/toolkit';
import { dropDatabase } from './capture-cost';
import { now } from './clock';
import { HANDROLLED_SCHEMA } from './handrolled';
import { SYSTEM_KEYS, type SystemKey } from './params';
import type { PoolSamples } from './pool';
import { Forked, PoolProcess } from './pool-process';
import { treeUsage } from './proc';
import type { ServerCommand, ServerJob, ServerSystem } from './server-process';
import { type LatencyStats, percentiles, stats } from './stats';
import { TRIPS_PER_COMPANY, writeSteady } from './writers';

export interface SystemSpec {
  name: string;
  system: ServerSystem;
  workers: number;
  /** wal: the capturer in its worker thread (CAPTURE_THREAD; default true) or on the main thread. */
  captureThread?: boolean;
}

/** The systems, in the order they run (BENCH_SYSTEMS names them by SYSTEM_KEYS, index for index). */
export const SYSTEMS: readonly SystemSpec[] = [
  { name: 'pgfeed trigger', system: 'trigger', workers: 1 },
  { name: 'pgfeed wal', system: 'wal', workers: 1 },
  { name: 'hand-rolled', system: 'handrolled', workers: 1 },
  { name: 'pgfeed trigger, 2 workers', system: 'trigger', workers: 2 },
  { name: 'floor', system: 'floor', workers: 1 },
  { name: 'pgfeed wal, main thread', system: 'wal', workers: 1, captureThread: false },
];

/** Streams per client process: three of them hold 18 000 well inside the descriptor limit. */
const POOL_STREAMS = 6000;
export const COMPANY = 'c0';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FanoutCost {
  changes: number;
  /** changes × streams: the frames the server wrote. */
  frames: number;
  /** Server CPU (user + system, whole process tree) from the first write until every client had every change, per 1 000 frames. */
  cpuPer1000FramesMs: number;
  /** Commit → a client received it, every (client, change) pair. */
  latencyMs: LatencyStats;
  /** Commit → the first and the last client had it, one sample per change. */
  firstClientMs: LatencyStats;
  lastClientMs: LatencyStats;
  /** (client, change) pairs never received. */
  missedPairs: number;
  /** latencyMs's 0th…100th percentiles, for the chart. */
  distribution: number[];
}

export interface SystemCost {
  /** Resident memory of the server after gc, bytes, at 0 streams and at each step. */
  rssBytes: Record<string, number>;
  /** (RSS at N − RSS at 0) / N. */
  memoryPerStreamBytes: Record<string, number>;
  /** Server CPU spent opening the streams (all steps), per stream. */
  cpuPerConnectionMs: number;
  /** Streams opened per second of wall time (all steps). */
  opensPerSecond: number;
  /** Keyed by the number of open streams. */
  fanout: Record<string, FanoutCost>;
  duplicates: number;
  outOfOrder: number;
  /** Streams the server ended and the client reopened with Last-Event-ID (a slow client cut off). */
  disconnects: number;
  /** Opens that failed before `ready` and were tried again. */
  openRetries: number;
}

/**
 * Runs the systems of SYSTEMS named in `only` (SYSTEM_KEYS) through the steps,
 * one after another, in SYSTEMS' order, with the same client pools. `defer` registers a cleanup with the bench (for an
 * interrupt); `progress` reports each step.
 */
export async function runCosts(
  adminUrl: string,
  steps: number[],
  changes: number,
  /** Changes per second (BENCH_COST_RATE). */
  rate: number,
  only: readonly SystemKey[],
  /** Node flags of every server process (the same for every system). */
  serverFlags: string[],
  defer: (cleanup: () => Promise<unknown>) => void,
  progress: (line: string) => void,
): Promise<Record<string, SystemCost>> {
  const pools = Array.from({ length: Math.ceil(Math.max(...steps) / POOL_STREAMS) }, () => new PoolProcess());
  for (const pool of pools) defer(() => pool.stop());
  await Promise.all(pools.map((p) => p.started));
  const out: Record<string, SystemCost> = {};
  for (const [i, spec] of SYSTEMS.entries()) {
    if (!only.includes(SYSTEM_KEYS[i]!)) continue;
    out[spec.name] = await runSystem(adminUrl, spec, pools, steps, changes, rate, serverFlags, defer, (line) =>
      progress(`${spec.name}: ${line}`),
    );
    await Promise.all(pools.map((p) => p.ask({ cmd: 'close' })));
  }
  return out;
}

/** One system through the steps on a fresh database of the server at `adminUrl`. */
async function runSystem(
  adminUrl: string,
  spec: SystemSpec,
  pools: PoolProcess[],
  steps: number[],
  changes: number,
  rate: number,
  serverFlags: string[],
  defer: (cleanup: () => Promise<unknown>) => void,
  progress: (line: string) => void,
): Promise<SystemCost> {
  const name = `pgfeed_bench_cost_${spec.system}_${spec.workers}_${Date.now()}`;
  const admin = connect(adminUrl, { max: 1, applicationName: 'bench-admin' });
  await admin.unsafe(`create database ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const sql = connect(u.toString(), { max: 4, applicationName: 'bench-writer' });
  const local: (() => Promise<unknown>)[] = [];
  // Ours in reverse, however the system ends; registered with the bench too, for an interrupt.
  const release = async () => {
    for (const step of local.splice(0).reverse()) await step().catch(() => {});
  };
  defer(release);
  local.push(async () => {
    await dropDatabase(admin, name);
    await admin.end();
  });
  local.push(() => sql.end({ timeout: 2 }));
  try {
    await prepare(sql, spec.system);
    const secret = randomBytes(32).toString('hex');
    const server = new Forked<ServerJob | ServerCommand>('server-process.ts', ['--expose-gc', ...serverFlags]);
    local.push(() => server.stop(15_000));
    await server.started;
    const job: ServerJob = { ...spec, databaseUrl: u.toString(), secret, port: await freePort() };
    const { url } = await server.ask<{ url: string }>(job);
    if (spec.system === 'trigger' || spec.system === 'wal') await ready(url, spec.workers);
    const token = await new Auth(secret).sign({ sub: `${COMPANY}-admin`, company: COMPANY, role: 'admin' });
    const streamUrl = { url: `${url}/events/company/${COMPANY}`, token };
    progress('started');

    const usage = async () => {
      await server.ask({ cmd: 'gc' });
      return treeUsage(server.pid);
    };
    const rssBytes: Record<string, number> = { 0: (await usage()).rss };
    const memoryPerStreamBytes: Record<string, number> = {};
    const fanout: Record<string, FanoutCost> = {};
    let open = 0;
    let openCpuMs = 0;
    let openWallMs = 0;
    for (const [i, n] of steps.entries()) {
      const cpu0 = treeUsage(server.pid).cpuMs;
      const t0 = now();
      // Pool p holds its share of the first n streams: at most ceil(n / pools) ≤ POOL_STREAMS.
      const share = (count: number, p: number) =>
        Math.floor((count * (p + 1)) / pools.length) - Math.floor((count * p) / pools.length);
      await Promise.all(
        pools.map((pool, p) =>
          pool.ask({ cmd: 'streams', urls: Array.from({ length: share(n, p) - share(open, p) }, () => streamUrl) }),
        ),
      );
      openWallMs += now() - t0;
      openCpuMs += treeUsage(server.pid).cpuMs - cpu0;
      open = n;
      const rss = (await usage()).rss;
      rssBytes[n] = rss;
      memoryPerStreamBytes[n] = Math.round((rss - rssBytes[0]!) / n);
      progress(
        `${n} streams open (${Math.round(openWallMs / 1000)} s so far), ${Math.round(memoryPerStreamBytes[n] / 1024)} KB each`,
      );
      if (i < steps.length - 1) {
        fanout[n] = await fanOut(sql, pools, server.pid, n, changes, rate, `${spec.system}${spec.workers}s${i}`);
        progress(`fan-out to ${n}: last client p50 ${fanout[n].lastClientMs.p50} ms, ${fanout[n].missedPairs} pairs missed`);
      }
    }
    const samples = await Promise.all(pools.map((p) => p.ask<PoolSamples>({ cmd: 'samples', markers: [] })));
    return {
      rssBytes,
      memoryPerStreamBytes,
      cpuPerConnectionMs: Math.round((openCpuMs / open) * 1000) / 1000,
      opensPerSecond: Math.round(open / (openWallMs / 1000)),
      fanout,
      duplicates: samples.reduce((s, p) => s + p.duplicates, 0),
      outOfOrder: samples.reduce((s, p) => s + p.outOfOrder, 0),
      disconnects: samples.reduce((s, p) => s + p.disconnects, 0),
      openRetries: samples.reduce((s, p) => s + p.retries, 0),
    };
  } finally {
    await release();
  }
}

/** The schema the system streams from, and company COMPANY with its trips. */
export async function prepare(sql: Sql, system: ServerSystem): Promise<void> {
  if (system === 'handrolled' || system === 'floor') {
    await sql.unsafe(HANDROLLED_SCHEMA);
  } else {
    await migrate(sql);
    await migrate(sql, domainMigrations());
  }
  await sql`insert into companies (id, name) values (${COMPANY}, ${COMPANY})`;
  await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
            select ${COMPANY} || '-t' || g, ${COMPANY}, 'start', now() + interval '1 day', 100, 100
            from generate_series(0, ${TRIPS_PER_COMPANY - 1}::int) g`;
}

/** Until /readyz answers 200 (for `workers` workers, that many times in a row: connections go to each in turn). */
export async function ready(url: string, workers: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  let inRow = 0;
  while (inRow < workers * 2) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    inRow = ok ? inRow + 1 : 0;
    if (Date.now() > deadline) throw new Error(`${url} not ready within 60 s`);
    if (!ok) await sleep(100);
  }
}

/** `changes` changes, `rate` a second, each to all `streams` streams; the server's CPU until all arrived. */
async function fanOut(
  sql: Sql,
  pools: PoolProcess[],
  pid: number,
  streams: number,
  changes: number,
  rate: number,
  tag: string,
): Promise<FanoutCost> {
  const cpu0 = treeUsage(pid).cpuMs;
  const written = await writeSteady(sql, [COMPANY], rate, Math.ceil(changes / rate), tag);
  const markers = Object.keys(written.commits);
  const expected = markers.length * streams;
  const deadline = now() + 60_000;
  for (;;) {
    const counts = await Promise.all(pools.map((p) => p.ask<{ count: number }>({ cmd: 'count', markers })));
    if (counts.reduce((s, c) => s + c.count, 0) >= expected || now() > deadline) break;
    await sleep(50);
  }
  const cpuMs = treeUsage(pid).cpuMs - cpu0;
  const samples = await Promise.all(pools.map((p) => p.ask<PoolSamples>({ cmd: 'samples', markers })));
  const latencies: number[] = [];
  const first: number[] = [];
  const last: number[] = [];
  for (const marker of markers) {
    const times = samples.flatMap((s) => s.times[marker] ?? []);
    if (times.length === 0) continue;
    const committed = written.commits[marker]!;
    for (const t of times) latencies.push(t - committed);
    first.push(Math.min(...times) - committed);
    last.push(Math.max(...times) - committed);
  }
  return {
    changes: markers.length,
    frames: expected,
    cpuPer1000FramesMs: Math.round((cpuMs / expected) * 1000 * 100) / 100,
    latencyMs: stats(latencies),
    firstClientMs: stats(first),
    lastClientMs: stats(last),
    missedPairs: expected - latencies.length,
    distribution: percentiles(latencies),
  };
}
