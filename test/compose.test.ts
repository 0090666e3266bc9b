/**
 * compose.yaml without Docker: parsed (anchors and merges resolved) and
 * checked against what it promises — PostgreSQL and two pgfeed instances
 * behind an SSE-friendly proxy, each health-checked, each instance configured
 * with settings pgfeed accepts and pointed at the compose PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../src/config';
import { ROOT } from './support/build';

type Service = {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
};
let services: Record<string, Service>;
let nginx: string;

/** `${NAME:-default}` as compose substitutes it with NAME unset. */
const substitute = (value: string) => value.replace(/\$\{\w+:-([^}]*)\}/g, '$1');

beforeAll(async () => {
  const compose = parse(await readFile(path.join(ROOT, 'compose.yaml'), 'utf8'), { merge: true, maxAliasCount: 100 }) as {
    services: Record<string, Service>;
  };
  services = compose.services;
  nginx = await readFile(path.join(ROOT, 'deploy', 'nginx.conf'), 'utf8');
});

const instances = () => Object.keys(services).filter((name) => /^pgfeed-\d+$/.test(name));

test('PostgreSQL, two pgfeed instances and a proxy, each health-checked', () => {
  expect(instances()).toEqual(['pgfeed-1', 'pgfeed-2']);
  expect(services.postgres?.image).toMatch(/^postgres:1[5-9]/);
  expect(services.postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
  for (const name of instances()) {
    expect(services[name]?.build).toBe('.');
    expect(services[name]?.healthcheck?.test.join(' ')).toContain('/readyz');
    expect(services[name]?.depends_on?.postgres?.condition).toBe('service_healthy');
  }
  expect(services.proxy?.healthcheck).toBeDefined();
  for (const name of instances()) expect(services.proxy?.depends_on?.[name]?.condition).toBe('service_healthy');
});

test('the instances run the core unless asked for the demo, and their health checks follow OPS_PORT', async () => {
  for (const name of instances()) expect(services[name]!.command!.map(substitute)).toEqual(['start']);
  // The health check's own command, as Docker runs it in the container, with /readyz on OPS_PORT only.
  const ops = http.createServer((req, res) => res.writeHead(req.url === '/readyz' ? 200 : 404).end());
  const main = http.createServer((_req, res) => res.writeHead(404).end());
  const listen = (s: http.Server) =>
    new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
  try {
    const env = { PORT: String(await listen(main)), OPS_PORT: String(await listen(ops)) };
    const [command, ...args] = services['pgfeed-1']!.healthcheck!.test.slice(1);
    expect(command).toBe('node');
    const exit = await new Promise((resolve) =>
      execFile(process.execPath, args, { env: { ...env, PATH: process.env.PATH } }, (error) => resolve(error ? error.code : 0)),
    );
    expect(exit).toBe(0);
  } finally {
    ops.close();
    main.close();
  }
});

test('each instance has settings pgfeed accepts, for the compose PostgreSQL', () => {
  const pg = services.postgres!.environment!;
  for (const name of instances()) {
    const env = Object.fromEntries(Object.entries(services[name]!.environment!).map(([k, v]) => [k, substitute(String(v))]));
    const config = loadConfig(env); // throws, naming the setting, on anything pgfeed would refuse at start
    const url = new URL(config.DATABASE_URL!);
    expect([url.hostname, url.port, url.username, url.password, url.pathname]).toEqual([
      'postgres',
      '5432',
      pg.POSTGRES_USER,
      pg.POSTGRES_PASSWORD,
      `/${pg.POSTGRES_DB}`,
    ]);
    expect(config.JWT_SECRET).toBeDefined();
    expect(config.TRUST_PROXY).toBe(1); // one proxy in front
    expect(Object.keys(env).filter((k) => !(k in config))).toEqual([]);
  }
  // Both instances sign and accept the same tokens.
  expect(services['pgfeed-1']!.environment!.JWT_SECRET).toBe(services['pgfeed-2']!.environment!.JWT_SECRET);
});

test('the proxy sends to both instances without buffering streams', () => {
  const volume = services.proxy!.volumes!.find((v) => v.includes('nginx'))!;
  expect(volume.split(':')[0]).toBe('./deploy/nginx.conf');
  for (const name of instances()) {
    const port = services[name]!.environment!.PORT ?? '8080';
    expect(nginx).toMatch(new RegExp(`server ${name}:${port}( [^;]*)?;`));
  }
  const events = /location \/events\/ \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
  expect(events).toContain('proxy_buffering off;');
  expect(events).toMatch(/proxy_read_timeout \d+[hm];/);
  expect(nginx).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
  expect(nginx).toContain('proxy_http_version 1.1;');
  expect(services.proxy!.ports).toEqual(['8080:80']);
});
