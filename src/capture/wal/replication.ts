import type { Duplex } from 'node:stream';
import type Postgres from 'postgres';
import { postgres } from '../../db/driver';
import { CAPTURE_APPLICATION_NAME } from '../../names';
import { decode, type Message } from './pgoutput';

/** PostgreSQL's clock for replication messages: microseconds since 2000-01-01 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

export interface ReplicationHandlers {
  /** A decoded pgoutput message. */
  message(m: Message): void;
  /** The server's WAL position from a keepalive: safe to confirm when nothing received is still unapplied. */
  keepalive(walEnd: bigint, replyRequested: boolean): void;
  /** The connection or the stream ended (error, terminated backend, server gone). */
  end(error?: unknown): void;
}

/**
 * One logical replication connection on postgres.js: the driver does the
 * connection, authentication and the CopyBoth stream (`.writable()`); this
 * reads XLogData and keepalives from it and writes standby status updates
 * (https://www.postgresql.org/docs/current/protocol-replication.html).
 */
export class ReplicationStream {
  private ended = false;

  private constructor(
    /** The walsender serving this stream (pg_stat_replication.pid). */
    readonly backendPid: number,
    private readonly conn: Postgres.Sql,
    private readonly stream: Duplex,
    private readonly handlers: ReplicationHandlers,
  ) {}

  /**
   * Starts streaming `slot` from where it was confirmed. Rejects when the slot
   * is in use by another connection (SQLSTATE 55006), missing or invalidated.
   */
  static async open(url: string, slot: string, publication: string, on: ReplicationHandlers): Promise<ReplicationStream> {
    const ref: { stream?: ReplicationStream } = {};
    const conn = postgres(url, {
      max: 1,
      fetch_types: false,
      idle_timeout: 0,
      max_lifetime: null,
      connect_timeout: 10,
      onnotice: () => {},
      // Output functions run in the walsender: pin what shapes their text, so
      // the appender's input functions read it back exactly.
      connection: {
        replication: 'database',
        application_name: CAPTURE_APPLICATION_NAME,
        TimeZone: 'UTC',
        DateStyle: 'ISO',
        IntervalStyle: 'postgres',
        extra_float_digits: '3',
      } as Record<string, string>,
      onclose: () => ref.stream?.finish(new Error('replication connection closed')),
    });
    let stream: Duplex;
    let pid: number;
    try {
      // A walsender in database mode also takes plain SQL, over the simple protocol only.
      const [me] = await conn.unsafe<{ pid: string }[]>('select pg_backend_pid() as pid').simple();
      pid = Number(me?.pid);
      // Slot and publication names are pgfeed's own, checked by the config schema: [a-z0-9_].
      stream = (await conn
        .unsafe(
          `START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names '${publication}', messages 'true')`,
        )
        .writable()) as unknown as Duplex;
    } catch (error) {
      await conn.end({ timeout: 0 }).catch(() => {});
      throw error;
    }
    const self = new ReplicationStream(pid, conn, stream, on);
    ref.stream = self;
    stream.on('data', (chunk: Buffer) => self.receive(chunk));
    stream.on('error', (err) => self.finish(err));
    stream.on('close', () => self.finish());
    return self;
  }

  /** Stops reading from the server (backpressure); `resume` undoes it. */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  /** Tells the server everything up to `lsn` is applied: the slot may release that WAL. */
  confirm(lsn: bigint): void {
    if (this.ended) return;
    const msg = Buffer.alloc(34);
    msg.write('r', 0);
    msg.writeBigUInt64BE(lsn, 1); // written
    msg.writeBigUInt64BE(lsn, 9); // flushed
    msg.writeBigUInt64BE(lsn, 17); // applied
    msg.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    msg.writeUInt8(0, 33);
    this.stream.write(msg);
  }

  async close(): Promise<void> {
    this.finish();
    await this.conn.end({ timeout: 0 }).catch(() => {});
  }

  private receive(chunk: Buffer): void {
    if (this.ended) return;
    try {
      if (chunk[0] === 0x77 /* w: XLogData */) this.handlers.message(decode(chunk.subarray(25)));
      else if (chunk[0] === 0x6b /* k: keepalive */) this.handlers.keepalive(chunk.readBigUInt64BE(1), chunk[17] === 1);
    } catch (error) {
      this.finish(error);
    }
  }

  private finish(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.end(error);
    void this.conn.end({ timeout: 0 }).catch(() => {});
  }
}
