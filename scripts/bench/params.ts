/** The benchmark's knobs, from BENCH_* environment variables, validated once. */
import { z } from 'zod';

const int = (d: number, min = 1) => z.coerce.number().int().min(min).default(d);

// Strict: a misspelt BENCH_ variable is an error, not a silently ignored knob.
export const benchParams = z
  .object({
    BENCH_CLIENTS: int(1000),
    BENCH_RATE: int(50),
    BENCH_SECONDS: int(20),
    BENCH_POLL_SECONDS: int(15),
    BENCH_COMPANIES: int(10),
    BENCH_FANOUT_CHANGES: int(10),
    BENCH_INGEST: int(10000),
    BENCH_INGEST_CLIENTS: int(20),
    BENCH_INGEST_WRITERS: int(4),
    BENCH_POLL_MS: int(3000, 100),
    BENCH_TIMEOUT_SECONDS: int(600, 10),
    /** The capture path of the pgfeed instance in the latency, fan-out and ingest scenarios. */
    BENCH_CAPTURE: z.enum(['trigger', 'wal']).default('trigger'),
    /** writers: concurrent one-row writers and how long they write, per capture case. */
    BENCH_WRITERS: int(16),
    BENCH_WRITERS_SECONDS: int(10),
    /** writers: rounds of all cases, interleaved; each case reports its median round. */
    BENCH_WRITERS_ROUNDS: int(1),
    /** drain: changes committed while no capturer runs, then appended by CAPTURE=wal. */
    BENCH_DRAIN: int(100000),
    /** Run only this scenario. */
    BENCH_ONLY: z.enum(['writers', 'drain']).optional(),
    BENCH_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  })
  .strict();

export type BenchParams = z.infer<typeof benchParams>;

/** Parses the BENCH_* variables; on a bad value prints one line naming it and exits 2. */
export function loadBenchParams(env: NodeJS.ProcessEnv): BenchParams {
  const parsed = benchParams.safeParse(Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('BENCH_'))));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : String(issue.path[0]);
  process.stderr.write(`bench: ${name}: ${issue.message}\n`);
  process.exit(2);
}
