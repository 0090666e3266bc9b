/** The parent's handle on one client pool process (scripts/bench/pool.ts). */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { PoolCommand } from './pool';

/** How long one request to a pool may take before the benchmark gives up. */
const ASK_TIMEOUT_MS = 120_000;

export class PoolProcess {
  private readonly child: ChildProcess;
  private waiting: ((m: unknown) => void)[] = [];
  private exited = false;
  /** Resolves with the pool's RSS before it holds any client. */
  readonly started: Promise<{ rss: number }>;

  constructor() {
    // tsx as a loader of the same node binary: the pool is TypeScript, like the rest.
    this.child = fork(path.join(__dirname, 'pool.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    this.child.on('message', (m) => this.waiting.shift()?.(m));
    this.child.on('error', () => {}); // a pool that already exited: nothing left to stop
    this.child.on('exit', () => {
      this.exited = true;
      // Anyone still waiting would wait forever: fail them.
      for (const w of this.waiting.splice(0)) w({ error: 'client pool exited' });
    });
    this.started = this.ask<{ rss: number }>(null);
  }

  /** Sends a command (null: only wait for the next message) and resolves with the reply. */
  ask<T>(cmd: PoolCommand | null): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error('client pool exited'));
      const timer = setTimeout(
        () => reject(new Error(`client pool did not answer ${cmd?.cmd ?? 'start'} in time`)),
        ASK_TIMEOUT_MS,
      );
      this.waiting.push((m) => {
        clearTimeout(timer);
        const error = (m as { error?: string } | undefined)?.error;
        if (error) reject(new Error(error));
        else resolve(m as T);
      });
      if (cmd) this.child.send(cmd);
    });
  }

  /** Asks the pool to close its clients and exit; kills it if it has not within 2 s. */
  stop(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      if (this.child.connected) this.child.send({ cmd: 'stop' });
      else this.child.kill();
    });
  }
}
