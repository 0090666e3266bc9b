/** Reading the generic snapshots (GET /snapshots/...) as a client would. */
import type { SnapshotPage } from '../../src/events/snapshot';
import type { Pgfeed } from '../../src/service';

/** GET `path` on `server` with a bearer token if given: its status and JSON body. */
export async function getJson(server: Pgfeed, path: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.json() };
}

/** A snapshot page that must be answered 200. */
export async function snapshotPage(server: Pgfeed, path: string, token?: string): Promise<SnapshotPage> {
  const { status, body } = await getJson(server, path, token);
  if (status !== 200) throw new Error(`${path} answered ${status}: ${JSON.stringify(body)}`);
  return body as SnapshotPage;
}

/** Every page of a snapshot, following `next`. */
export async function allSnapshotPages(server: Pgfeed, path: string, token?: string): Promise<SnapshotPage[]> {
  const pages: SnapshotPage[] = [];
  let next: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const p = await snapshotPage(server, next === null ? path : `${path}${sep}after=${encodeURIComponent(next)}`, token);
    pages.push(p);
    next = p.next;
  } while (next !== null);
  return pages;
}
