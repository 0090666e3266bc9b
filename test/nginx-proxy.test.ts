/**
 * A real proxy in front: deploy/nginx.conf, run by Debian's nginx (.ci/run
 * installs it) with only the upstream and listen addresses changed, in front
 * of two `pgfeed demo` processes on one database. Events pass unbuffered; a
 * client whose instance is killed resumes on the other with nothing lost; a
 * crashed-and-restarted instance is back in rotation at once; operations
 * endpoints stay inside; per-address limits see the address nginx saw.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Auth } from '../src/http/auth';
import { ROOT } from './support/build';
import { freshDatabase, type TestDatabase } from './support/db';
import { eventually } from './support/eventually';
import { type InstanceProcess, instanceProcess } from './support/instance';
import { TEST_CAPTURE, TEST_JWT_SECRET } from './support/service';
import { type Frame, openLiveStream, openStream } from './support/stream';
import { freePort, metricValue } from './support/toolkit';

const NGINX = '/usr/sbin/nginx';
const PER_ADDRESS = 1;

let db: TestDatabase;
let instances: InstanceProcess[] = [];
let nginx: ChildProcess | undefined;
let nginxExited: Promise<void> = Promise.resolve();
let prefix: string;
let proxyUrl: string;
let shipped: string;
let token: string;

/** deploy/nginx.conf with the compose service names replaced by `upstreams` and `listen 80` by `listen`; each exactly once. */
function substituted(conf: string, upstreams: string[], listen: string): string {
  const swaps: [string, string][] = [
    ...upstreams.map((address, i): [string, string] => [`server pgfeed-${i + 1}:8080`, `server ${address}`]),
    ['listen 80;', `listen ${listen};`],
  ];
  for (const [from, to] of swaps) {
    if (conf.split(from).length !== 2) throw new Error(`deploy/nginx.conf should contain "${from}" once`);
    conf = conf.replace(from, to);
  }
  return conf;
}

beforeAll(async () => {
  if (!existsSync(NGINX)) {
    throw new Error(
      `${NGINX} is missing: this test runs deploy/nginx.conf with Debian's nginx (apt-get install nginx-light; .ci/run does)`,
    );
  }
  db = await freshDatabase();
  token = await new Auth(TEST_JWT_SECRET).sign({ sub: 'alice', company: 'acme', role: 'admin' });
  const env = {
    DATABASE_URL: db.url,
    JWT_SECRET: TEST_JWT_SECRET,
    CAPTURE: TEST_CAPTURE,
    CAPTURE_TAKEOVER_MS: '200',
    LISTENER_PING_MS: '500',
    TRUST_PROXY: '1', // as compose.yaml: one proxy in front
    MAX_ANONYMOUS_CONNECTIONS_PER_IP: String(PER_ADDRESS),
  };
  instances = [instanceProcess('demo', await freePort(), env), instanceProcess('demo', await freePort(), env)];
  // One after the other: both migrate and seed the demo company.
  for (const instance of instances) await instance.start();

  prefix = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-nginx-'));
  const port = await freePort();
  proxyUrl = `http://127.0.0.1:${port}`;
  shipped = await readFile(path.join(ROOT, 'deploy', 'nginx.conf'), 'utf8');
  const site = substituted(
    shipped,
    instances.map((i) => `127.0.0.1:${i.port}`),
    `127.0.0.1:${port}`,
  );
  await writeFile(path.join(prefix, 'pgfeed.conf'), site);
  // The frame Debian's nginx.conf gives a conf.d file, in a prefix of our own: one process, not a daemon.
  await writeFile(
    path.join(prefix, 'nginx.conf'),
    `daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 1024; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${prefix}/pgfeed.conf;
}
`,
  );
  const proc = spawn(NGINX, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log')], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  nginx = proc;
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  nginxExited = new Promise((resolve) => proc.once('exit', () => resolve()));
  void nginxExited.then(() => {
    nginx = undefined;
  });
  await eventually(
    async () => {
      if (!nginx) throw new Error(`nginx exited: ${stderr}`);
      return fetch(`${proxyUrl}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    },
    { what: 'nginx answering', timeoutMs: 15_000 },
  );
}, 120_000);

afterAll(async () => {
  nginx?.kill('SIGQUIT');
  await nginxExited;
  await Promise.all(instances.map((i) => i.stop('SIGKILL')));
  if (prefix) await rm(prefix, { recursive: true, force: true });
  await db?.drop();
});

/** Which instance holds `n` open streams now (asked directly, not through the proxy). */
async function streamsOn(instance: InstanceProcess): Promise<number> {
  const res = await fetch(`${instance.url}/metrics`);
  return metricValue(await res.text(), 'pgfeed_connections');
}

async function insertTrip(id: string): Promise<void> {
  await db.sql`insert into trips (id, company_id, route, departs_at, capacity, available_slots)
               values (${id}, 'acme', 'A-B', '2026-12-24T08:00:00Z', 10, 10)`;
}

/** A public stream from client address `from` (a loopback address of its own): its status, and a way to end it. */
async function publicStreamFrom(from: string, headers: Record<string, string> = {}): Promise<{ status: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${proxyUrl}/events/public/acme`, { localAddress: from, headers }, (res) => {
      const close = () => req.destroy();
      if (res.statusCode !== 200) {
        res.resume();
        return resolve({ status: res.statusCode ?? 0, close });
      }
      // Admitted once `ready` arrives (the stream is counted from then on).
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('event: ready')) resolve({ status: 200, close });
      });
    });
    req.on('error', reject);
  });
}

test('events pass through unbuffered', async () => {
  const stream = await openLiveStream(`${proxyUrl}/events/company/acme?entities=trip`, { token });
  await insertTrip('nx-live-1');
  const frame = await stream.waitFor((f) => f.json?.key === 'nx-live-1', { timeoutMs: 20_000 });
  expect(frame.event).toBe('trip.created');
  stream.close();
});

test('/metrics and /readyz are not served through the proxy; each instance still serves them', async () => {
  for (const p of ['/metrics', '/readyz']) {
    const res = await fetch(`${proxyUrl}${p}`);
    await res.text();
    expect({ path: p, status: res.status }).toEqual({ path: p, status: 404 });
  }
  expect((await fetch(`${proxyUrl}/healthz`)).status).toBe(200);
  for (const instance of instances) expect((await fetch(`${instance.url}/readyz`)).status).toBe(200);
});

test('per-address limits see the address nginx saw (TRUST_PROXY=1), counted per instance', async () => {
  const opened: { status: number; close(): void }[] = [];
  try {
    // MAX_ANONYMOUS_CONNECTIONS_PER_IP=1 on each of two instances: one address holds two streams, not one
    // (the counts live in each instance's memory; docs/operations.md).
    for (let i = 0; i < 4; i++) opened.push(await publicStreamFrom('127.0.0.2'));
    expect(opened.map((s) => s.status).sort()).toEqual([200, 200, 429, 429]);
    // A client cannot pick another address by sending its own X-Forwarded-For: nginx appends the one it saw.
    const forged = await publicStreamFrom('127.0.0.2', { 'X-Forwarded-For': '198.51.100.9' });
    opened.push(forged);
    expect(forged.status).toBe(429);
    // Another address has its own budget.
    const other = await publicStreamFrom('127.0.0.3');
    opened.push(other);
    expect(other.status).toBe(200);
  } finally {
    opened.forEach((s) => s.close());
  }
  await eventually(async () => (await Promise.all(instances.map(streamsOn))).every((n) => n === 0), { what: 'streams closed' });
});

test("Node's keep-alive outlasts nginx's upstream keep-alive, so nginx never reuses a connection pgfeed is closing", async () => {
  const nginxKeepAlive = /upstream pgfeed \{[^}]*keepalive_timeout (\d+)s;/.exec(shipped)?.[1];
  expect(nginxKeepAlive).toBeDefined();
  const res = await fetch(`${instances[0]!.url}/healthz`);
  await res.text();
  const nodeKeepAlive = /timeout=(\d+)/.exec(res.headers.get('keep-alive') ?? '')?.[1];
  expect(Number(nodeKeepAlive)).toBeGreaterThan(Number(nginxKeepAlive));
});

test('a client whose instance is killed resumes through the proxy on the other, nothing lost; the killed one, restarted, is back in rotation at once', async () => {
  const received: Frame[] = [];
  const first = await openLiveStream(`${proxyUrl}/events/company/acme?entities=trip`, { token });
  for (const id of ['nx-kill-1', 'nx-kill-2', 'nx-kill-3']) await insertTrip(id);
  await first.waitFor((f) => f.json?.key === 'nx-kill-3', { timeoutMs: 20_000 });
  received.push(...first.events());

  const counts = await Promise.all(instances.map(streamsOn));
  const victim = instances[counts.indexOf(1)]!;
  const survivor = instances.find((i) => i !== victim)!;
  expect(counts.sort()).toEqual([0, 1]);
  await victim.stop('SIGKILL'); // a crash: no goodbye to the stream
  await first.ended; // nginx ends the client's response when its upstream dies
  // Requests meanwhile: round robin offers one of them to the dead instance, so nginx has seen it fail.
  for (let i = 0; i < 2; i++) expect((await fetch(`${proxyUrl}/healthz`)).status).toBe(200);

  for (const id of ['nx-kill-4', 'nx-kill-5', 'nx-kill-6']) await insertTrip(id);
  // The client reconnects through the same address, as EventSource does, with the last id it saw.
  // Round robin may try the dead instance first: nginx moves on to the live one.
  const resumed = await openLiveStream(`${proxyUrl}/events/company/acme?entities=trip`, {
    token,
    lastEventId: received.at(-1)!.id!,
  });
  await resumed.waitFor((f) => f.json?.key === 'nx-kill-6', { timeoutMs: 20_000 });
  received.push(...resumed.events());
  expect(received.map((f) => f.json.key)).toEqual(['nx-kill-1', 'nx-kill-2', 'nx-kill-3', 'nx-kill-4', 'nx-kill-5', 'nx-kill-6']);
  const ids = received.map((f) => BigInt(f.id!));
  expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
  resumed.close();

  // The crashed instance comes back at its address; the other then crashes too. With nginx's default
  // failure accounting the first stays marked failed (its failure was seen, no stream ever completes
  // to clear it) and nginx answers 502 "no live upstreams" with an instance up.
  await victim.start();
  await survivor.stop('SIGKILL');
  const afterBoth = await openStream(`${proxyUrl}/events/company/acme?entities=trip`, { token });
  expect(afterBoth.status).toBe(200);
  await afterBoth.waitFor((f) => f.event === 'ready');
  afterBoth.close();
  await survivor.start();
}, 120_000);
