/**
 * What the tests of PostgreSQL restarts under load share: a pgfeed process
 * followed until it listens (a crash shows as an exit, not as a failed
 * assertion inside jest), and a stream follower that reconnects with
 * Last-Event-ID as EventSource does.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { type Frame, type OpenStream, openStream } from './stream';

export interface PgfeedProcess {
  base: string;
  /** Resolves when the process exits (it must not, until the test stops it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Requests logged as failed at level error (database errors are warn), and the last output. */
  errorLines: string[];
  tail(): string;
  child: ChildProcessWithoutNullStreams;
  /** `p`, or a rejection with the process's last output as soon as it exits: never waits on what will not come. */
  unlessExited<T>(p: Promise<T>): Promise<T>;
}

/** Follows a pgfeed process's output; resolves once it logs that it listens (rejects if it exits first). */
export async function listeningProcess(child: ChildProcessWithoutNullStreams): Promise<PgfeedProcess> {
  let tail = '';
  let pending = '';
  const p: PgfeedProcess = {
    base: '',
    exit: undefined,
    errorLines: [],
    tail: () => tail,
    child,
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        p.exit = { code, signal };
        resolve(p.exit);
      }),
    ),
    unlessExited: (x) => Promise.race([x, exitedEarly]),
  };
  const exitedEarly = p.exited.then((e) => {
    throw new Error(`the process exited (code ${e.code}, signal ${e.signal}):\n${tail}`);
  });
  exitedEarly.catch(() => {}); // raced by unlessExited; a test asserting on `exit` reports it too
  const keep = (text: string) => (tail = (tail + text).slice(-8000));
  child.stderr.on('data', (d: Buffer) => keep(d.toString()));
  const listening = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      keep(text);
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"level":"error"') && line.includes('"msg":"request failed"')) p.errorLines.push(line);
        const m = /"port":(\d+),"msg":"listening"/.exec(line);
        if (m) resolve(Number(m[1]));
      }
    });
    void p.exited.then(() => reject(new Error(`pgfeed exited before listening:\n${tail}`)));
  });
  p.base = `http://127.0.0.1:${await listening}`;
  return p;
}

/** Resolves after `n` more `name` events of `emitter` (e.g. acknowledged writes: work is in flight when the next stop lands). */
export function nextEvents(emitter: EventEmitter, name: string, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = () => {
      if (++seen < n) return;
      emitter.off(name, on);
      resolve();
    };
    emitter.on(name, on);
  });
}

/** `error.code` of a JSON error body, if it is one. */
export function errorCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Every answer, by kind; anything but 2xx or 503 not_ready is described in `other`. */
export interface Tally {
  ok: number;
  notReady: number;
  other: string[];
}

/**
 * Keeps the company stream open the way EventSource does: when it ends (or the test closes it),
 * it opens it again with Last-Event-ID set to the last id received.
 */
export class Follower {
  readonly segments: OpenStream[] = [];
  private current: OpenStream | undefined;
  private done = false;
  private lastId: string | undefined;
  private readonly loop: Promise<void>;
  private readonly opened = new EventEmitter();

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.done) {
      const s = await openStream(this.url, { token: this.token, ...(this.lastId ? { lastEventId: this.lastId } : {}) }).catch(
        () => undefined,
      );
      if (!s || s.status !== 200) {
        await delay(100); // the EventSource retry interval: the service is not serving streams yet
        continue;
      }
      this.segments.push(s);
      this.current = s;
      this.opened.emit('open', s);
      await s.ended;
      if (this.current === s) this.current = undefined;
      this.lastId = [...s.frames].reverse().find((f) => f.id !== undefined)?.id ?? this.lastId;
    }
  }

  /** The stream that is open now, once it is `ready`. */
  async ready(): Promise<OpenStream> {
    const s = this.current ?? (await new Promise<OpenStream>((resolve) => this.opened.once('open', resolve)));
    await s.waitFor((f) => f.event === 'ready');
    return s;
  }

  /** Ends the open stream; the follower resumes from the last id it saw. */
  resume(): void {
    this.current?.close();
    this.current = undefined;
  }

  /** Change events of every segment, in arrival order. */
  events(): Frame[] {
    return this.segments.flatMap((s) => s.events());
  }

  /** Resolves once an event with `id` arrived, on whichever segment is open then. */
  async waitForId(id: string, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.events().some((f) => f.id === id)) {
      const s = this.current ?? (await new Promise<OpenStream>((resolve) => this.opened.once('open', resolve)));
      await s
        .waitFor((f) => f.id === id, { timeoutMs: Math.max(1, until - Date.now()) })
        .catch((error: unknown) => {
          if (Date.now() >= until) throw error;
        });
    }
  }

  async close(): Promise<void> {
    this.done = true;
    this.current?.close();
    this.segments.forEach((s) => s.close());
    await this.loop;
  }
}
