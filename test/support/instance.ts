/**
 * A pgfeed instance in a process of its own (the compiled `pgfeed` command), on
 * a fixed port, so a test can kill it as a crash would and start it again at
 * the same address — what a proxy in front of several instances sees.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { pgfeed } from './cli';

export interface InstanceProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Starts the instance (again) on its port; resolves once it listens. */
  start(): Promise<void>;
  /** Sends `signal` (SIGKILL: a crash) and resolves once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** The last lines it printed, for failure messages. */
  tail(): string;
}

/** `pgfeed <command>` with `env` on `port` (HOST 127.0.0.1); not started until `start()`. */
export function instanceProcess(command: 'start' | 'demo', port: number, env: Record<string, string>): InstanceProcess {
  let child: ChildProcessWithoutNullStreams | undefined;
  let exited: Promise<void> = Promise.resolve();
  let tail = '';
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-8000));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    tail: () => tail,
    async start() {
      if (child) throw new Error(`instance on ${port} is running`);
      const proc = pgfeed([command], { LOG_LEVEL: 'info', ...env, PORT: String(port), HOST: '127.0.0.1' });
      child = proc;
      exited = new Promise((resolve) => proc.once('exit', () => resolve()));
      proc.stderr.on('data', keep);
      await new Promise<void>((resolve, reject) => {
        let pending = '';
        proc.stdout.on('data', (d: Buffer) => {
          keep(d);
          const lines = (pending + d.toString()).split('\n');
          pending = lines.pop() ?? '';
          if (lines.some((l) => l.includes('"msg":"listening"'))) resolve();
        });
        void exited.then(() => reject(new Error(`pgfeed on ${port} exited before listening:\n${tail}`)));
      });
    },
    async stop(signal = 'SIGTERM') {
      if (!child) return;
      child.kill(signal);
      await exited;
      child = undefined;
    },
  };
}
