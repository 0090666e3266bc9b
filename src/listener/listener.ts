import { EventEmitter } from 'node:events';
import type Postgres from 'postgres';
import { postgres } from '../db/driver';
import type { Sql } from '../db/connect';
import { DecodeError, parseNotification, toChangeEvent } from '../events/decode';
import type { EntityRegistry } from '../events/entity';
import type { EventLog } from '../events/log';
import type { Position } from '../events/position';
import type { ChangeEvent } from '../events/schema';
import type { Logger } from '../log';
import type { ServiceMetrics } from '../metrics';
import { LISTENER_APPLICATION_NAME } from '../names';
import { waitUnlessStopped } from '../wait';

/** connecting → catching_up → live, back to connecting when the connection is lost. */
export type ListenerState = 'idle' | 'connecting' | 'catching_up' | 'live' | 'stopped';

export interface ListenerOptions {
  databaseUrl: string;
  /** The query pool, for the channel name; catch-up and large events are read from `log` through it. */
  sql: Sql;
  log: EventLog;
  entities: EntityRegistry;
  logger: Logger;
  metrics: ServiceMetrics;
  /** Where to start: normally the log head. */
  from: Position;
  /** How often the LISTEN connection must prove it is alive and listening. */
  pingMs: number;
  /** Reconnect backoff: min(maxMs, minMs · 2^attempt), with ±50 % jitter. */
  backoff: { minMs: number; maxMs: number };
  catchUpBatch: number;
}

export interface ListenerEvents {
  event: [ChangeEvent];
  state: [ListenerState];
}

/** How long the listener holds its queue for an append of its own before leaving those events to the NOTIFY and the log. */
const OWN_APPEND_WAIT_MS = 5000;

function timeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The one LISTEN connection of a process. It emits every committed event once,
 * in commit order (= id order, see docs/ordering.md), as `event`.
 *
 * NOTIFY drops what is sent while nobody listens, so after every (re)LISTEN it
 * reads the log from its position before going live; notifications that arrive
 * meanwhile are held and de-duplicated by id. It owns its connection instead of
 * using postgres.js `sql.listen`, whose automatic re-LISTEN gives up silently
 * when the server is still down, and it pings, because a half-open TCP
 * connection can look alive for minutes.
 */
export class Listener extends EventEmitter<ListenerEvents> {
  private stateValue: ListenerState = 'idle';
  private positionValue: Position;
  private conn: Postgres.Sql | undefined;
  private generation = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Notifications held while catching up; null once live. */
  private held: string[] | null = null;
  /** Serialises all emission, so events leave in order even when one needs a read. */
  private chain: Promise<void> = Promise.resolve();
  private channel = 'pgfeed';
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Resolves on stop(), so a backoff wait ends at once. */
  private readonly stopping: Promise<void>;
  private signalStop!: () => void;
  /** What the consumer of `event` is still working through (see paceWith). */
  private pace: () => Promise<void> | undefined = () => undefined;

  constructor(private readonly options: ListenerOptions) {
    super();
    this.positionValue = options.from;
    this.stopping = new Promise((resolve) => (this.signalStop = resolve));
  }

  get state(): ListenerState {
    return this.stateValue;
  }

  /** True while LISTENing and caught up: what /readyz reports. */
  get ready(): boolean {
    return this.stateValue === 'live';
  }

  /** The id of the last event emitted (or the start position). */
  get position(): Position {
    return this.positionValue;
  }

  /**
   * Lets the consumer of `event` slow the listener down: after each batch of
   * work (a catch-up page, an own append, a notification) the listener waits
   * on `pace()` when it returns a promise, so a 100 000-row transaction is
   * read no faster than the feed hands it out, and memory stays flat.
   */
  paceWith(pace: () => Promise<void> | undefined): void {
    this.pace = pace;
  }

  /** Starts listening; resolves once live the first time. */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') throw new Error('listener already started');
    const [row] = await this.options.sql<{ channel: string }[]>`select pgfeed.channel() as channel`;
    this.channel = row?.channel ?? this.channel;
    const live = new Promise<void>((resolve) => {
      const onState = (s: ListenerState) => {
        if (s === 'live' || s === 'stopped') {
          this.off('state', onState);
          resolve();
        }
      };
      this.on('state', onState);
    });
    this.loop = this.run();
    await live;
  }

  /** Closes the connection; no more events are emitted. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.setState('stopped');
    this.signalStop();
    this.wake?.();
    clearInterval(this.pingTimer);
    const conn = this.conn;
    this.conn = undefined;
    await conn?.end({ timeout: 1 }).catch(() => {});
    await this.loop;
    await this.chain;
  }

  private stopped(): boolean {
    return this.stateValue === 'stopped';
  }

  private setState(s: ListenerState): void {
    if (this.stateValue === s || (this.stateValue === 'stopped' && s !== 'stopped')) return;
    this.stateValue = s;
    this.emit('state', s);
  }

  /** Connect, LISTEN, catch up, go live; on loss wait with backoff and do it again. */
  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped()) {
      const lost = new Promise<void>((resolve) => (this.wake = resolve));
      try {
        await this.connect();
        attempt = 0;
        await lost; // resolved by onclose, a failed ping or stop()
      } catch (error) {
        if (this.stopped()) break;
        this.options.logger.warn({ err: error, attempt }, 'listen:error');
      }
      if (this.stopped()) break;
      await this.drop();
      const { minMs, maxMs } = this.options.backoff;
      const base = Math.min(maxMs, minMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      await waitUnlessStopped(base * (0.5 + Math.random()), this.stopping);
    }
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    this.setState('connecting');
    this.options.logger.info({ generation }, 'listen:connecting');
    this.held = [];
    // `onnotify` is the connection option postgres.js's own sql.listen is built
    // on; its type declarations leave it out.
    const options = {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      fetch_types: false,
      connect_timeout: 10,
      onnotice: () => {},
      debug: () => this.options.metrics.dbQueries.inc(),
      connection: { application_name: LISTENER_APPLICATION_NAME },
      onnotify: (_channel: string, payload: string) => this.receive(payload),
      onclose: () => {
        if (generation === this.generation && !this.stopped()) {
          this.options.logger.warn({ generation }, 'listen:closed');
          this.generation++; // a catch-up still running for this connection must not go live
          this.setState('connecting');
          this.wake?.();
        }
      },
    };
    const conn = postgres(this.options.databaseUrl, options as Postgres.Options<Record<string, never>>);
    this.conn = conn;
    await timeout(conn`listen ${conn(this.channel)}`, 15_000, 'LISTEN');
    if (generation > 1) this.options.metrics.listenerReconnects.inc();
    this.setState('catching_up');
    // Everything that committed before LISTEN took effect is in the log; what
    // commits after is notified. Catch up through the same queue as
    // notifications, then release the held ones (the position drops duplicates).
    await this.enqueue(async () => {
      await this.catchUp();
      const held = this.held ?? [];
      this.held = null;
      for (const payload of held) await this.handle(payload);
    });
    if (generation !== this.generation || this.stopped()) return;
    this.setState('live');
    this.options.logger.info({ generation, position: this.positionValue.toString() }, 'listen:success');
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => void this.ping(conn, generation), this.options.pingMs);
    this.pingTimer.unref();
  }

  private async drop(): Promise<void> {
    clearInterval(this.pingTimer);
    const conn = this.conn;
    this.conn = undefined;
    this.generation++; // late callbacks of the old connection are ignored
    if (!this.stopped()) this.setState('connecting');
    await conn?.end({ timeout: 0 }).catch(() => {});
  }

  /** A half-open connection fails this by timing out; a lost LISTEN by answering false. */
  private async ping(conn: Postgres.Sql, generation: number): Promise<void> {
    try {
      const [r] = await timeout(
        conn<{ listening: boolean }[]>`select ${this.channel}::text = any (array(select pg_listening_channels())) as listening`,
        Math.max(this.options.pingMs, 1000),
        'listener ping',
      );
      if (!r?.listening) throw new Error('connection is no longer LISTENing');
    } catch (error) {
      if (generation !== this.generation || this.stopped()) return;
      this.options.logger.warn({ err: error }, 'listen:error');
      this.wake?.();
    }
  }

  /**
   * Events this process is appending to the log itself (the WAL capturer),
   * handed over while the append is in flight: queued now, ahead of the
   * append's NOTIFY, and emitted as soon as it commits, with no read of the
   * log. Only when they follow the position directly (the first id is the
   * next integer, so nothing can lie between) and the listener is live;
   * otherwise they are dropped here and the NOTIFY and the log bring them, as
   * they do to every other instance.
   */
  deliverOwn(events: Promise<readonly unknown[] | null>): void {
    if (this.stateValue !== 'live') return; // catching up (or not started): the log has them in order
    void this.enqueue(async () => {
      // An append that hangs (a lost pool connection) must not hold up this listener's other events.
      const raw = await Promise.race([
        timeout(events, OWN_APPEND_WAIT_MS, 'own append').catch(() => null),
        this.stopping.then(() => null),
      ]);
      if (!raw || raw.length === 0 || this.stateValue !== 'live') return;
      const decoded = raw.map((e) => toChangeEvent(e, this.options.entities));
      if (BigInt(decoded[0]!.id) !== this.positionValue + 1n) return;
      for (const event of decoded) this.deliver(event);
      this.options.metrics.eventsOwn.inc(decoded.length);
    });
  }

  private receive(payload: string): void {
    if (this.held) this.held.push(payload);
    else void this.enqueue(() => this.handle(payload));
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work).then(() => this.pace());
    this.chain = next.catch((err: unknown) => this.options.logger.error({ err }, 'listener: processing failed'));
    return next;
  }

  private async catchUp(): Promise<void> {
    const batch = this.options.catchUpBatch;
    for (;;) {
      const events = await this.options.log.readAfter(this.positionValue, batch);
      for (const e of events) this.deliver(e);
      if (events.length < batch) return;
      await this.pace();
    }
  }

  private async handle(payload: string): Promise<void> {
    try {
      const parsed = parseNotification(payload);
      if ('through' in parsed) {
        if (BigInt(parsed.through) > this.positionValue) await this.catchUp();
        return;
      }
      const position = BigInt(parsed.id);
      if (position <= this.positionValue) return; // already emitted (caught up)
      if ('large' in parsed) {
        const event = await this.options.log.read(position);
        if (event) this.deliver(event);
        else this.options.logger.error({ id: parsed.id }, 'listener: large event not found in log');
        return;
      }
      this.deliver(toChangeEvent(parsed, this.options.entities));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.options.metrics.decodeErrors.inc();
      this.options.logger.error({ err: error, bytes: payload.length }, 'listener: undecodable notification');
    }
  }

  private deliver(event: ChangeEvent): void {
    const position = BigInt(event.id);
    if (position <= this.positionValue) return;
    this.positionValue = position;
    this.options.metrics.eventsIn.inc();
    this.emit('event', event);
  }
}
