import net from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that a test can break: `cut()` closes every
 * connection and refuses new ones, `freeze()` keeps connections open but stops
 * forwarding (a half-open connection), `heal()` restores normal service.
 */
export interface FaultyProxy {
  /** `url` with host and port replaced by the proxy's. */
  url: string;
  cut(): void;
  freeze(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startProxy(targetUrl: string): Promise<FaultyProxy> {
  const target = new URL(targetUrl);
  let mode: 'open' | 'cut' | 'frozen' = 'open';
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  /** Connections that lived through a freeze lost bytes: they are broken for good. */
  const tainted = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    if (mode === 'frozen') tainted.add(pair);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (mode === 'open') to.write(chunk); // frozen: bytes vanish, the peer sees silence
      });
    forward(client, upstream);
    forward(upstream, client);
    const drop = () => {
      pairs.delete(pair);
      tainted.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    cut() {
      mode = 'cut';
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
    },
    freeze() {
      mode = 'frozen';
      for (const p of pairs) tainted.add(p);
    },
    heal() {
      mode = 'open';
      // End them the way a network reset finally would.
      for (const p of tainted) {
        p.client.destroy();
        p.upstream.destroy();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
