import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Buckets of the commit-to-send lag histogram, in milliseconds. */
const LAG_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/**
 * The service's metrics on a registry of its own (so two instances in one
 * process keep apart), beside prom-client's default process_* and nodejs_*
 * series: event-loop lag, heap, GC, handles. Names are stable and listed in
 * docs/operations.md.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  return {
    registry,
    eventsIn: counter('pgfeed_events_in_total', 'Events received from PostgreSQL (live and catch-up).'),
    eventsOwn: counter(
      'pgfeed_events_own_total',
      'Of those, events the capturing instance (CAPTURE=wal) took from its own appends instead of its NOTIFY or the log.',
    ),
    eventsOut: counter('pgfeed_events_out_total', 'Event frames written to streams.'),
    decodeErrors: counter(
      'pgfeed_decode_errors_total',
      'Stored events skipped because they could not be decoded (row_schema, no_company, malformed), by entity and reason.',
      ['entity', 'reason'],
    ),
    captureSkipped: counter(
      'pgfeed_capture_skipped_total',
      'Changes the WAL capturer skipped because PostgreSQL refused to append them, by table and SQLSTATE.',
      ['entity', 'reason'],
    ),
    replayHits: counter('pgfeed_replay_total', 'Resumes answered, by source (ring or log).', ['source']),
    resets: counter('pgfeed_resets_total', 'Resumes that could not be answered, by reason.', ['reason']),
    listenerReconnects: counter('pgfeed_listener_reconnects_total', 'Times the listener connection was re-established.'),
    slowDisconnects: counter('pgfeed_slow_client_disconnects_total', 'Streams closed because the client fell behind.'),
    rejected: counter('pgfeed_connections_rejected_total', 'Stream requests refused, by reason.', ['reason']),
    pruned: counter('pgfeed_events_pruned_total', 'Events deleted from the log by retention.'),
    dbQueries: counter('pgfeed_db_queries_total', 'Queries this instance sent to PostgreSQL (pool and listener).'),
    catalogReads: counter(
      'pgfeed_catalog_reads_total',
      'Reads of the watched tables, by what asked for it (start, notify, listen, poll, miss).',
      ['reason'],
    ),
    lag: new Histogram({
      name: 'pgfeed_commit_to_send_lag_ms',
      help: "Time from an event's commit to its write to the last live stream it went to.",
      buckets: LAG_BUCKETS_MS,
      registers,
    }),
    /** A gauge read when /metrics is scraped. */
    gauge(name: string, help: string, read: () => number): void {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    },
  };
}
export type ServiceMetrics = ReturnType<typeof createMetrics>;
