import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type Postgres from 'postgres';
import { postgres } from '../db/driver';
import type { Sql } from '../db/connect';
import { DecodeError, parseNotification } from '../events/decode';
import type { EventLog } from '../events/log';
import type { Skips } from '../events/skips';
import type { Position } from '../events/position';
import type { ChangeEvent } from '../events/schema';
import type { Logger } from '../log';
import type { ServiceMetrics } from '../metrics';
import { type Session, Supervisor, exponentialBackoff } from '../db/supervise';
import { LISTENER_APPLICATION_NAME, PROBE_CHANNEL_PREFIX } from '../names';
import { Slicer } from '../slicer';

/** connecting → catching_up → live, back to connecting when the connection is lost. */
export type ListenerState = 'idle' | 'connecting' | 'catching_up' | 'live' | 'stopped';

export interface ListenerOptions {
  databaseUrl: string;
  /** The query pool, for the channel name; catch-up and large events are read from `log` through it. */
  sql: Sql;
  log: EventLog;
  /** Where notifications that are not events are reported (events that do not decode are reported by `log`). */
  skips: Skips;
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
  /** The first connection LISTENs but hears no NOTIFY. */
  deaf: [ListenerSetupError];
  /** What is watched changed (pgfeed.catalog_channel): the catalog reads it again. */
  catalog: [];
}

/** How long the listener holds its queue for an append of its own before leaving those events to the NOTIFY and the log. */
const OWN_APPEND_WAIT_MS = 5000;

/** The NOTIFY round trip: how long its NOTIFY may take through the pool, and the least time to wait for it to arrive. */
const PROBE_NOTIFY_MS = 10_000;
const PROBE_MIN_WAIT_MS = 3000;

/** The listener LISTENs but hears nothing (a pooler in transaction mode): the one line pgfeed refuses to start with. */
export class ListenerSetupError extends Error {
  override name = 'ListenerSetupError';
}

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
 * connection can look alive for minutes. The connection's lifecycle (connect,
 * hold, back off, retry, release) is the one Supervisor's.
 *
 * A connection that LISTENs but never hears a NOTIFY (a pooler in transaction
 * mode hands the LISTEN to a server connection it then gives to others) is
 * found by a round trip: at every (re)LISTEN and with every ping it NOTIFYs a
 * channel of its own through the query pool and waits for it to arrive.
 */
export class Listener extends EventEmitter<ListenerEvents> {
  private stateValue: ListenerState = 'idle';
  private positionValue: Position;
  /** Notifications held while catching up; null once live. */
  private held: string[] | null = null;
  /** Serialises all emission, so events leave in order even when one needs a read. */
  private chain: Promise<void> = Promise.resolve();
  private channel = 'pgfeed';
  private catalogChannel = 'pgfeed_catalog';
  /** This listener's own channel for the NOTIFY round trip (LISTENed beside the feed's). */
  private readonly probeChannel = `${PROBE_CHANNEL_PREFIX}${randomBytes(8).toString('hex')}`;
  /** The round trip waiting for its NOTIFY, by payload. */
  private readonly probes = new Map<string, () => void>();
  private readonly supervisor: Supervisor;
  /** Sessions that reached LISTEN: the second and later are reconnects. */
  private listens = 0;
  /** Why the listener is not live, while it is not (what /readyz reports). */
  private reasonValue: string | undefined;
  /** Resolves on stop(), so waits for an own append end at once. */
  private readonly stopping: Promise<void>;
  private signalStop!: () => void;
  /** What the consumer of `event` is still working through (see paceWith). */
  private pace: () => Promise<void> | undefined = () => undefined;
  /**
   * Bounds a run of queued work (a transaction's notifications) between two turns of the event loop:
   * without it, every notification of a TCP chunk is decoded and published in one go.
   */
  private readonly slicer = new Slicer();

  constructor(private readonly options: ListenerOptions) {
    super();
    this.positionValue = options.from;
    this.stopping = new Promise((resolve) => (this.signalStop = resolve));
    this.supervisor = new Supervisor({
      name: 'listen',
      logger: options.logger,
      open: (session) => this.connect(session),
      delay: exponentialBackoff(options.backoff.minMs, options.backoff.maxMs),
      onEnd: (reason) => {
        if (reason !== undefined) this.reasonValue = reason instanceof Error ? reason.message : String(reason);
        this.setState('connecting');
      },
    });
  }

  get state(): ListenerState {
    return this.stateValue;
  }

  /** True while LISTENing and caught up: what /readyz reports. */
  get ready(): boolean {
    return this.stateValue === 'live';
  }

  /** Why the listener is not live (the last error of its connection), or undefined. */
  get reason(): string | undefined {
    return this.stateValue === 'live' ? undefined : this.reasonValue;
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

  /**
   * Starts listening; resolves once live the first time. Rejects with
   * ListenerSetupError when the first connection LISTENs but hears no NOTIFY:
   * a misrouted listener would otherwise run "ready" and deliver nothing.
   */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') throw new Error('listener already started');
    const [row] = await this.options.sql<{ channel: string; catalog: string }[]>`
      select pgfeed.channel() as channel, pgfeed.catalog_channel() as catalog`;
    this.channel = row?.channel ?? this.channel;
    this.catalogChannel = row?.catalog ?? this.catalogChannel;
    const live = new Promise<void>((resolve, reject) => {
      const onState = (s: ListenerState) => {
        if (s === 'live' || s === 'stopped') {
          this.off('state', onState);
          this.off('deaf', onDeaf);
          resolve();
        }
      };
      const onDeaf = (error: ListenerSetupError) => {
        this.off('state', onState);
        this.off('deaf', onDeaf);
        reject(error);
      };
      this.on('state', onState);
      this.on('deaf', onDeaf);
    });
    this.supervisor.start();
    try {
      await live;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Closes the connection; no more events are emitted. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.setState('stopped');
    this.signalStop();
    await this.supervisor.stop();
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

  /** One supervised session: connect, LISTEN, prove NOTIFY arrives, catch up, go live, ping until lost. */
  private async connect(session: Session): Promise<void> {
    const first = this.listens === 0;
    this.setState('connecting');
    this.options.logger.info({ attempt: this.listens }, 'listen:connecting');
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
      onnotify: (channel: string, payload: string) => {
        if (channel === this.probeChannel) this.probes.get(payload)?.();
        else if (channel === this.catalogChannel) this.emit('catalog');
        else this.receive(payload);
      },
      onclose: () => {
        if (!session.active || this.stopped()) return;
        this.options.logger.warn({}, 'listen:closed');
        session.end(new Error('listener connection closed'));
      },
    };
    const conn = session.own(postgres(this.options.databaseUrl, options as Postgres.Options<Record<string, never>>), (c) =>
      c.end({ timeout: 0 }).catch(() => {}),
    );
    await timeout(conn`listen ${conn(this.channel)}`, 15_000, 'LISTEN');
    await timeout(conn`listen ${conn(this.probeChannel)}`, 15_000, 'LISTEN');
    await timeout(conn`listen ${conn(this.catalogChannel)}`, 15_000, 'LISTEN');
    if (!session.active) return;
    if (this.listens++ > 0) this.options.metrics.listenerReconnects.inc();
    try {
      await this.roundTrip(session);
    } catch (error) {
      if (first && error instanceof ListenerSetupError) this.emit('deaf', error);
      throw error;
    }
    if (!session.active) return;
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
    if (!session.active || this.stopped()) return; // lost while catching up: the next session catches up
    this.setState('live');
    session.healthy();
    this.options.logger.info({ position: this.positionValue.toString() }, 'listen:success');
    let pinging = false; // one ping at a time: a slow round trip is not answered by piling up more
    session.every(this.options.pingMs, () => {
      if (pinging) return;
      pinging = true;
      void this.ping(conn, session).finally(() => (pinging = false));
    });
  }

  /** A half-open connection fails this by timing out; a lost LISTEN by answering false; a deaf one by the round trip. */
  private async ping(conn: Postgres.Sql, session: Session): Promise<void> {
    try {
      const [r] = await timeout(
        conn<{ listening: boolean }[]>`select ${this.channel}::text = any (array(select pg_listening_channels())) as listening`,
        Math.max(this.options.pingMs, 1000),
        'listener ping',
      );
      if (!r?.listening) throw new Error('connection is no longer LISTENing');
      await this.roundTrip(session);
    } catch (error) {
      if (!session.active || this.stopped()) return;
      session.end(error);
    }
  }

  /**
   * NOTIFYs this listener's own channel through the query pool and waits for
   * it on the LISTEN connection. The wait starts once the NOTIFY committed
   * (PostgreSQL has queued it for every listener then), so a busy pool makes
   * the check late, never wrong; a pool that cannot answer proves nothing
   * about this connection and is left to the requests that use it.
   */
  private async roundTrip(session: Session): Promise<void> {
    const payload = randomBytes(8).toString('hex');
    let heard!: () => void;
    const arrived = new Promise<void>((resolve) => (heard = resolve));
    this.probes.set(payload, heard);
    try {
      try {
        await timeout(this.options.sql`select pg_notify(${this.probeChannel}, ${payload})`, PROBE_NOTIFY_MS, 'probe NOTIFY');
      } catch (error) {
        this.options.logger.warn({ err: error }, 'listen: could not send the NOTIFY round trip through the pool');
        return;
      }
      const waitMs = Math.max(this.options.pingMs, PROBE_MIN_WAIT_MS);
      let timer: NodeJS.Timeout | undefined;
      const silence = new Promise<'silent'>((resolve) => (timer = setTimeout(() => resolve('silent'), waitMs)));
      const outcome = await Promise.race([arrived, session.ended, silence]).finally(() => clearTimeout(timer));
      if (outcome === 'silent') {
        throw new ListenerSetupError(
          `the listener connection LISTENs but receives no notifications (a NOTIFY sent through the pool did not arrive within ${waitMs} ms): ` +
            'a pooler in transaction mode (PgBouncer) cannot carry LISTEN; set LISTENER_DATABASE_URL to a direct or session-mode connection',
        );
      }
    } finally {
      this.probes.delete(payload);
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
      const ids = raw.map((e) => BigInt((e as { id: string }).id));
      if (ids[0] !== this.positionValue + 1n) return;
      // An event that does not decode is skipped (Skips); the position still moves past it.
      // Decoded and published in slices: an append of thousands of events must not stall the instance.
      const slicer = new Slicer();
      for (const e of raw) {
        if (slicer.due()) await slicer.turn();
        const event = this.options.log.decode(e);
        if (event) {
          this.deliver(event);
          this.options.metrics.eventsOwn.inc();
        }
      }
      this.passed(ids.at(-1)!);
    });
  }

  private receive(payload: string): void {
    if (this.held) this.held.push(payload);
    else void this.enqueue(() => this.handle(payload));
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work).then(() => this.pace() ?? this.turnIfDue());
    this.chain = next.catch((err: unknown) => this.options.logger.error({ err }, 'listener: processing failed'));
    return next;
  }

  private turnIfDue(): Promise<void> | undefined {
    return this.slicer.due() ? this.slicer.turn() : undefined;
  }

  private async catchUp(): Promise<void> {
    const batch = this.options.catchUpBatch;
    for (;;) {
      // Events that do not decode are skipped by the log (Skips): the position moves past them all the same,
      // so a bad event neither stops the catch-up nor is met again.
      const page = await this.options.log.readPage(this.positionValue, batch);
      // Published in slices (each event is framed for the ring as it is published).
      const slicer = new Slicer();
      for (const e of page.events) {
        if (slicer.due()) await slicer.turn();
        this.deliver(e);
      }
      this.passed(page.through);
      if (page.end) return;
      await this.pace();
    }
  }

  /** Everything up to `position` has been delivered or skipped. */
  private passed(position: Position): void {
    if (position > this.positionValue) this.positionValue = position;
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
        this.passed(position); // absent (pruned) or skipped: either way, passed
        return;
      }
      const event = this.options.log.decode(parsed);
      if (event) this.deliver(event);
      this.passed(position);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      // Not an event at all (someone else's NOTIFY on our channel): nothing to pass.
      this.options.skips.record('decode', { entity: 'unknown', reason: 'malformed', message: error.message });
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
