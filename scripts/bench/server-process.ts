/**
 * One server of the costs scenario in a process of its own, so its CPU and
 * memory are its own (read from /proc by the parent, scripts/bench/proc.ts):
 * pgfeed (CAPTURE=trigger or wal, one process or `workers` behind one port
 * with node:cluster, as `pgfeed start --workers` runs it), the hand-rolled
 * server, or the floor (floor.ts). Forked by scripts/bench.ts with --expose-gc; answers `gc` (in every
 * worker) and `stop`.
 */
import cluster from 'node:cluster';
import { domain } from '../../src/domain';
import { createLogger } from '../../src/log';
import { startPgfeed } from '../../src/service';
import { startFloor } from './floor';
import { type BareServer, startBare } from './bare';
import { startHandRolled } from './handrolled';
import { LIFTED_LIMITS } from './params';
import { startProbe, stopProbe } from './probe';

/** `bare`: the stall scenario's floor (bare.ts), streams and writes with nothing of pgfeed; `floor`: the costs scenario's (floor.ts). */
export type ServerSystem = 'trigger' | 'wal' | 'handrolled' | 'floor' | 'bare';

export interface ServerJob {
  system: ServerSystem;
  databaseUrl: string;
  secret: string;
  /** A free port: every worker listens on it. */
  port: number;
  workers: number;
  /** wal: CAPTURE_THREAD (unset: pgfeed's default, the worker thread). */
  captureThread?: boolean;
}

/** `probe` / `probed`: start and read the event-loop delay (probe.ts); `burst`: the bare server's writes. */
export type ServerCommand =
  | { cmd: 'gc' }
  | { cmd: 'stop' }
  | { cmd: 'probe' }
  | { cmd: 'probed' }
  | { cmd: 'burst'; frames: number; bytes: number; batch: number };

let bare: BareServer | undefined;

/** One instance in this process; resolves with its close(). */
async function serve(job: ServerJob): Promise<() => Promise<void>> {
  if (job.system === 'bare') {
    const server = (bare = await startBare(job.port));
    return () => server.close();
  }
  if (job.system === 'handrolled') {
    const server = await startHandRolled(job.databaseUrl, job.secret, job.port);
    return () => server.close();
  }
  if (job.system === 'floor') {
    const server = await startFloor(job.databaseUrl, job.port);
    return () => server.close();
  }
  const server = await startPgfeed({
    databaseUrl: job.databaseUrl,
    entities: domain.entities,
    migrate: false,
    logger: createLogger('silent'),
    config: {
      PORT: job.port,
      HOST: '127.0.0.1',
      JWT_SECRET: job.secret,
      CAPTURE: job.system === 'wal' ? 'wal' : 'trigger',
      ...(job.captureThread === undefined ? {} : { CAPTURE_THREAD: job.captureThread }),
      ...LIFTED_LIMITS,
    },
  });
  return () => server.close();
}

const gc = () => (global.gc?.(), global.gc?.());

if (cluster.isWorker) {
  const job = JSON.parse(process.env.BENCH_SERVER_JOB!) as ServerJob;
  void serve(job).then((close) => {
    process.on('message', (m: ServerCommand) => {
      if (m.cmd === 'gc') {
        gc();
        process.send?.({ ok: true });
      }
    });
    process.on('SIGTERM', () => void close().then(() => process.exit(0)));
    process.send?.({ ok: true });
  });
} else {
  process.once('message', async (job: ServerJob) => {
    let close: () => Promise<void>;
    const workers: ReturnType<typeof cluster.fork>[] = [];
    const next = (w: ReturnType<typeof cluster.fork>) => new Promise((r) => w.once('message', r));
    if (job.workers > 1) {
      // Workers run this file: the same execArgv (tsx, --expose-gc).
      for (let i = 0; i < job.workers; i++) workers.push(cluster.fork({ BENCH_SERVER_JOB: JSON.stringify(job) }));
      await Promise.all(workers.map(next));
      close = async () => {
        await Promise.all(workers.map((w) => new Promise((r) => (w.once('exit', r), w.process.kill('SIGTERM')))));
      };
    } else {
      close = await serve(job);
    }
    process.on('message', async (m: ServerCommand) => {
      if (m.cmd === 'gc') {
        gc();
        await Promise.all(workers.map((w) => (w.send(m), next(w))));
        process.send?.({ ok: true });
      } else if (m.cmd === 'probe') {
        startProbe();
        process.send?.({ ok: true });
      } else if (m.cmd === 'probed') {
        process.send?.(stopProbe());
      } else if (m.cmd === 'burst') {
        process.send?.((await bare?.burst(m.frames, m.bytes, m.batch)) ?? { error: 'burst: not the bare server' });
      } else if (m.cmd === 'stop') {
        await close();
        process.send?.({ ok: true });
        process.exit(0);
      }
    });
    process.send?.({ url: `http://127.0.0.1:${job.port}`, pid: process.pid });
  });
  // The bench went away: nothing to serve for.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ok: true, rss: process.memoryUsage().rss });
}
