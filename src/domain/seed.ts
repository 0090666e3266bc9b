import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Sql } from 'postgres';
import type { Pgfeed } from '../index';

/** The demo company, its people and things; idempotent. Returns its ids. */
export async function seedDemo(sql: Sql) {
  const company = { id: 'acme', name: 'Acme Coaches' };
  const users = [
    { id: 'alice', role: 'admin', name: 'Alice Admin' },
    { id: 'carl', role: 'cashier', name: 'Carl Cashier' },
    { id: 'cora', role: 'customer', name: 'Cora Customer' },
  ] as const;
  await sql.begin(async (tx) => {
    await tx`insert into companies (id, name) values (${company.id}, ${company.name}) on conflict (id) do nothing`;
    await tx`insert into companies (id, name) values ('globex', 'Globex Lines') on conflict (id) do nothing`;
    for (const u of users) {
      await tx`insert into users (id, company_id, role, name) values (${u.id}, ${company.id}, ${u.role}, ${u.name}) on conflict (id) do nothing`;
    }
    const trips = [
      ['trip-1', 'Lisbon → Porto', 1, 48],
      ['trip-2', 'Porto → Braga', 2, 32],
      ['trip-3', 'Lisbon → Faro', 3, 52],
    ] as const;
    for (const [id, route, days, capacity] of trips) {
      await tx`
        insert into trips (id, company_id, route, departs_at, capacity, available_slots)
        values (${id}, ${company.id}, ${route}, now() + ${days} * interval '1 day', ${capacity}, ${capacity})
        on conflict (id) do nothing`;
    }
    const stock = [
      ['item-1', 'HELMET-M', 'Helmet (M)', 10],
      ['item-2', 'LOCK-U', 'U-lock', 25],
    ] as const;
    for (const [id, sku, name, quantity] of stock) {
      await tx`
        insert into stock_items (id, company_id, sku, name, quantity)
        values (${id}, ${company.id}, ${sku}, ${name}, ${quantity}) on conflict (id) do nothing`;
    }
    const [checkout] = await tx`select 1 from checkouts where id = 'checkout-1'`;
    if (!checkout) {
      await tx`update stock_items set reserved = reserved + 1 where id = 'item-1'`;
      await tx`
        insert into checkouts (id, company_id, user_id, item_id, due_at)
        values ('checkout-1', ${company.id}, 'cora', 'item-1', now() + interval '7 days')`;
    }
  });
  return { companyId: company.id, users };
}

/**
 * The demo's JWT secret, kept in a file in `dir` (DATA_DIR, beside the embedded
 * cluster's data) so the links `npm start` printed and the cookies they set
 * stay valid after a restart. Created on first use, readable by its owner only.
 */
export function demoSecret(dir: string): { secret: string; file: string } {
  const file = path.join(dir, 'pgfeed-demo-jwt-secret');
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept.length >= 32) return { secret: kept, file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, file };
}

/** What `npm start` prints for the demo: the pages with ready-made tokens, and something to try. */
export async function demoBanner(
  server: Pgfeed,
  databaseUrl: string,
  seeded: Awaited<ReturnType<typeof seedDemo>>,
  keptSecret: { file: string } | undefined,
): Promise<string> {
  const tokens: Record<string, string> = {};
  for (const u of seeded.users) {
    tokens[u.role] = await server.signToken({ sub: u.id, company: seeded.companyId, role: u.role }, 7 * 86400);
  }
  const lines = [
    '',
    'pgfeed demo is running.',
    `  database:   ${databaseUrl}`,
    ...(keptSecret ? [`  JWT_SECRET: kept in ${keptSecret.file} (links and cookies survive a restart)`] : []),
    `  dashboard:  ${server.url}/dashboard?access_token=${tokens.admin}`,
    `  cashier:    ${server.url}/cashier?access_token=${tokens.cashier}`,
    `  public:     ${server.url}/public/${seeded.companyId}`,
    '',
    'Tokens (7 days):',
    ...seeded.users.map((u) => `  ${u.role.padEnd(9)} ${u.id.padEnd(6)} ${tokens[u.role]}`),
    '',
    'Try:',
    `  curl -N -H "Authorization: Bearer ${tokens.admin}" ${server.url}/events/company/${seeded.companyId}`,
    `  psql ${databaseUrl} -c "update trips set available_slots = available_slots - 1 where id = 'trip-1'"`,
    '',
  ];
  return lines.join('\n') + '\n';
}
