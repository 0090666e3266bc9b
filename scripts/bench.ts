/**
 * npm run bench: pgfeed against the 3-second snapshot polling it replaces, on a
 * real PostgreSQL, with clients in separate processes. Prints one JSON object
 * per scenario and writes them to bench/results/<time>.json. See docs/benchmark.md.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { connect, type Sql } from '../src/db/connect';
import { type EmbeddedServer, startEmbedded } from '../src/db/embedded';
import { migrate } from '../src/db/migrate';
import { startPgfeed, type PgfeedServer } from '../src/server';
import type { LatencyStats, PoolCommand, PoolReport } from './bench/pool';

const int = (d: number, min = 1) => z.coerce.number().int().min(min).default(d);
const paramsSchema = z.object({
  BENCH_CLIENTS: int(500),
  BENCH_RATE: int(50),
  BENCH_SECONDS: int(10),
  BENCH_COMPANIES: int(10),
  BENCH_INGEST: int(10000),
  BENCH_INGEST_CLIENTS: int(20),
  BENCH_POLL_MS: int(3000, 100),
  BENCH_DATABASE_URL: z.string().url().optional(),
});
const parsed = paramsSchema.safeParse(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_'))));
if (!parsed.success) {
  const issue = parsed.error.issues[0];
  process.stderr.write(`bench: ${String(issue?.path[0])} ${issue?.message}\n`);
  process.exit(2);
}
const P = parsed.data;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results: Record<string, unknown>[] = [];

function emit(scenario: string, body: Record<string, unknown>): void {
  const line = { scenario, ...body };
  results.push(line);
  process.stdout.write(JSON.stringify(line) + '\n');
}

const ratio = (a: number, b: number) => (b === 0 ? null : Number((a / b).toFixed(4)));
const ratios = (a: LatencyStats, b: LatencyStats) => ({
  p50: ratio(a.p50, b.p50),
  p99: ratio(a.p99, b.p99),
  max: ratio(a.max, b.max),
});

/** A client pool process. */
class Pool {
  private readonly child: ChildProcess;
  private waiting: ((m: any) => void)[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly started: Promise<{ rss: number }>;
  constructor() {
    this.child = fork(path.join(__dirname, 'bench', 'pool.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    this.child.on('message', (m) => this.waiting.shift()?.(m));
    this.child.on('error', () => {}); // a pool that already exited: nothing left to stop
    this.started = new Promise((resolve) => this.waiting.push(resolve));
  }
  ask<T>(cmd: PoolCommand): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.push((m) => (m?.error ? reject(new Error(m.error)) : resolve(m)));
      this.child.send(cmd);
    });
  }
  stop(): void {
    if (!this.child.connected) return;
    this.child.send({ cmd: 'stop' });
    setTimeout(() => this.child.kill(), 2000).unref();
  }
}

/** W commits per second for `seconds`, each changing one trip's route to a fresh marker; returns commit times. */
async function writeSteady(sql: Sql, companies: string[], rate: number, seconds: number, tag: string) {
  const commits: Record<string, number> = {};
  const companyOf: Record<string, string> = {};
  const total = rate * seconds;
  const start = Date.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const company = companies[i % companies.length]!;
    const marker = `m${tag}-${i}`;
    companyOf[marker] = company;
    inflight.push(
      sql`update trips set route = ${marker} where id = ${`${company}-t${i % 20}`}`.then(() => {
        commits[marker] = Date.now();
      }),
    );
  }
  await Promise.all(inflight);
  return { commits, companyOf, total };
}

async function main(): Promise<void> {
  let embedded: EmbeddedServer | undefined;
  let dataDir: string | undefined;
  let adminUrl = P.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!adminUrl) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pgfeed-bench-'));
    chmodSync(dataDir, 0o755);
    embedded = await startEmbedded({
      dir: path.join(dataDir, 'pg'),
      port: 54400 + Math.floor(Math.random() * 500),
      persistent: false,
    });
    adminUrl = embedded.url();
  }
  const dbName = `pgfeed_bench_${Date.now()}`;
  const admin = connect(adminUrl, { max: 1 });
  await admin.unsafe(`create database ${dbName}`);
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const databaseUrl = u.toString();
  const sql = connect(databaseUrl, { max: 20, applicationName: 'bench-writer' });
  const pools: Pool[] = [];
  let server: PgfeedServer | undefined;
  const started = Date.now();
  try {
    await migrate(sql);
    const companies = Array.from({ length: P.BENCH_COMPANIES }, (_, i) => `c${i}`);
    for (const c of companies) {
      await sql`insert into companies (id, name) values (${c}, ${c})`;
      await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
                select ${c} || '-t' || g, ${c}, 'start', now() + interval '1 day', 100, 100 from generate_series(0, 19) g`;
    }
    server = await startPgfeed({
      databaseUrl,
      port: 0,
      host: '127.0.0.1',
      log: 'silent',
      migrate: false,
      config: { MAX_CONNECTIONS_PER_USER: 1_000_000, RATE_LIMIT_PER_MINUTE: 10_000_000, MAX_CONNECTIONS: 1_000_000 },
    });
    const srv = server;
    const tokens = await Promise.all(companies.map((c) => srv.auth.sign({ sub: `${c}-admin`, company: c, role: 'admin' })));
    const streamUrls = (n: number, only?: string) =>
      Array.from({ length: n }, (_, i) => {
        const ci = only ? companies.indexOf(only) : i % companies.length;
        return { url: `${srv.url}/events/company/${companies[ci]}`, token: tokens[ci]! };
      });
    const params = {
      clients: P.BENCH_CLIENTS,
      commitsPerSecond: P.BENCH_RATE,
      seconds: P.BENCH_SECONDS,
      companies: P.BENCH_COMPANIES,
      pollMs: P.BENCH_POLL_MS,
    };

    // 1. Latency at N clients and W commits/s; memory per connection; database queries per second.
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const streams = new Pool();
    pools.push(streams);
    await streams.started;
    await streams.ask({ cmd: 'streams', urls: streamUrls(P.BENCH_CLIENTS) });
    global.gc?.();
    const rssPerConnection = (process.memoryUsage().rss - rss0) / P.BENCH_CLIENTS;
    const q0 = srv.metrics.registry.value('pgfeed_db_queries_total');
    const liveStart = Date.now();
    const live = await writeSteady(sql, companies, P.BENCH_RATE, P.BENCH_SECONDS, 'L');
    await sleep(500);
    const pgfeedQps = (srv.metrics.registry.value('pgfeed_db_queries_total') - q0) / ((Date.now() - liveStart) / 1000);
    const pgfeedReport = await streams.ask<PoolReport>({ cmd: 'report', commits: live.commits });
    streams.stop();

    const pollers = new Pool();
    pools.push(pollers);
    const pollerBase = await pollers.started;
    await pollers.ask({ cmd: 'pollers', databaseUrl, companies, count: P.BENCH_CLIENTS, intervalMs: P.BENCH_POLL_MS });
    await sleep(P.BENCH_POLL_MS); // every dashboard has taken its first snapshot
    const pollerState = await pollers.ask<PoolReport>({ cmd: 'report', commits: {} });
    const pollStart = Date.now();
    const polled = await writeSteady(sql, companies, P.BENCH_RATE, P.BENCH_SECONDS, 'P');
    await sleep(P.BENCH_POLL_MS + 500);
    const pollingReport = await pollers.ask<PoolReport>({ cmd: 'report', commits: polled.commits });
    pollers.stop();
    const pollingQps = (pollingReport.queries - pollerState.queries) / ((Date.now() - pollStart) / 1000);
    const perCompany = P.BENCH_CLIENTS / P.BENCH_COMPANIES;
    const delivered = (r: PoolReport, total: number) => r.latency.count / (total * perCompany);

    emit('latency', {
      params,
      pgfeed: {
        latencyMs: pgfeedReport.latency,
        deliveredFraction: delivered(pgfeedReport, live.total),
        duplicates: pgfeedReport.duplicates,
      },
      polling: { latencyMs: pollingReport.latency, deliveredFraction: delivered(pollingReport, polled.total) },
      ratio: ratios(pgfeedReport.latency, pollingReport.latency),
      notes: 'commit-to-receive: receive time in the client process minus the time COMMIT returned to the writer (same clock)',
    });
    emit('db_queries_per_second', {
      params,
      pgfeed: { perInstance: Number(pgfeedQps.toFixed(2)) },
      polling: { perInstance: Number(pollingQps.toFixed(2)), pollerQueries: pollingReport.queries },
      ratio: { perInstance: ratio(pgfeedQps, pollingQps) },
      notes:
        'pgfeed: pgfeed_db_queries_total (every query the instance sent, pool and listener) per second while W commits/s ran; polling: snapshot queries the N dashboards sent per second',
    });
    emit('memory', {
      params,
      pgfeed: { serverRssBytesPerConnection: Math.round(rssPerConnection) },
      polling: { clientRssBytesPerDashboard: Math.round((pollerState.rss - pollerBase.rss) / P.BENCH_CLIENTS) },
      ratio: { perConnection: ratio(rssPerConnection, (pollerState.rss - pollerBase.rss) / P.BENCH_CLIENTS) },
      notes:
        'pgfeed: server RSS growth for N open streams; polling: RSS growth of the process holding N dashboards and their last snapshots',
    });

    // 2. One change to all N clients (all on one company).
    const fan = new Pool();
    pools.push(fan);
    await fan.started;
    await fan.ask({ cmd: 'streams', urls: streamUrls(P.BENCH_CLIENTS, companies[0]) });
    const fanCommits = await writeSteady(sql, [companies[0]!], 2, 5, 'F');
    await sleep(500);
    const fanReport = await fan.ask<PoolReport>({ cmd: 'report', commits: fanCommits.commits });
    fan.stop();
    const fanPoll = new Pool();
    pools.push(fanPoll);
    await fanPoll.started;
    await fanPoll.ask({
      cmd: 'pollers',
      databaseUrl,
      companies: [companies[0]!],
      count: P.BENCH_CLIENTS,
      intervalMs: P.BENCH_POLL_MS,
    });
    await sleep(P.BENCH_POLL_MS);
    const fanPollCommits = await writeSteady(sql, [companies[0]!], 2, 5, 'G');
    await sleep(P.BENCH_POLL_MS + 500);
    const fanPollReport = await fanPoll.ask<PoolReport>({ cmd: 'report', commits: fanPollCommits.commits });
    fanPoll.stop();
    emit('fanout', {
      params: { clients: P.BENCH_CLIENTS, changes: fanCommits.total },
      pgfeed: { toAllClientsMs: fanReport.fanout },
      polling: { toAllClientsMs: fanPollReport.fanout },
      ratio: ratios(fanReport.fanout, fanPollReport.fanout),
    });

    // 3. Ingest: changes as fast as the writers can commit them, zero loss required.
    const ingest = new Pool();
    pools.push(ingest);
    await ingest.started;
    await ingest.ask({ cmd: 'streams', urls: streamUrls(P.BENCH_INGEST_CLIENTS, companies[0]) });
    const commits: Record<string, number> = {};
    const t0 = Date.now();
    const batch = 50;
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let b = w; b * batch < P.BENCH_INGEST; b += 4) {
          const markers = Array.from({ length: Math.min(batch, P.BENCH_INGEST - b * batch) }, (_, k) => `mI-${b * batch + k}`);
          await sql.begin(async (tx) => {
            for (const [k, m] of markers.entries()) await tx`update trips set route = ${m} where id = ${`c0-t${k % 20}`}`;
          });
          const now = Date.now();
          for (const m of markers) commits[m] = now;
        }
      }),
    );
    let ingestReport: PoolReport;
    const deadline = Date.now() + 120_000;
    do {
      await sleep(250);
      ingestReport = await ingest.ask<PoolReport>({ cmd: 'report', commits });
    } while (ingestReport.latency.count < P.BENCH_INGEST * P.BENCH_INGEST_CLIENTS && Date.now() < deadline);
    ingest.stop();
    const ingestSeconds = (ingestReport.lastReceive - t0) / 1000;
    // Polling sees only the state at each poll: a row changed several times between polls shows one change.
    const pollIngest = new Pool();
    pools.push(pollIngest);
    await pollIngest.started;
    await pollIngest.ask({
      cmd: 'pollers',
      databaseUrl,
      companies: [companies[0]!],
      count: P.BENCH_INGEST_CLIENTS,
      intervalMs: P.BENCH_POLL_MS,
    });
    await sleep(P.BENCH_POLL_MS);
    const pollCommits: Record<string, number> = {};
    for (let b = 0; b * batch < P.BENCH_INGEST; b++) {
      const markers = Array.from({ length: Math.min(batch, P.BENCH_INGEST - b * batch) }, (_, k) => `mJ-${b * batch + k}`);
      await sql.begin(async (tx) => {
        for (const [k, m] of markers.entries()) await tx`update trips set route = ${m} where id = ${`c0-t${k % 20}`}`;
      });
      for (const m of markers) pollCommits[m] = Date.now();
    }
    await sleep(P.BENCH_POLL_MS + 500);
    const pollIngestReport = await pollIngest.ask<PoolReport>({ cmd: 'report', commits: pollCommits });
    pollIngest.stop();
    const pgfeedDelivered = ingestReport.latency.count / (P.BENCH_INGEST * P.BENCH_INGEST_CLIENTS);
    const pollingDelivered = pollIngestReport.latency.count / (P.BENCH_INGEST * P.BENCH_INGEST_CLIENTS);
    emit('ingest', {
      params: { changes: P.BENCH_INGEST, clients: P.BENCH_INGEST_CLIENTS, writers: 4, rowsPerTransaction: batch },
      pgfeed: {
        changesPerSecond: Math.round(P.BENCH_INGEST / ingestSeconds),
        deliveredFraction: pgfeedDelivered,
        duplicates: ingestReport.duplicates,
        zeroLoss: pgfeedDelivered === 1 && ingestReport.duplicates === 0,
      },
      polling: {
        deliveredFraction: Number(pollingDelivered.toFixed(4)),
        lostFraction: Number((1 - pollingDelivered).toFixed(4)),
      },
      ratio: { deliveredFraction: ratio(pgfeedDelivered, pollingDelivered) },
      notes:
        'pgfeed rate = changes / (last receive − first commit start); polling cannot show changes overwritten between two polls',
    });
  } finally {
    pools.forEach((p) => p.stop());
    await server?.close();
    await sql.end({ timeout: 2 });
    await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  const dir = path.resolve(__dirname, '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { machine: { cpus: os.cpus().length, node: process.version }, seconds: (Date.now() - started) / 1000, results },
      null,
      2,
    ),
  );
  process.stderr.write(`bench: wrote ${path.relative(process.cwd(), file)} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
