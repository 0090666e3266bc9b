/**
 * The floor of the stall scenario: an HTTP server with nothing of pgfeed in
 * it (no database, no decoding, no filters, no ids of its own) that holds SSE
 * streams and, asked for a burst, writes M precomputed frames to every stream,
 * one frame to all N sockets per turn of the event loop. What it takes is what
 * Node and the kernel charge for the writes alone on this machine: the least
 * stall an unsplit event's fan-out can have, and the least time a burst can take.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BareServer {
  url: string;
  /** Writes `frames` frames of about `bytes` bytes each to every open stream; resolves with the per-frame loop times. */
  burst(frames: number, bytes: number): Promise<{ perFrameMs: number[] }>;
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
    burst: (frames, bytes) =>
      new Promise((resolve) => {
        // Encoded before the burst starts: pgfeed encodes each event once too, and that is not a write.
        const padding = 'x'.repeat(Math.max(0, bytes - 40));
        const encoded = Array.from({ length: frames }, (_, i) =>
          Buffer.from(`id: ${i + 1}\nevent: trip.created\ndata: {"p":"${padding}"}\n\n`),
        );
        const perFrameMs: number[] = [];
        let i = 0;
        const next = () => {
          const started = performance.now();
          for (const res of streams) res.write(encoded[i]!);
          perFrameMs.push(performance.now() - started);
          if (++i < frames) setImmediate(next);
          else resolve({ perFrameMs });
        };
        setImmediate(next);
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
