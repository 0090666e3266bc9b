/**
 * What one stream keeps on the heap: starts one system of the costs scenario
 * in this process (pgfeed trigger, the hand-rolled server or the floor) on an
 * embedded PostgreSQL, takes a heap snapshot with no stream open and another
 * with N open (clients in a pool process), and prints, per kind of object,
 * how many more there are and how many bytes they add, per stream.
 *
 *   node --expose-gc --import tsx scripts/bench/heap.ts trigger|handrolled|floor [N=2000]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { connect } from '../../src/db/connect';
import { startEmbedded } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
import { domain, domainMigrations } from '../../src/domain';
import { Auth } from '../../src/http/auth';
import { createLogger } from '../../src/log';
import { startPgfeed } from '../../src/service';
import { freePort } from '../../test/support/toolkit';
import { startFloor } from './floor';
import { HANDROLLED_SCHEMA, startHandRolled } from './handrolled';
import { LIFTED_LIMITS } from './params';
import { PoolProcess } from './pool-process';

/** Self size and count per (node type, constructor name) of a V8 heap snapshot. */
function histogram(file: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [fType, fName, fSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + fType!]!]!;
    const name = type === 'object' || type === 'closure' || type === 'hidden' ? snap.strings[snap.nodes[i + fName!]!]! : '';
    const key = `${type} ${name.slice(0, 60)}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += snap.nodes[i + fSize!]!;
    out.set(key, e);
  }
  return out;
}

async function main(): Promise<void> {
  const system = process.argv[2] ?? 'trigger';
  const n = Number(process.argv[3] ?? 2000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgfeed-heap-'));
  const embedded = await startEmbedded({ dir: path.join(dir, 'pg'), port: await freePort(), persistent: false });
  const sql = connect(embedded.url(), { max: 2 });
  if (system === 'trigger') {
    await migrate(sql);
    await migrate(sql, domainMigrations());
  } else await sql.unsafe(HANDROLLED_SCHEMA);
  await sql`insert into companies (id, name) values ('c0', 'c0')`;
  const secret = randomBytes(32).toString('hex');
  const port = await freePort();
  const server =
    system === 'floor'
      ? await startFloor(embedded.url(), port)
      : system === 'handrolled'
        ? await startHandRolled(embedded.url(), secret, port)
        : await startPgfeed({
            databaseUrl: embedded.url(),
            entities: domain.entities,
            migrate: false,
            logger: createLogger('silent'),
            config: { PORT: port, HOST: '127.0.0.1', JWT_SECRET: secret, CAPTURE: 'trigger', ...LIFTED_LIMITS },
          });
  const token = await new Auth(secret).sign({ sub: 'c0-admin', company: 'c0', role: 'admin' });
  const url = `http://127.0.0.1:${port}/events/company/c0`;
  const pool = new PoolProcess();
  await pool.started;
  // A few streams first, so lazily built code and caches are in both snapshots.
  await pool.ask({ cmd: 'streams', urls: Array.from({ length: 50 }, () => ({ url, token })) });
  const snap = (name: string) => {
    global.gc?.();
    global.gc?.();
    return histogram(v8.writeHeapSnapshot(path.join(dir, name)));
  };
  const before = snap('before.heapsnapshot');
  const rss0 = process.memoryUsage().rss;
  await pool.ask({ cmd: 'streams', urls: Array.from({ length: n }, () => ({ url, token })) });
  const after = snap('after.heapsnapshot');
  const rss1 = process.memoryUsage().rss;
  const rows = [...after].map(([k, a]) => {
    const b = before.get(k) ?? { count: 0, size: 0 };
    return { k, count: (a.count - b.count) / n, bytes: (a.size - b.size) / n };
  });
  rows.sort((x, y) => y.bytes - x.bytes);
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  console.log(
    `${system}: ${n} streams, heap +${total.toFixed(0)} B/stream, RSS +${((rss1 - rss0) / n).toFixed(0)} B/stream (RSS here includes the heap snapshot's own garbage)`,
  );
  for (const r of rows.slice(0, 40))
    console.log(`${r.bytes.toFixed(0).padStart(7)} B  ${r.count.toFixed(2).padStart(6)}×  ${r.k}`);
  await pool.stop();
  await server.close();
  await sql.end();
  await embedded.stop();
  if (process.env.KEEP_SNAPSHOTS) console.log(`snapshots kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

void main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
