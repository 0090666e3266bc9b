/**
 * The benchmark's client side, run as a separate process so the clients do
 * not share the server's event loop. It holds SSE streams or snapshot
 * pollers and records, per marker (a trip route written by the benchmark),
 * when each client first saw it. Driven by messages from scripts/bench.ts.
 */
import { type LatencyStats, stats } from './stats';
import http from 'node:http';
import { createParser } from 'eventsource-parser';
import postgres from 'postgres';
import { now } from './clock';

export type PoolCommand =
  | { cmd: 'streams'; urls: { url: string; token: string }[]; tally?: boolean }
  | { cmd: 'pollers'; databaseUrl: string; companies: string[]; count: number; intervalMs: number }
  | { cmd: 'report'; commits: Record<string, number> }
  | { cmd: 'samples'; markers: string[] }
  | { cmd: 'count'; markers: string[] }
  | { cmd: 'tally' }
  | { cmd: 'close' }
  | { cmd: 'stop' };

export type { LatencyStats } from './stats';

export interface PoolReport {
  latency: LatencyStats;
  /** Per marker: time from commit until the last client saw it. */
  fanout: LatencyStats;
  /** Markers some client that should have seen them never saw. */
  missed: number;
  /** (client, marker) pairs delivered more than once. */
  duplicates: number;
  /** Streams the server ended (for example a slow client cut off), each reopened with Last-Event-ID. */
  disconnects: number;
  /** Events a stream delivered with an id not above the previous one (commit order broken). */
  outOfOrder: number;
  queries: number;
  rss: number;
  /** Receive times of the first and last marker seen (epoch ms). */
  firstReceive: number;
  lastReceive: number;
}

const seen = new Map<string, number[]>(); // marker → receive times, one per client that saw it
let duplicates = 0;
let outOfOrder = 0;
let disconnects = 0;
/** Opens that failed before the stream was ready (a reset while the server is busy) and were tried again. */
let retries = 0;
/** Tries per stream before the pool gives up on it. */
const OPEN_TRIES = 5;
let queries = 0;
const closers: (() => void)[] = [];

function record(client: number, marker: string, perClient: Map<number, Set<string>>): void {
  let mine = perClient.get(client);
  if (!mine) perClient.set(client, (mine = new Set()));
  if (mine.has(marker)) {
    duplicates++;
    return;
  }
  mine.add(marker);
  let times = seen.get(marker);
  if (!times) seen.set(marker, (times = []));
  times.push(now());
}

const streamSeen = new Map<number, Set<string>>();

/**
 * What the stall scenario asks of a pool (`streams` with `tally`): events per
 * stream and when any arrived, without parsing a frame's data, so the clients
 * spend as little of the shared cores as they can. With `outOfOrder` 0, a
 * stream whose count is the burst's row count got every row once, in order.
 */
export interface PoolTally {
  streams: number;
  minEvents: number;
  maxEvents: number;
  outOfOrder: number;
  disconnects: number;
  /** Receive times of the first and last event (ms, see clock.ts). */
  firstReceive: number;
  lastReceive: number;
}
const tallies = new Map<number, number>();
let firstTallied = NaN;
let lastTallied = NaN;

function tally(client: number): void {
  tallies.set(client, (tallies.get(client) ?? 0) + 1);
  lastTallied = now();
  if (Number.isNaN(firstTallied)) firstTallied = lastTallied;
}
/** Clients are numbered across every `streams` command, so a pool can grow in steps. */
let nextClient = 0;
/** Streams opened at once: a wave the server's accept backlog takes without SYN retries. */
const OPEN_CONCURRENCY = 256;

/** What the costs scenario merges over its pools: per marker, every receive time. */
export interface PoolSamples {
  times: Record<string, number[]>;
  duplicates: number;
  outOfOrder: number;
  disconnects: number;
  retries: number;
}

/**
 * Opens one SSE stream per url. A stream the server ends (a client cut off for
 * falling behind, say) is reopened with Last-Event-ID, as EventSource does:
 * `disconnects` counts those, and loss is judged after the resume.
 */
function openStreams(urls: { url: string; token: string }[], tallyOnly = false): Promise<void> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  let stopping = false;
  closers.push(() => (stopping = true));
  return new Promise((resolve, reject) => {
    let ready = 0;
    let started = 0;
    const startNext = () => {
      if (started < urls.length) openOne(urls[started]!, started++);
    };
    const openOne = ({ url, token }: { url: string; token: string }, index: number) => {
      const client = nextClient++;
      if (tallyOnly) tallies.set(client, 0);
      let lastId = -1n;
      let isReady = false;
      let tries = 0;
      const open = () => {
        let reopened = false;
        const reopen = () => {
          if (stopping || reopened) return;
          reopened = true;
          disconnects++;
          open();
        };
        const headers: Record<string, string> = { Accept: 'text/event-stream', Authorization: `Bearer ${token}` };
        if (lastId >= 0n) headers['Last-Event-ID'] = lastId.toString();
        const req = http.get(url, { agent, headers }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`stream ${index}: HTTP ${res.statusCode}`));
          const parser = createParser({
            onEvent: (m) => {
              if (m.event === 'ready') {
                if (!isReady && ++ready === urls.length) resolve();
                if (!isReady) startNext();
                isReady = true;
                return;
              }
              const id = BigInt(m.id ?? '0');
              if (id <= lastId) outOfOrder++;
              lastId = id;
              if (tallyOnly) return tally(client);
              // pgfeed's frame carries the row in `row`; the hand-rolled server's is the row itself.
              const data = JSON.parse(m.data) as { row?: { route?: string }; route?: string };
              const route = data.row ? data.row.route : data.route;
              if (route?.startsWith('m')) record(client, route, streamSeen);
            },
          });
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => parser.feed(chunk));
          res.on('close', reopen);
        });
        req.on('error', (error) => {
          if (isReady) return reopen();
          // Not ready yet: as EventSource would, try again shortly; a stream that never opens fails the run.
          if (++tries >= OPEN_TRIES || stopping) return reject(error);
          retries++;
          setTimeout(open, 200 * tries);
        });
        closers.push(() => req.destroy());
      };
      open();
    };
    if (urls.length === 0) resolve();
    for (let i = 0; i < OPEN_CONCURRENCY; i++) startNext();
  });
}

/** The design pgfeed replaces: each dashboard re-reads its company's trips every interval and diffs. */
async function startPollers(databaseUrl: string, companies: string[], count: number, intervalMs: number): Promise<void> {
  const sql = postgres(databaseUrl, { max: 20, onnotice: () => {} });
  const pollerSeen = new Map<number, Set<string>>();
  let stopped = false;
  closers.push(() => {
    stopped = true;
    void sql.end({ timeout: 1 });
  });
  for (let p = 0; p < count; p++) {
    const company = companies[p % companies.length]!;
    // The last snapshot, as the dashboard keeps it to diff against: whole rows, serialized.
    let previous = new Map<string, string>();
    const poll = async () => {
      if (stopped) return;
      queries++;
      const rows = await sql<{ id: string; route: string }[]>`select * from trips where company_id = ${company}`;
      const next = new Map(rows.map((r) => [r.id, JSON.stringify(r)]));
      for (const row of rows) {
        if (previous.get(row.id) !== next.get(row.id) && row.route.startsWith('m')) record(p, row.route, pollerSeen);
      }
      previous = next;
    };
    // Dashboards open at random moments, so polls are spread over the interval.
    setTimeout(() => {
      void poll().catch(() => {});
      const timer = setInterval(() => void poll().catch(() => {}), intervalMs);
      closers.push(() => clearInterval(timer));
    }, Math.random() * intervalMs);
  }
}

function report(commits: Record<string, number>): PoolReport {
  const latencies: number[] = [];
  const fanout: number[] = [];
  let missed = 0;
  let firstReceive = Infinity;
  let lastReceive = 0;
  for (const [marker, committedAt] of Object.entries(commits)) {
    const times = seen.get(marker);
    if (!times) {
      missed++;
      continue;
    }
    for (const t of times) {
      latencies.push(t - committedAt);
      firstReceive = Math.min(firstReceive, t);
      lastReceive = Math.max(lastReceive, t);
    }
    fanout.push(Math.max(...times) - committedAt);
  }
  return {
    latency: stats(latencies),
    fanout: stats(fanout),
    missed,
    duplicates,
    outOfOrder,
    disconnects,
    queries,
    rss: process.memoryUsage().rss,
    firstReceive,
    lastReceive,
  };
}

process.on('message', (msg: PoolCommand) => {
  const reply = (m: unknown) => process.send?.(m);
  if (msg.cmd === 'streams')
    openStreams(msg.urls, msg.tally).then(
      () => reply({ ok: true }),
      (e: Error) => reply({ error: e.message }),
    );
  else if (msg.cmd === 'pollers')
    startPollers(msg.databaseUrl, msg.companies, msg.count, msg.intervalMs).then(() => reply({ ok: true }));
  else if (msg.cmd === 'report') reply(report(msg.commits));
  else if (msg.cmd === 'tally') {
    const counts = [...tallies.values()];
    reply({
      streams: counts.length,
      minEvents: Math.min(...counts),
      maxEvents: Math.max(...counts),
      outOfOrder,
      disconnects,
      firstReceive: firstTallied,
      lastReceive: lastTallied,
    } satisfies PoolTally);
  } else if (msg.cmd === 'count') reply({ count: msg.markers.reduce((n, m) => n + (seen.get(m)?.length ?? 0), 0) });
  else if (msg.cmd === 'samples')
    reply({
      times: Object.fromEntries(msg.markers.flatMap((m) => (seen.has(m) ? [[m, seen.get(m)!]] : []))),
      duplicates,
      outOfOrder,
      disconnects,
      retries,
    } satisfies PoolSamples);
  else if (msg.cmd === 'close') {
    // Every stream and poller closed and the counts cleared: the pool is kept for the next server.
    closers.splice(0).forEach((c) => c());
    seen.clear();
    streamSeen.clear();
    duplicates = outOfOrder = disconnects = retries = 0;
    reply({ ok: true });
  } else if (msg.cmd === 'stop') {
    closers.forEach((c) => c());
    process.disconnect?.();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
// The parent went away (crashed or killed): nothing to report to, so leave too.
process.on('disconnect', () => process.exit(0));
process.send?.({ ok: true, rss: process.memoryUsage().rss });
