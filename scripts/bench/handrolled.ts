/**
 * The second baseline: what the seed applications do, written the way a
 * careful Node developer would in an afternoon. express, one LISTEN
 * connection (postgres.js `sql.listen`), a trigger that sends
 * `pg_notify('trips', row_to_json(new))`, and every notification written to
 * every open stream of the row's company. A JWT (HS256, jose) is checked on
 * connect, as pgfeed does. No log, no ids of its own, no resume, no filters,
 * no limits, no rows larger than a NOTIFY: that is the honest comparison of
 * cost, not of features.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { jwtVerify } from 'jose';
import postgres from 'postgres';

/** The table and trigger it needs, on a database of its own (no pgfeed objects in it). */
export const HANDROLLED_SCHEMA = `
  create table companies (id text primary key, name text not null);
  create table trips (
    id text primary key, company_id text not null references companies, route text not null,
    departs_at timestamptz not null, capacity int not null, available_slots int not null,
    booking_halted boolean not null default false, updated_at timestamptz not null default now());
  create function notify_trip() returns trigger language plpgsql as $$
  begin
    perform pg_notify('trips', row_to_json(new)::text);
    return new;
  end $$;
  create trigger trips_notify after insert or update on trips for each row execute function notify_trip();
`;

export interface HandRolled {
  url: string;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1:`port` (0: any) against `databaseUrl`, tokens signed with `secret`. */
export async function startHandRolled(databaseUrl: string, secret: string, port: number): Promise<HandRolled> {
  const key = new TextEncoder().encode(secret);
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const clients = new Map<string, Set<http.ServerResponse>>();
  let seq = 0;

  await sql.listen('trips', (payload) => {
    const row = JSON.parse(payload) as { company_id: string };
    const frame = `id: ${++seq}\ndata: ${payload}\n\n`;
    for (const res of clients.get(row.company_id) ?? []) res.write(frame);
  });

  const app = express();
  app.get('/events/company/:companyId', async (req, res) => {
    const company = req.params.companyId;
    try {
      const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
      if (payload.company !== company) return void res.status(403).end();
    } catch {
      return void res.status(401).end();
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.write('event: ready\ndata: {}\n\n');
    let set = clients.get(company);
    if (!set) clients.set(company, (set = new Set()));
    set.add(res);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(ping);
      set.delete(res);
    });
  });

  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await sql.end({ timeout: 2 });
    },
  };
}
