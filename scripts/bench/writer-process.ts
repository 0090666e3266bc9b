/**
 * The writers scenario's application, in a process of its own as an
 * application would be (pgfeed runs in the benchmark's process): `writers`
 * connections each commit one-row UPDATEs of random stock items, one after
 * another, for `seconds`. Sends back the commit latencies' figures.
 */
import { connect } from '../../src/db/connect';
import { now } from './clock';
import { stats } from './stats';

export interface WriterJob {
  databaseUrl: string;
  writers: number;
  seconds: number;
  rows: number;
}

process.once('message', async (job: WriterJob) => {
  const sql = connect(job.databaseUrl, { max: job.writers, applicationName: 'bench-writer' });
  const latencies: number[] = [];
  // Every connection open before the clock starts.
  await Promise.all(Array.from({ length: job.writers }, () => sql`select 1`));
  const start = now();
  const until = start + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.writers }, async (_, w) => {
      let seed = w * 7919 + 1;
      while (now() < until) {
        seed = (seed * 48271) % 2147483647;
        const t0 = now();
        await sql`update stock_items set quantity = quantity - 1 where id = ${`item-${(seed % job.rows) + 1}`}`;
        latencies.push(now() - t0);
      }
    }),
  );
  const elapsedMs = now() - start;
  await sql.end({ timeout: 2 });
  process.send?.({ count: latencies.length, elapsedMs, latency: stats(latencies) }, () => process.exit(0));
});
