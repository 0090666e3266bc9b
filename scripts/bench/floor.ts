/**
 * The floor of the costs scenario: what Node itself charges for an SSE
 * stream. node:http with nothing on top — no express, no token check, no
 * per-stream timer (one heartbeat for all), no log — and one LISTEN
 * connection on the hand-rolled server's table and trigger, whose payloads it
 * frames exactly as the hand-rolled server does (the same bytes, encoded once
 * into one buffer) and writes to every stream.
 * No server that does more than this can cost less per stream, per open or
 * per frame; a target below the floor is out of reach of any Node server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import type { HandRolled } from './handrolled';

const HEAD = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' };
const READY = Buffer.from('event: ready\ndata: {}\n\n');
const PING = Buffer.from(': ping\n\n');
const PREFIX = '/events/company/';

/** Starts the floor server on 127.0.0.1:`port` (0: any) against a database holding HANDROLLED_SCHEMA. */
export async function startFloor(databaseUrl: string, port: number): Promise<HandRolled> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const clients = new Map<string, Set<http.ServerResponse>>();
  let seq = 0;

  await sql.listen('trips', (payload) => {
    const row = JSON.parse(payload) as { company_id: string };
    // Encoded once for every stream (the hand-rolled server writes the string, encoded per socket).
    const frame = Buffer.from(`id: ${++seq}\ndata: ${payload}\n\n`);
    for (const res of clients.get(row.company_id) ?? []) res.write(frame);
  });
  const ping = setInterval(() => {
    for (const set of clients.values()) for (const res of set) res.write(PING);
  }, 15_000);

  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith(PREFIX)) return void res.writeHead(404).end();
    const company = req.url.slice(PREFIX.length).split('?')[0]!;
    res.writeHead(200, HEAD);
    res.write(READY);
    let set = clients.get(company);
    if (!set) clients.set(company, (set = new Set()));
    set.add(res);
    res.once('close', () => set.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      clearInterval(ping);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await sql.end({ timeout: 2 });
    },
  };
}
