/** The parent's handle on a child process of the bench: a client pool (scripts/bench/pool.ts) or a server (server-process.ts). */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { PoolCommand } from './pool';

/** How long one request to a pool may take before the benchmark gives up. */
const ASK_TIMEOUT_MS = 300_000;

/** A forked TypeScript child that greets once started and answers each command with one message. */
export class Forked<C extends object> {
  private readonly child: ChildProcess;
  private waiting: ((m: unknown) => void)[] = [];
  private exited = false;
  /** Resolves with the greeting: the child's RSS before it holds anything. */
  readonly started: Promise<{ rss: number }>;

  /** The child's process id (the server's CPU and memory are read from /proc). */
  get pid(): number {
    return this.child.pid!;
  }

  constructor(
    private readonly script: string,
    execArgv: string[] = [],
  ) {
    // tsx as a loader of the same node binary: the pool is TypeScript, like the rest.
    this.child = fork(path.join(__dirname, script), [], { execArgv: [...execArgv, '--import', 'tsx'], stdio: 'inherit' });
    this.child.on('message', (m) => this.waiting.shift()?.(m));
    this.child.on('error', () => {}); // a pool that already exited: nothing left to stop
    this.child.on('exit', () => {
      this.exited = true;
      // Anyone still waiting would wait forever: fail them.
      for (const w of this.waiting.splice(0)) w({ error: `${script} exited` });
    });
    this.started = this.ask<{ rss: number }>(null);
  }

  /** Sends a command (null: only wait for the next message) and resolves with the reply. */
  ask<T>(cmd: C | null): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`${this.script} exited`));
      const timer = setTimeout(
        () => reject(new Error(`${this.script} did not answer ${(cmd as { cmd?: string } | null)?.cmd ?? 'start'} in time`)),
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

  /** Asks the child to close what it holds and exit; kills it if it has not within `graceMs`. */
  stop(graceMs = 2000): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      if (this.child.connected) this.child.send({ cmd: 'stop' });
      else this.child.kill();
    });
  }
}

/** One client pool process (scripts/bench/pool.ts). */
export class PoolProcess extends Forked<PoolCommand> {
  constructor() {
    super('pool.ts');
  }
}
