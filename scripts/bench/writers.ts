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
 * commit them, `batch` rows per transaction. Each writer owns its own trips so
 * writers wait only on the commit-order lock, not on each other's row locks.
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
  const tripsPerWriter = Math.max(1, Math.floor(TRIPS_PER_COMPANY / writers));
  const startedAt = now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let b = w; b * batch < total; b += writers) {
        const markers = Array.from({ length: Math.min(batch, total - b * batch) }, (_, k) => `m${tag}-${b * batch + k}`);
        await sql.begin(async (tx) => {
          for (const [k, m] of markers.entries()) {
            const trip = `${company}-t${((w * tripsPerWriter) % TRIPS_PER_COMPANY) + (k % tripsPerWriter)}`;
            await tx`update trips set route = ${m} where id = ${trip}`;
          }
        });
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
