import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ConnectionState } from '../src/client';
import { SubscribeError } from '../src/client';
import { badgeOf } from '../src/domain/pages/browser/badge';
import { LIST_ORDER } from '../src/domain/pages/lists';

// What the pages' badge says for each state of live(), and the order their lists keep: pure, no browser.
const NOW = Date.parse('2026-12-06T10:00:00Z');

test('reconnecting says when the next try is and in how many seconds', () => {
  const { state, text } = badgeOf({ status: 'reconnecting', retryAt: NOW + 2400 }, 30_000, NOW);
  expect(state).toBe('reconnecting');
  expect(text).toBe(`reconnecting: next try at ${new Date(NOW + 2400).toLocaleTimeString()} (in 3 s)`);
});

test('polling says its pace, in seconds people read', () => {
  expect(badgeOf({ status: 'polling', nextAt: NOW }, 30_000, NOW).text).toBe('live updates unavailable: refreshing every 30 s');
  expect(badgeOf({ status: 'polling', nextAt: NOW }, 400, NOW).text).toBe('live updates unavailable: refreshing every 0.4 s');
});

test('a collection closed by a refusal says why; a 401 says how to sign in again', () => {
  const signedOut = badgeOf({ status: 'closed', error: new SubscribeError('http', 'HTTP 401: expired', 401) }, 1, NOW);
  expect(signedOut).toEqual({ state: 'failed', text: 'signed out: open the page again with a sign-in link' });
  const gone = badgeOf({ status: 'closed', error: new SubscribeError('http', 'HTTP 404: no such company', 404) }, 1, NOW);
  expect(gone).toEqual({ state: 'failed', text: 'stopped: HTTP 404: no such company' });
});

test('every state has a badge the stylesheet colours', () => {
  const css = readFileSync(path.join(__dirname, '..', 'src', 'domain', 'pages', 'assets', 'pgfeed.css'), 'utf8');
  const states: ConnectionState[] = [
    { status: 'connecting' },
    { status: 'live' },
    { status: 'reconnecting', retryAt: NOW },
    { status: 'offline' },
    { status: 'paused' },
    { status: 'polling', nextAt: NOW },
    { status: 'closed' },
  ];
  for (const s of states) expect(css).toContain(`.badge[data-state='${badgeOf(s, 1, NOW).state}'] .dot`);
});

test('lists keep the first paint order: trips by departure, bookings and checkouts newest first', () => {
  const sorted = (entity: string, rows: { key: string; row: Record<string, unknown> }[]) =>
    [...rows].sort(LIST_ORDER[entity]!.compare).map((r) => r.key);
  expect(
    sorted('trip', [
      { key: 'b', row: { departsAt: '2026-12-24T10:00:00+00:00' } },
      { key: 'a', row: { departsAt: '2026-12-24T10:00:00+00:00' } },
      { key: 'c', row: { departsAt: '2026-12-24T08:00:00.5+00:00' } },
    ]),
  ).toEqual(['c', 'a', 'b']);
  expect(
    sorted('booking', [
      { key: 'old', row: { createdAt: '2026-12-06T09:00:00.123456+00:00' } },
      { key: 'new', row: { createdAt: '2026-12-06T09:00:01+00:00' } },
    ]),
  ).toEqual(['new', 'old']);
  expect(LIST_ORDER.booking!.limit).toBe(50);
});
