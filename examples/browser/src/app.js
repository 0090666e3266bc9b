// A page on its own origin that shows a company's trips live: snapshot, then
// changes; the token travels as a header (fetch, not EventSource); a reload
// resumes from the last event id; `reset` refetches the snapshot.
import { subscribe } from 'pgfeed/client';

const params = new URLSearchParams(location.hash.slice(1)); // the fragment never reaches a server
const base = params.get('url') ?? 'http://localhost:8080';
const company = params.get('company') ?? 'acme';
const token = params.get('token') ?? '';
const headers = { Authorization: `Bearer ${token}` };
const status = document.getElementById('status');
const tbody = document.getElementById('trips');
const trips = new Map();
const resumeKey = `pgfeed:${base}:${company}`;
let snapshotAt = 0n;

function render() {
  tbody.replaceChildren(
    ...[...trips.values()].map((trip) => {
      const tr = document.createElement('tr');
      tr.dataset.key = trip.id;
      for (const value of [trip.id, trip.route, trip.availableSlots]) {
        const td = document.createElement('td');
        td.textContent = String(value);
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function refetchSnapshot() {
  const res = await fetch(`${base}/api/companies/${encodeURIComponent(company)}/trips`, { headers });
  if (!res.ok) throw new Error(`snapshot: HTTP ${res.status}`);
  const { items, lastEventId } = await res.json();
  trips.clear();
  for (const trip of items) trips.set(trip.id, trip);
  snapshotAt = BigInt(lastEventId);
  render();
  return lastEventId;
}

async function main() {
  const saved = sessionStorage.getItem(resumeKey) ?? undefined;
  // A reload resumes the stream, but the table starts empty: it needs the snapshot either way.
  const fromSnapshot = await refetchSnapshot();
  subscribe({
    url: `${base}/events/company/${encodeURIComponent(company)}?entities=trip`,
    token: () => token,
    lastEventId: saved ?? fromSnapshot,
    onReady: ({ replayed }) => (status.textContent = `live (${replayed} replayed)`),
    onReset: ({ reason }) => {
      status.textContent = `reset (${reason}): refetching the snapshot`;
      refetchSnapshot().catch((error) => (status.textContent = `error: ${error.message}`));
    },
    onEvent: (event) => {
      sessionStorage.setItem(resumeKey, event.id);
      if (BigInt(event.id) <= snapshotAt) return;
      if (event.op === 'delete') trips.delete(event.key);
      else trips.set(event.key, event.row);
      render();
    },
    onError: (error) => (status.textContent = `error: ${error.message}`),
  });
}

main().catch((error) => (status.textContent = `error: ${error.message}`));
