/**
 * The benchmark's writers. Every change sets one trip's route to a unique
 * marker, so clients can tell which change they received and when; the commit
 * time is when COMMIT returned here, on the clock the client pools use too.
 */
import type { Sql } from '../../src/db/connect';
import { now } from './clock';
import { seededRandom } from '../../test/support/toolkit';

export const TRIPS_PER_COMPANY = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Written {
  /** marker → commit time (ms, see `now`). */
  commits: Record<string, number>;
  /** marker → company it was written in. */
  companyOf: Record<string, string>;
  total: number;
}

/**
 * `rate` single-row commits per second for `seconds`, round-robin over the
 * companies and, within a company, to a trip drawn at random: each trip changes
 * on average every companies × trips / rate seconds (4 s at the defaults), at
 * irregular intervals, as bookings arrive — sometimes twice within one poll.
 */
export async function writeSteady(sql: Sql, companies: string[], rate: number, seconds: number, tag: string): Promise<Written> {
  const commits: Record<string, number> = {};
  const companyOf: Record<string, string> = {};
  const total = rate * seconds;
  const start = now();
  const inflight: Promise<void>[] = [];
  const pick = seededRandom(1); // the same trips, in the same order, for pgfeed and for polling
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - now();
    if (wait > 0) await sleep(wait);
    const company = companies[i % companies.length]!;
    const trip = `${company}-t${Math.floor(pick() * TRIPS_PER_COMPANY)}`;
    const marker = `m${tag}-${i}`;
    companyOf[marker] = company;
    // Not awaited: a slow commit must not delay the next one's schedule.
    const write = sql`update trips set route = ${marker} where id = ${trip}`.then(() => {
      commits[marker] = now();
    });
    write.catch(() => {}); // handled by Promise.all below, even if it fails while the loop still sleeps
    inflight.push(write);
  }
  await Promise.all(inflight);
  return { commits, companyOf, total };
}

/**
 * `total` changes in one company as fast as `writers` concurrent connections
 * commit them, `batch` rows per transaction in one statement. Each writer owns
 * `batch` trips of its own (created here), so writers never wait on each
 * other's row locks and a transaction changes each of its rows once: the
 * writers are cheap enough that the capture path, not they, sets the pace.
 */
export async function writeBurst(
  sql: Sql,
  company: string,
  total: number,
  writers: number,
  batch: number,
  tag: string,
): Promise<Written & { startedAt: number; endedAt: number }> {
  const commits: Record<string, number> = {};
  const companyOf: Record<string, string> = {};
  const tripsOf = (w: number) => Array.from({ length: batch }, (_, k) => `${company}-burst-${w}-${k}`);
  await sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
            select id, ${company}, 'start', now() + interval '1 day', 100, 100
              from unnest(${sql.array(Array.from({ length: writers }, (_, w) => tripsOf(w)).flat())}::text[]) id
            on conflict (id) do nothing`;
  const startedAt = now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const trips = tripsOf(w);
      for (let b = w; b * batch < total; b += writers) {
        const markers = Array.from({ length: Math.min(batch, total - b * batch) }, (_, k) => `m${tag}-${b * batch + k}`);
        await sql`update trips t set route = v.marker
                    from unnest(${sql.array(trips.slice(0, markers.length))}::text[], ${sql.array(markers)}::text[]) v(id, marker)
                   where t.id = v.id`;
        const t = now();
        for (const m of markers) {
          commits[m] = t;
          companyOf[m] = company;
        }
      }
    }),
  );
  return { commits, companyOf, total, startedAt, endedAt: now() };
}
