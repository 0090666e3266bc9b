/**
 * The floor of the stall scenario: an HTTP server with nothing of pgfeed in
 * it (no database, no decoding, no filters, no ids of its own) that holds SSE
 * streams and, asked for a burst, writes M precomputed frames to every stream:
 * per turn of the event loop, `batch` frames (joined in one buffer) to all N
 * sockets. What it takes is what Node and the kernel charge for the writes
 * alone on this machine: with one frame per turn, the stall of an unsplit
 * event's fan-out; with a batch as large as pgfeed's runs, the least time its
 * way of writing a burst can take.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BareServer {
  url: string;
  /** Writes `frames` frames of about `bytes` bytes each to every open stream, `batch` per write; resolves with each turn's time. */
  burst(frames: number, bytes: number, batch: number): Promise<{ perTurnMs: number[] }>;
  close(): Promise<void>;
}

export async function startBare(port: number): Promise<BareServer> {
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.socket?.setNoDelay(true);
    res.write('event: ready\ndata: {}\n\n');
    streams.add(res);
    req.on('close', () => streams.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    burst: (frames, bytes, batch) =>
      new Promise((resolve) => {
        // Encoded before the burst starts: pgfeed encodes each event once too, and that is not a write.
        const padding = 'x'.repeat(Math.max(0, bytes - 40));
        const frame = (id: number) => `id: ${id}\nevent: trip.created\ndata: {"p":"${padding}"}\n\n`;
        const writes = Array.from({ length: Math.ceil(frames / batch) }, (_, w) => {
          const ids = Array.from({ length: Math.min(batch, frames - w * batch) }, (_, i) => w * batch + i + 1);
          return Buffer.from(ids.map(frame).join(''));
        });
        const perTurnMs: number[] = [];
        let i = 0;
        const next = () => {
          const started = performance.now();
          for (const res of streams) res.write(writes[i]!);
          perTurnMs.push(performance.now() - started);
          if (++i < writes.length) setImmediate(next);
          else resolve({ perTurnMs });
        };
        setImmediate(next);
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
