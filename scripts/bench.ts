/**
 * npm run bench: pgfeed against the 3-second snapshot polling it replaces and
 * against a hand-rolled LISTEN/NOTIFY server, on a real PostgreSQL, with the
 * clients in separate processes. Prints one JSON object per scenario, writes
 * them to bench/results/<time>.json, ends with a table of the costs and an SVG
 * chart (docs/benchmark.svg). `--quick`: a smaller run, without the writers
 * and drain scenarios.
 * Method and figures: docs/benchmark.md.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../src/db/connect';
import { startEmbedded } from '../src/db/embedded';
import { migrate } from '../src/db/migrate';
import { domain, domainMigrations } from '../src/domain';
import { startPgfeed } from '../src/service';
import type { ChangeEvent } from '../src/events/schema';
import { freePort, metricValue } from '../test/support/toolkit';
import { now } from './bench/clock';
import { LIFTED_LIMITS, loadBenchParams } from './bench/params';
import type { LatencyStats, PoolReport } from './bench/pool';
import { PoolProcess } from './bench/pool-process';
import { type CaptureCase, ROWS, type WritersResult, runDrain, runWriters } from './bench/capture-cost';
import { TRIPS_PER_COMPANY, writeBurst, writeSteady, type Written } from './bench/writers';
import { type SystemCost, runCosts } from './bench/costs';
import { type Costs, costsSvg, costsTable } from './bench/report';
import { runStall } from './bench/stall';

const P = loadBenchParams(process.env, process.argv.slice(2));
const loadAtStart = os.loadavg();
let costs: Costs | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results: Record<string, unknown>[] = [];

/** A line on stderr as each phase starts: a full run takes minutes. */
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

function emit(scenario: string, body: Record<string, unknown>): void {
  const line = { scenario, ...body };
  results.push(line);
  process.stdout.write(JSON.stringify(line) + '\n');
}

const round = (v: number, digits = 4) => Number(v.toFixed(digits));
const ratio = (a: number, b: number) => (b === 0 || !Number.isFinite(a / b) ? null : round(a / b));
const ratios = (a: LatencyStats, b: LatencyStats) => ({
  p50: ratio(a.p50, b.p50),
  p99: ratio(a.p99, b.p99),
  max: ratio(a.max, b.max),
});

/** Everything the run started, stopped in reverse order exactly once, however the run ends. */
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) await step().catch(() => {});
  })();
  return cleaning;
}
function abort(message: string, code: number): void {
  process.stderr.write(`bench: ${message}\n`);
  // Work still in flight fails as its connections close: expected now, not a second crash.
  process.on('unhandledRejection', () => {});
  // Bounded even if a cleanup step hangs.
  setTimeout(() => process.exit(code), 15_000).unref();
  void cleanup().then(() => process.exit(code));
}
process.once('SIGINT', () => abort('interrupted', 130));
process.once('SIGTERM', () => abort('terminated', 143));

async function pool(): Promise<PoolProcess> {
  const p = new PoolProcess();
  cleanups.push(() => p.stop());
  await p.started;
  return p;
}

/** Asks for reports until every expected (client, change) pair arrived or `ms` passed. */
async function awaitDelivery(p: PoolProcess, written: Written, expected: number, ms: number): Promise<PoolReport> {
  const deadline = Date.now() + ms;
  for (;;) {
    const report = await p.ask<PoolReport>({ cmd: 'report', commits: written.commits });
    if (report.latency.count >= expected || Date.now() > deadline) return report;
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const started = now();
  let adminUrl = P.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  let database = 'given by BENCH_DATABASE_URL / DATABASE_URL';
  if (!adminUrl) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pgfeed-bench-'));
    chmodSync(dir, 0o755); // as root, PostgreSQL runs as the postgres user (see startEmbedded)
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const embedded = await startEmbedded({ dir: path.join(dir, 'pg'), port: await freePort(), persistent: false });
    cleanups.push(() => embedded.stop());
    adminUrl = embedded.url();
    database = 'embedded';
  }
  const admin = connect(adminUrl, { max: 1, applicationName: 'bench-admin' });
  cleanups.push(() => admin.end({ timeout: 2 }));
  const [versionRow] = await admin<{ version: string }[]>`select current_setting('server_version') as version`;
  const version = versionRow?.version;
  if (P.BENCH_ONLY === 'writers') {
    await writersScenario(adminUrl);
    return finish(started, version, database);
  }
  if (P.BENCH_ONLY === 'drain') {
    await drainScenario(adminUrl);
    return finish(started, version, database);
  }
  if (P.BENCH_ONLY === 'costs') {
    await costsScenario(adminUrl);
    return finish(started, version, database);
  }
  if (P.BENCH_ONLY === 'stall') {
    await stallScenario(adminUrl);
    return finish(started, version, database);
  }
  const dbName = `pgfeed_bench_${Date.now()}`;
  await admin.unsafe(`create database ${dbName}`);
  cleanups.push(() => admin.unsafe(`drop database if exists ${dbName} with (force)`));
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const databaseUrl = u.toString();
  const sql = connect(databaseUrl, { max: 20, applicationName: 'bench-writer' });
  cleanups.push(() => sql.end({ timeout: 2 }));

  await migrate(sql);
  await migrate(sql, domainMigrations());
  const companies = Array.from({ length: P.BENCH_COMPANIES }, (_, i) => `c${i}`);
  for (const c of companies) {
    await sql`insert into companies (id, name) values (${c}, ${c})`;
    await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
              select ${c} || '-t' || g, ${c}, 'start', now() + interval '1 day', 100, 100
              from generate_series(0, ${TRIPS_PER_COMPANY - 1}::int) g`;
  }
  const server = await startPgfeed({
    databaseUrl,
    entities: domain.entities,
    migrate: false,
    config: {
      PORT: 0,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      JWT_SECRET: randomBytes(32).toString('hex'),
      ...LIFTED_LIMITS,
      CAPTURE: P.BENCH_CAPTURE,
    },
  });
  cleanups.push(() => server.close());
  const tokens = await Promise.all(companies.map((c) => server.signToken({ sub: `${c}-admin`, company: c, role: 'admin' })));
  const streamUrls = (n: number, only?: string) =>
    Array.from({ length: n }, (_, i) => {
      const ci = only ? companies.indexOf(only) : i % companies.length;
      return { url: `${server.url}/events/company/${companies[ci]}`, token: tokens[ci]! };
    });
  /** (client, change) pairs a complete delivery has: each change goes to every client of its company. */
  const expectedPairs = (w: Written, clients: number, only?: string) => {
    const per = new Map<string, number>();
    for (let i = 0; i < clients; i++) {
      const c = only ?? companies[i % companies.length]!;
      per.set(c, (per.get(c) ?? 0) + 1);
    }
    return Object.values(w.companyOf).reduce((sum, c) => sum + (per.get(c) ?? 0), 0);
  };
  const queries = async () => metricValue(await server.metrics(), 'pgfeed_db_queries_total');
  const params = {
    clients: P.BENCH_CLIENTS,
    commitsPerSecond: P.BENCH_RATE,
    companies: P.BENCH_COMPANIES,
    tripsPerCompany: TRIPS_PER_COMPANY,
    pollMs: P.BENCH_POLL_MS,
  };

  progress(`latency, memory, queries: ${P.BENCH_CLIENTS} streams, then as many pollers`);
  // 1. Latency at N clients and W commits/s; memory per connection; database queries per second.
  global.gc?.();
  const mem0 = process.memoryUsage();
  const qOpen0 = await queries();
  const streams = await pool();
  await streams.ask({ cmd: 'streams', urls: streamUrls(P.BENCH_CLIENTS) });
  global.gc?.();
  const mem1 = process.memoryUsage();
  const queriesPerOpen = ((await queries()) - qOpen0) / P.BENCH_CLIENTS;
  const rssPerConnection = (mem1.rss - mem0.rss) / P.BENCH_CLIENTS;
  const heapPerConnection = (mem1.heapUsed - mem0.heapUsed) / P.BENCH_CLIENTS;
  const q0 = await queries();
  const liveStart = now();
  const live = await writeSteady(sql, companies, P.BENCH_RATE, P.BENCH_SECONDS, 'L');
  const pgfeedReport = await awaitDelivery(streams, live, expectedPairs(live, P.BENCH_CLIENTS), 5000);
  const pgfeedQps = ((await queries()) - q0) / ((now() - liveStart) / 1000);
  await streams.stop();

  const pollers = await pool();
  const pollerBase = await pollers.started;
  await pollers.ask({ cmd: 'pollers', databaseUrl, companies, count: P.BENCH_CLIENTS, intervalMs: P.BENCH_POLL_MS });
  await sleep(P.BENCH_POLL_MS + 200); // every dashboard has taken its first snapshot
  const pollerState = await pollers.ask<PoolReport>({ cmd: 'report', commits: {} });
  const pollStart = now();
  const polled = await writeSteady(sql, companies, P.BENCH_RATE, P.BENCH_POLL_SECONDS, 'P');
  await sleep(P.BENCH_POLL_MS + 500); // the last change has been polled
  const pollingReport = await pollers.ask<PoolReport>({ cmd: 'report', commits: polled.commits });
  const pollingQps = (pollingReport.queries - pollerState.queries) / ((now() - pollStart) / 1000);
  await pollers.stop();
  const pgfeedDelivered = pgfeedReport.latency.count / expectedPairs(live, P.BENCH_CLIENTS);
  const pollingDelivered = pollingReport.latency.count / expectedPairs(polled, P.BENCH_CLIENTS);

  emit('latency', {
    params: { ...params, pgfeedSeconds: P.BENCH_SECONDS, pollingSeconds: P.BENCH_POLL_SECONDS },
    pgfeed: {
      latencyMs: pgfeedReport.latency,
      deliveredFraction: round(pgfeedDelivered, 6),
      duplicates: pgfeedReport.duplicates,
      outOfOrder: pgfeedReport.outOfOrder,
      disconnects: pgfeedReport.disconnects,
    },
    polling: {
      latencyMs: pollingReport.latency,
      deliveredFraction: round(pollingDelivered),
      lostFraction: round(1 - pollingDelivered),
    },
    ratio: {
      ...ratios(pgfeedReport.latency, pollingReport.latency),
      deliveredFraction: ratio(pgfeedDelivered, pollingDelivered),
    },
    units:
      'latencyMs: milliseconds from COMMIT returning to the writer to the client parsing the change, one sample per (client, change) received; fractions of (client, change) pairs',
    notes:
      'polling latency is over the changes a poll saw; a change overwritten before the next poll is lost, counted in lostFraction',
  });
  emit('db_queries_per_second', {
    params: { ...params, pgfeedSeconds: P.BENCH_SECONDS, pollingSeconds: P.BENCH_POLL_SECONDS },
    pgfeed: { perInstance: round(pgfeedQps, 3), queriesPerStreamOpened: round(queriesPerOpen, 3) },
    polling: { perInstance: round(pollingQps, 2), expected: round((P.BENCH_CLIENTS * 1000) / P.BENCH_POLL_MS, 2) },
    ratio: { perInstance: ratio(pgfeedQps, pollingQps) },
    units: 'queries per second sent to PostgreSQL while W commits/s ran (the writer itself not counted)',
    notes:
      'pgfeed: pgfeed_db_queries_total, counted by the driver for every query the instance sends (query pool and listener connection); polling: the snapshot queries the N dashboards sent',
  });
  const pollerRss = (pollerState.rss - pollerBase.rss) / P.BENCH_CLIENTS;
  emit('memory', {
    params,
    pgfeed: {
      serverRssBytesPerConnection: Math.round(rssPerConnection),
      serverHeapBytesPerConnection: Math.round(heapPerConnection),
    },
    polling: { clientRssBytesPerDashboard: Math.round(pollerRss) },
    ratio: { perConnection: ratio(rssPerConnection, pollerRss) },
    units: 'bytes per open stream / per dashboard',
    notes:
      'pgfeed: growth of the server process RSS (after gc) from 0 to N open streams; polling: growth of the poller process RSS for N dashboards, each holding its last snapshot to diff against — the state a polling dashboard keeps, in its browser',
  });

  progress(`fan-out: ${P.BENCH_CLIENTS} streams of one company, then as many pollers`);
  // 2. One change to all N clients, all on one company.
  const one = companies[0]!;
  const fanRate = 2; // changes per second: far enough apart that each fan-out is measured on its own
  const fanSeconds = Math.ceil(P.BENCH_FANOUT_CHANGES / fanRate);
  const fan = await pool();
  await fan.ask({ cmd: 'streams', urls: streamUrls(P.BENCH_CLIENTS, one) });
  const fanWritten = await writeSteady(sql, [one], fanRate, fanSeconds, 'F');
  const fanReport = await awaitDelivery(fan, fanWritten, expectedPairs(fanWritten, P.BENCH_CLIENTS, one), 5000);
  await fan.stop();
  const fanPoll = await pool();
  await fanPoll.ask({ cmd: 'pollers', databaseUrl, companies: [one], count: P.BENCH_CLIENTS, intervalMs: P.BENCH_POLL_MS });
  await sleep(P.BENCH_POLL_MS + 200);
  const fanPollWritten = await writeSteady(sql, [one], fanRate, fanSeconds, 'G');
  await sleep(P.BENCH_POLL_MS + 500);
  const fanPollReport = await fanPoll.ask<PoolReport>({ cmd: 'report', commits: fanPollWritten.commits });
  await fanPoll.stop();
  emit('fanout', {
    params: { clients: P.BENCH_CLIENTS, changes: fanWritten.total, changesPerSecond: fanRate, pollMs: P.BENCH_POLL_MS },
    pgfeed: { toAllClientsMs: fanReport.fanout, missed: fanReport.missed },
    polling: { toAllClientsMs: fanPollReport.fanout, missed: fanPollReport.missed },
    ratio: ratios(fanReport.fanout, fanPollReport.fanout),
    units: 'milliseconds from COMMIT returning to the last of the N clients having the change; one sample per change',
    notes: 'a change counts only once every client has it; missed = changes some client never got',
  });

  progress(`ingest: ${P.BENCH_INGEST} changes to ${P.BENCH_INGEST_CLIENTS} streams, then pollers`);
  // 3. Ingest: changes as fast as the writers commit them; every client must get every change once, in order.
  const batch = 50;
  const ingestPairs = P.BENCH_INGEST * P.BENCH_INGEST_CLIENTS;
  const ingest = await pool();
  await ingest.ask({ cmd: 'streams', urls: streamUrls(P.BENCH_INGEST_CLIENTS, one) });
  // When the instance's listener has every change (log written, notified, read): the server side without the fan-out.
  let inFeed = 0;
  let allInFeedAt = NaN;
  const countIngest = (e: ChangeEvent) => {
    if (e.entity === 'trip' && String((e.row as { route?: unknown }).route).startsWith('mI-') && ++inFeed === P.BENCH_INGEST)
      allInFeedAt = now();
  };
  server.on('event', countIngest);
  const burst = await writeBurst(sql, one, P.BENCH_INGEST, P.BENCH_INGEST_WRITERS, batch, 'I');
  const ingestReport = await awaitDelivery(ingest, burst, ingestPairs, 120_000);
  server.off('event', countIngest);
  await ingest.stop();
  const ingestDelivered = ingestReport.latency.count / ingestPairs;
  const pollIngest = await pool();
  await pollIngest.ask({
    cmd: 'pollers',
    databaseUrl,
    companies: [one],
    count: P.BENCH_INGEST_CLIENTS,
    intervalMs: P.BENCH_POLL_MS,
  });
  await sleep(P.BENCH_POLL_MS + 200);
  const pollBurst = await writeBurst(sql, one, P.BENCH_INGEST, P.BENCH_INGEST_WRITERS, batch, 'J');
  await sleep(P.BENCH_POLL_MS + 500);
  const pollIngestReport = await pollIngest.ask<PoolReport>({ cmd: 'report', commits: pollBurst.commits });
  await pollIngest.stop();
  const pollIngestDelivered = pollIngestReport.latency.count / ingestPairs;
  const zeroLoss =
    ingestDelivered === 1 && ingestReport.duplicates === 0 && ingestReport.outOfOrder === 0 && ingestReport.missed === 0;
  emit('ingest', {
    params: {
      changes: P.BENCH_INGEST,
      clients: P.BENCH_INGEST_CLIENTS,
      writers: P.BENCH_INGEST_WRITERS,
      rowsPerTransaction: batch,
      pollMs: P.BENCH_POLL_MS,
    },
    pgfeed: {
      changesPerSecond: Math.round(P.BENCH_INGEST / ((ingestReport.lastReceive - burst.startedAt) / 1000)),
      writerCommitsPerSecond: Math.round(P.BENCH_INGEST / ((burst.endedAt - burst.startedAt) / 1000)),
      intoFeedPerSecond: Math.round(P.BENCH_INGEST / ((allInFeedAt - burst.startedAt) / 1000)),
      latencyMs: ingestReport.latency,
      deliveredFraction: round(ingestDelivered, 6),
      duplicates: ingestReport.duplicates,
      outOfOrder: ingestReport.outOfOrder,
      zeroLoss,
    },
    polling: {
      writerCommitsPerSecond: Math.round(P.BENCH_INGEST / ((pollBurst.endedAt - pollBurst.startedAt) / 1000)),
      deliveredFraction: round(pollIngestDelivered),
      lostFraction: round(1 - pollIngestDelivered),
      zeroLoss: pollIngestDelivered === 1,
    },
    ratio: { deliveredFraction: ratio(ingestDelivered, pollIngestDelivered) },
    units: 'changes per second; fractions of (client, change) pairs',
    notes:
      'pgfeed changesPerSecond = changes / (first write started → last client received the last change), every client receiving every change exactly once in id order; writerCommitsPerSecond is how fast the writers committed (the ceiling here), 50 rows per UPDATE statement; intoFeedPerSecond = changes / (first write started → the listener of the instance had every change: log written, notified, read), the server side without the fan-out to clients; polling only shows the states it happens to read',
  });

  // The in-process instance is done: the costs scenario's servers have the machine to themselves.
  await server.close();
  await costsScenario(adminUrl);
  await stallScenario(adminUrl);
  if (!P.quick) {
    await writersScenario(adminUrl);
    await drainScenario(adminUrl);
  }
  return finish(started, version, database);
}

/** 6. What a stream costs the server, pgfeed (both capture modes; two workers) against the hand-rolled server, in one run. */
async function costsScenario(adminUrl: string): Promise<void> {
  progress(`costs: ${P.BENCH_STREAMS.join(', ')} streams on each server`);
  const systems = await runCosts(
    adminUrl,
    P.BENCH_STREAMS,
    P.BENCH_COST_CHANGES,
    P.BENCH_COST_RATE,
    P.BENCH_SYSTEMS,
    P.BENCH_SEMI_SPACE_MB === undefined ? [] : [`--max-semi-space-size=${P.BENCH_SEMI_SPACE_MB}`],
    (c) => cleanups.push(c),
    (line) => progress(`costs: ${line}`),
  );
  costs = systems; // for the table and the chart at the end
  const fanSteps = P.BENCH_STREAMS.slice(0, -1);
  const versus = (a: SystemCost, b: SystemCost) => ({
    memoryPerStream: Object.fromEntries(
      P.BENCH_STREAMS.map((n) => [n, ratio(a.memoryPerStreamBytes[n]!, b.memoryPerStreamBytes[n]!)]),
    ),
    cpuPerConnection: ratio(a.cpuPerConnectionMs, b.cpuPerConnectionMs),
    opensPerSecond: ratio(a.opensPerSecond, b.opensPerSecond),
    cpuPer1000Frames: Object.fromEntries(
      fanSteps.map((n) => [n, ratio(a.fanout[n]!.cpuPer1000FramesMs, b.fanout[n]!.cpuPer1000FramesMs)]),
    ),
    lastClient: Object.fromEntries(fanSteps.map((n) => [n, ratios(a.fanout[n]!.lastClientMs, b.fanout[n]!.lastClientMs)])),
    everyClient: Object.fromEntries(fanSteps.map((n) => [n, ratios(a.fanout[n]!.latencyMs, b.fanout[n]!.latencyMs)])),
  });
  // Each ratio whose two systems ran (BENCH_SYSTEMS may leave some out).
  const pairs: [string, string, string][] = [
    ['pgfeed trigger ÷ hand-rolled', 'pgfeed trigger', 'hand-rolled'],
    ['pgfeed wal ÷ hand-rolled', 'pgfeed wal', 'hand-rolled'],
    ['2 workers ÷ 1 (trigger)', 'pgfeed trigger, 2 workers', 'pgfeed trigger'],
    ['pgfeed trigger ÷ floor', 'pgfeed trigger', 'floor'],
    ['hand-rolled ÷ floor', 'hand-rolled', 'floor'],
    ['pgfeed wal ÷ pgfeed trigger', 'pgfeed wal', 'pgfeed trigger'],
    ['wal main thread ÷ pgfeed trigger', 'pgfeed wal, main thread', 'pgfeed trigger'],
  ];
  emit('costs', {
    params: {
      streams: P.BENCH_STREAMS,
      changesPerStep: P.BENCH_COST_CHANGES,
      changesPerSecond: P.BENCH_COST_RATE,
      company: 1,
      systems: P.BENCH_SYSTEMS,
      semiSpaceMb: P.BENCH_SEMI_SPACE_MB ?? null,
    },
    systems,
    ratio: Object.fromEntries(
      pairs.flatMap(([label, a, b]) => (systems[a] && systems[b] ? [[label, versus(systems[a], systems[b])]] : [])),
    ),
    units:
      'bytes; CPU in ms (user + system of the server process tree, from /proc, 10 ms ticks); latency in ms from COMMIT returning to the writer to a client parsing the change; fanout keyed by open streams',
    notes:
      'each system on a fresh database, its server alone in a process (tree) of its own, all streams following one company, clients in pool processes of at most 6000 streams; streams opened 256 at a time in steps; memory = (RSS after gc at N − at 0) / N; CPU per connection = server CPU while opening / streams opened; CPU per 1000 frames = server CPU from the first write until every client had every change (changes 500 ms apart) / frames × 1000; hand-rolled = scripts/bench/handrolled.ts (express, one LISTEN, pg_notify(row_to_json(new)), every notification to every stream of the company, JWT checked on connect); floor = scripts/bench/floor.ts (node:http alone, no token, one heartbeat timer, the same LISTEN and frames as hand-rolled)',
  });
}

/** 7. One large transaction to many streams of one company: the server's event-loop stalls, against the bare loop's. */
async function stallScenario(adminUrl: string): Promise<void> {
  progress(`stall: one ${P.BENCH_STALL_ROWS}-row transaction to ${P.BENCH_STALL_CLIENTS} streams of one company`);
  const systems = await runStall(
    adminUrl,
    P.BENCH_STALL_CLIENTS,
    P.BENCH_STALL_ROWS,
    (c) => cleanups.push(c),
    (line) => progress(`stall: ${line}`),
  );
  const versus = (name: string, floorName: string) => {
    const [s, floor] = [systems[name]!, systems[floorName]!];
    return {
      worstStall: ratio(s.loop.maxMs, floor.loop.maxMs),
      lastFrame: ratio(s.lastFrameMs, floor.lastFrameMs),
      serverCpu: ratio(s.serverCpuMs, floor.serverCpuMs),
    };
  };
  const floor = 'bare loop, 64 frames per write';
  emit('stall', {
    params: { clients: P.BENCH_STALL_CLIENTS, rows: P.BENCH_STALL_ROWS, company: 1 },
    systems,
    ratio: {
      'pgfeed trigger ÷ bare loop (64 per write)': versus('pgfeed trigger', floor),
      'pgfeed wal ÷ bare loop (64 per write)': versus('pgfeed wal', floor),
      'hand-rolled ÷ bare loop (64 per write)': versus('hand-rolled', floor),
      'bare loop (1 per write) ÷ bare loop (64 per write)': versus('bare loop', floor),
    },
    units:
      'milliseconds; loop = monitorEventLoopDelay in the server process (5 ms resolution) from just before the commit until the last client had the last row; frame times from COMMIT returning to the writer to a client parsing the frame',
    notes:
      "each system on a fresh database, alone in a server process, its N clients in one pool process that counts events per stream without parsing their data (complete = every stream got all M rows once, in id order, none cut off); bare loop = scripts/bench/bare.ts, M precomputed frames written to the N sockets, one frame (or 64 joined) to every socket per event-loop turn, no database: the floor (perTurnMs: one such write to all N sockets); serverCpu = user + system CPU of the server process from the commit to the last frame; otherTenantAfterLastRowMs = when the other company's change (committed right after the burst) reached its stream, minus when the last row reached the last client (negative: before it)",
  });
}

/** 5. The WAL capturer's own pace: a backlog appended with nobody else on the machine. */
async function drainScenario(adminUrl: string): Promise<void> {
  progress(`drain: ${P.BENCH_DRAIN} changes appended by CAPTURE=wal`);
  const drain = await runDrain(adminUrl, `pgfeed_bench_drain_${Date.now()}`, P.BENCH_DRAIN);
  emit('drain', {
    params: { changes: P.BENCH_DRAIN, rowsPerTransaction: ROWS },
    pgfeed: drain,
    units: 'changes per second; seconds',
    notes:
      'CAPTURE=wal only: the changes are committed while no pgfeed runs (the slot keeps them), then one instance starts; seconds = from its start to every change in the log; no writers and no clients meanwhile, so this is the capture path alone (replication stream, decoding, appends), the ceiling of ingest on this machine',
  });
}

/** 4. What capture costs writers: none vs trigger vs wal, on fresh databases of the same server. */
async function writersScenario(adminUrl: string): Promise<void> {
  progress('writers: what capture costs the application');
  const cases: CaptureCase[] = ['none', 'walReader', 'trigger', 'wal'];
  const runs: Record<CaptureCase, WritersResult[]> = { none: [], walReader: [], trigger: [], wal: [] };
  // Rounds interleave the cases, so a slow patch of the machine hits all of them alike.
  for (let round = 0; round < P.BENCH_WRITERS_ROUNDS; round++) {
    for (const c of cases) {
      const name = `pgfeed_bench_w_${c.toLowerCase()}_${Date.now()}`;
      runs[c].push(await runWriters(adminUrl, name, c, P.BENCH_WRITERS, P.BENCH_WRITERS_SECONDS));
    }
  }
  // Each case's round with the median throughput.
  const median = (c: CaptureCase) =>
    [...runs[c]].sort((a, b) => a.transactionsPerSecond - b.transactionsPerSecond)[Math.floor(runs[c].length / 2)]!;
  const out = Object.fromEntries(cases.map((c) => [c, median(c)])) as Record<CaptureCase, WritersResult>;
  const base = out.none;
  const vsNone = (r: WritersResult) => ({
    transactionsPerSecond: ratio(r.transactionsPerSecond, base.transactionsPerSecond),
    p50: ratio(r.commitLatencyMs.p50, base.commitLatencyMs.p50),
    p99: ratio(r.commitLatencyMs.p99, base.commitLatencyMs.p99),
  });
  emit('writers', {
    params: { writers: P.BENCH_WRITERS, seconds: P.BENCH_WRITERS_SECONDS, rounds: P.BENCH_WRITERS_ROUNDS, rows: ROWS },
    ...out,
    ratio: { walReader: vsNone(out.walReader), trigger: vsNone(out.trigger), wal: vsNone(out.wal) },
    roundsTransactionsPerSecond: Object.fromEntries(cases.map((c) => [c, runs[c].map((r) => r.transactionsPerSecond)])),
    zeroLoss: {
      trigger: runs.trigger.every((r) => r.events === r.commitLatencyMs.count),
      wal: runs.wal.every((r) => r.events === r.commitLatencyMs.count),
    },
    units: 'transactions per second; commit latency in ms (UPDATE of one random row of 1000, autocommit); ratios to no capture',
    notes:
      'the writers are a process of their own, pgfeed runs in the benchmark process; each case on a fresh database of the same server, in the order none, walReader, trigger, wal, repeated for each round; a case shows its median round; walReader = the tables set up for wal capture and a pgoutput reader that only confirms what it receives, every 100 ms (the least any WAL capture costs here); events = log rows written for the writes (one per commit expected); wal captureCatchUpMs = last commit → capturer has appended everything; walBytesPerTransaction = WAL the server wrote during the case (for wal, until the capturer caught up) per writer transaction',
  });
}

async function finish(started: number, version: string | undefined, database: string): Promise<void> {
  const seconds = round((now() - started) / 1000, 1);
  await cleanup();
  const dir = path.resolve(__dirname, '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(dir, `${stamp}.json`);
  // The load average (as uptime prints it) at start and end: the machine is shared, and absolute figures move with it.
  const load = { start: loadAtStart.map((l) => round(l, 2)), end: os.loadavg().map((l) => round(l, 2)) };
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, postgres: version, database, load };
  const { BENCH_DATABASE_URL: _url, ...knobs } = P; // the URL may hold a password: not in the results
  writeFileSync(file, JSON.stringify({ machine, params: knobs, seconds, results }, null, 2) + '\n');
  process.stderr.write(`bench: ${results.length} scenarios in ${seconds} s, written to ${path.relative(process.cwd(), file)}\n`);
  if (costs) {
    process.stderr.write(`\n${costsTable(costs, P.BENCH_STREAMS)}\n\n`);
    const caption = `${P.BENCH_ONLY ? `BENCH_ONLY=${P.BENCH_ONLY} ` : ''}npm run bench${P.quick ? ' --quick' : ''}, ${new Date().toISOString().slice(0, 16)} UTC; ${machine.cpus} × ${machine.cpu}; PostgreSQL ${version}; load average ${load.start[0]} at start, ${load.end[0]} at end`;
    // A full run's chart is the one docs/benchmark.md shows; a quick run's stays beside its results.
    const svg = P.quick ? path.join(dir, `${stamp}.svg`) : path.resolve(__dirname, '..', 'docs', 'benchmark.svg');
    writeFileSync(svg, costsSvg(costs, P.BENCH_STREAMS, caption));
    process.stderr.write(`bench: chart written to ${path.relative(process.cwd(), svg)}\n`);
  }
}

const watchdog = setTimeout(
  () => abort(`gave up after BENCH_TIMEOUT_SECONDS=${P.BENCH_TIMEOUT_SECONDS}`, 1),
  P.BENCH_TIMEOUT_SECONDS * 1000,
);
main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  (error: unknown) => abort(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, 1),
);
