/** The benchmark's knobs, from BENCH_* environment variables, validated once. */
import { z } from 'zod';

/** The costs scenario's systems as BENCH_SYSTEMS names them, in the order they run (costs.ts SYSTEMS). */
export const SYSTEM_KEYS = ['trigger', 'wal', 'handrolled', 'workers2', 'floor', 'walmain'] as const;
export type SystemKey = (typeof SYSTEM_KEYS)[number];

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
    BENCH_TIMEOUT_SECONDS: int(1200, 10),
    /** The capture path of the pgfeed instance in the latency, fan-out and ingest scenarios. */
    BENCH_CAPTURE: z.enum(['trigger', 'wal']).default('trigger'),
    /** writers: concurrent one-row writers and how long they write, per capture case. */
    BENCH_WRITERS: int(16),
    BENCH_WRITERS_SECONDS: int(10),
    /** writers: rounds of all cases, interleaved; each case reports its median round. */
    BENCH_WRITERS_ROUNDS: int(1),
    /** drain: changes committed while no capturer runs, then appended by CAPTURE=wal. */
    BENCH_DRAIN: int(100000),
    /**
     * costs: open streams per system, in steps (ascending, comma-separated); memory is measured at
     * each, CPU per frame at every step but the last. At most 19 000: the server holds them all.
     */
    BENCH_STREAMS: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'expected whole numbers separated by commas')
      .transform((v) => v.split(',').map(Number))
      .refine(
        (v) => v.every((n, i) => n >= 1 && n <= 19_000 && (i === 0 || n > v[i - 1]!)),
        'expected ascending steps from 1 to 19000',
      )
      .default([1000, 10_000, 18_000]),
    /** costs: the systems measured, comma-separated (default: all, in this order). */
    BENCH_SYSTEMS: z
      .string()
      .transform((v) => v.split(','))
      .pipe(z.array(z.enum(SYSTEM_KEYS)).min(1))
      // walmain (wal with the capturer on the main thread, CAPTURE_THREAD=false) only when asked for: it is a before/after.
      .default(SYSTEM_KEYS.filter((k) => k !== 'walmain')),
    /**
     * costs: V8's young-generation cap for every server (`--max-semi-space-size`, MB); unset: Node's
     * default. Opening streams fast grows it to its cap, which at 1 000 streams is half the memory measured.
     */
    BENCH_SEMI_SPACE_MB: int(16).optional(),
    /** costs: changes fanned out to every stream at each measured step. */
    BENCH_COST_CHANGES: int(10),
    /** costs: their rate, per second (2: each change's fan-out on its own; higher: a steady load on the same streams). */
    BENCH_COST_RATE: int(2),
    /** stall: streams of one company, and the rows of the one transaction they all receive. */
    BENCH_STALL_CLIENTS: int(2000),
    BENCH_STALL_ROWS: int(2000),
    /** Run only this scenario. */
    BENCH_ONLY: z.enum(['writers', 'drain', 'costs', 'stall']).optional(),
    BENCH_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  })
  .strict();

export type BenchParams = z.infer<typeof benchParams>;

/**
 * `--quick`: the latency, fan-out, ingest, costs and stall scenarios, smaller (polling every second, 500
 * streams at most), and not the writers and drain scenarios (BENCH_ONLY runs those alone): a smoke
 * test of the harness and a rough picture, not figures to compare with a full run. BENCH_* variables
 * still win.
 */
const QUICK: Record<string, string> = {
  BENCH_CLIENTS: '200',
  BENCH_SECONDS: '2',
  BENCH_POLL_SECONDS: '2',
  BENCH_POLL_MS: '1000',
  BENCH_FANOUT_CHANGES: '4',
  BENCH_INGEST: '2000',
  BENCH_INGEST_CLIENTS: '5',
  BENCH_STREAMS: '100,500',
  BENCH_COST_CHANGES: '4',
  BENCH_STALL_CLIENTS: '500',
  BENCH_STALL_ROWS: '500',
};

/** Parses the BENCH_* variables (and `--quick` in `argv`); on a bad value prints one line naming it and exits 2. */
export function loadBenchParams(env: NodeJS.ProcessEnv, argv: string[] = []): BenchParams & { quick: boolean } {
  const unknown = argv.filter((a) => a !== '--quick');
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown argument ${unknown[0]} (the only one is --quick; knobs are BENCH_* variables)\n`);
    process.exit(2);
  }
  const quick = argv.includes('--quick');
  const given = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('BENCH_')));
  const parsed = benchParams.safeParse(quick ? { ...QUICK, ...given } : given);
  if (parsed.success) return { ...parsed.data, quick };
  const issue = parsed.error.issues[0]!;
  const name = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : String(issue.path[0]);
  process.stderr.write(`bench: ${name}: ${issue.message}\n`);
  process.exit(2);
}

/** pgfeed settings for the bench's servers: one token serves all the clients of a company, so the per-user and rate limits are lifted. */
export const LIFTED_LIMITS = {
  MAX_CONNECTIONS_PER_USER: 1_000_000,
  RATE_LIMIT_PER_MINUTE: 10_000_000,
  MAX_CONNECTIONS: 1_000_000,
} as const;
