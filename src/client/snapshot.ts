/**
 * Reads a scope's snapshot (`GET /snapshots/...`) in keyset pages, each with the position it reflects: what
 * live() loads first, after a `reset`, and while polling.
 */
import type { SnapshotPage } from './collection';
import { SubscribeError, type SubscribeOptions } from './subscribe';

const isPage = (v: unknown): v is SnapshotPage =>
  typeof v === 'object' &&
  v !== null &&
  Array.isArray((v as SnapshotPage).items) &&
  typeof (v as SnapshotPage).lastEventId === 'string' &&
  ((v as SnapshotPage).next === null || typeof (v as SnapshotPage).next === 'string');

/** Every page of the snapshot at `url` (the stream's query plus `limit`/`after`); failures are SubscribeErrors. */
export async function readSnapshot<R>(request: {
  url: string;
  query: [string, string][];
  pageSize: number;
  token: SubscribeOptions['token'];
  fetch: typeof fetch;
  signal: AbortSignal;
}): Promise<SnapshotPage<R>[]> {
  const pages: SnapshotPage<R>[] = [];
  let after: string | null = null;
  do {
    const q = new URLSearchParams([...request.query, ['limit', String(request.pageSize)]]);
    if (after !== null) q.set('after', after);
    const token = typeof request.token === 'function' ? await request.token() : request.token;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await request.fetch(`${request.url}?${q}`, { headers, signal: request.signal, cache: 'no-store' });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new SubscribeError('http', `snapshot: HTTP ${res.status}: ${text.slice(0, 300)}`, res.status);
    }
    const page: unknown = await res.json();
    if (!isPage(page)) throw new SubscribeError('protocol', 'snapshot: not a snapshot page');
    pages.push(page as SnapshotPage<R>);
    after = page.next;
  } while (after !== null);
  return pages;
}
