/** Small tools shared by the tests and the benchmark: free ports, a seeded random generator, metrics and process tables. */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A seeded generator in [0, 1) (mulberry32): the same seed gives the same sequence, so a run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The value of a Prometheus series in `text` (the /metrics body), summed over
 * label sets that include `labels`; 0 when absent.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => set.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Processes that exist (zombies count as gone): pid → command line, read from /proc. */
export function processTable(): Map<number, { ppid: number; cmdline: string }> {
  const table = new Map<number, { ppid: number; cmdline: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      table.set(Number(entry), { ppid: Number(ppid), cmdline });
    } catch {
      // exited while we looked
    }
  }
  return table;
}

/** `pid` and every process below it, with their command lines. */
export function processTree(pid: number): Map<number, string> {
  const table = processTable();
  const tree = new Map<number, string>();
  const visit = (p: number) => {
    const entry = table.get(p);
    if (!entry || tree.has(p)) return;
    tree.set(p, entry.cmdline);
    for (const [child, c] of table) if (c.ppid === p) visit(child);
  };
  visit(pid);
  return tree;
}
