import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { pgfeed } from './cli';
import { eventually } from './eventually';
import { TEST_JWT_SECRET } from './service';
import { freePort } from './toolkit';

/** Another pgfeed process holding the replication slot. */
export interface CapturingProcess {
  child: ChildProcessWithoutNullStreams;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

/**
 * `pgfeed <args>` (`start`, `demo --seed never`) with CAPTURE=wal against
 * `databaseUrl`, on a free port, once its /readyz says it is the capturing
 * instance: the other process of tests in which this one stands by or takes over.
 */
export async function startCapturingProcess(args: string[], databaseUrl: string): Promise<CapturingProcess> {
  const port = await freePort();
  const child = pgfeed(args, {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    PORT: String(port),
    HOST: '127.0.0.1',
    CAPTURE: 'wal',
    LOG_LEVEL: 'warn',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await eventually(
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        return ((await r?.json()) as { capture?: { role?: string } } | undefined)?.capture?.role === 'capturing';
      },
      { timeoutMs: 20_000, what: `pgfeed ${args.join(' ')} capturing` },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, exited };
}
