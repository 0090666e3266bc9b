/** Prometheus text exposition of the service's counters, gauges and one histogram. */

type Labels = Record<string, string>;

const LAG_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

function labelText(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',')}}`;
}

/** The service's metrics; names are stable and listed in the README. */
export class Metrics {
  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();
  private readonly gauges = new Map<string, { help: string; read: () => number }>();
  private readonly lag = { buckets: LAG_BUCKETS_MS.map(() => 0), sum: 0, count: 0 };

  counter(name: string, help: string): (by?: number, labels?: Labels) => void {
    const c = { help, values: new Map<string, number>() };
    this.counters.set(name, c);
    return (by = 1, labels) => {
      const key = labelText(labels);
      c.values.set(key, (c.values.get(key) ?? 0) + by);
    };
  }

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
  }

  /** Records commit-to-send lag of one delivered event. */
  observeLag(ms: number): void {
    const v = Math.max(0, ms);
    LAG_BUCKETS_MS.forEach((b, i) => {
      if (v <= b) this.lag.buckets[i] = (this.lag.buckets[i] ?? 0) + 1;
    });
    this.lag.sum += v;
    this.lag.count++;
  }

  /** The current value of a counter (all label sets summed); for tests and the bench. */
  value(name: string): number {
    let sum = 0;
    for (const v of this.counters.get(name)?.values.values() ?? []) sum += v;
    return sum;
  }

  render(): string {
    const out: string[] = [];
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      if (c.values.size === 0) out.push(`${name} 0`);
      for (const [labels, v] of c.values) out.push(`${name}${labels} ${v}`);
    }
    for (const [name, g] of this.gauges) {
      out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.read()}`);
    }
    const h = 'pgfeed_commit_to_send_lag_ms';
    out.push(`# HELP ${h} Time from an event's commit to its first write to a stream.`, `# TYPE ${h} histogram`);
    LAG_BUCKETS_MS.forEach((b, i) => out.push(`${h}_bucket{le="${b}"} ${this.lag.buckets[i]}`));
    out.push(`${h}_bucket{le="+Inf"} ${this.lag.count}`, `${h}_sum ${this.lag.sum}`, `${h}_count ${this.lag.count}`);
    return out.join('\n') + '\n';
  }
}

/** The counters every part of the service increments. */
export function createMetrics() {
  const m = new Metrics();
  return {
    registry: m,
    eventsIn: m.counter('pgfeed_events_in_total', 'Events received from PostgreSQL (live and catch-up).'),
    eventsOut: m.counter('pgfeed_events_out_total', 'Event frames written to streams.'),
    decodeErrors: m.counter('pgfeed_decode_errors_total', 'Notifications that could not be decoded.'),
    replayHits: m.counter('pgfeed_replay_total', 'Resumes answered, by source (ring or log).'),
    resets: m.counter('pgfeed_resets_total', 'Resumes that could not be answered, by reason.'),
    listenerReconnects: m.counter('pgfeed_listener_reconnects_total', 'Times the listener connection was re-established.'),
    slowDisconnects: m.counter('pgfeed_slow_client_disconnects_total', 'Streams closed because the client fell behind.'),
    rejected: m.counter('pgfeed_connections_rejected_total', 'Stream requests refused, by reason.'),
    pruned: m.counter('pgfeed_events_pruned_total', 'Events deleted from the log by retention.'),
    dbQueries: m.counter('pgfeed_db_queries_total', 'Queries this instance sent to PostgreSQL (pool and listener).'),
  };
}
export type ServiceMetrics = ReturnType<typeof createMetrics>;
