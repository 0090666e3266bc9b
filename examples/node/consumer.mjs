// A consumer of one company's trip events with subscribe(): each change handled once, in commit order
// (here: logged), resuming where it stopped (the last event id is kept in STATE_FILE) and refetching the
// snapshot when pgfeed says it cannot (`reset`). For a live copy of the rows, index.mjs (live()) is shorter.
//
//   PGFEED_URL=http://localhost:8080 PGFEED_TOKEN=<admin or cashier JWT> PGFEED_COMPANY=acme npm run consumer
import { readFileSync, writeFileSync } from 'node:fs';
import { subscribe } from 'pgfeed/client';

const base = process.env.PGFEED_URL ?? 'http://localhost:8080';
const company = process.env.PGFEED_COMPANY ?? 'acme';
const token = process.env.PGFEED_TOKEN;
const stateFile = process.env.STATE_FILE ?? '.pgfeed-last-event-id';
if (!token) {
  console.error('set PGFEED_TOKEN (npm start of pgfeed prints ready-made tokens)');
  process.exit(2);
}

const log = (line) => console.log(JSON.stringify(line));
let snapshotAt = 0n; // events at or below the snapshot's position are already in it (handled from the snapshot)

async function refetchSnapshot() {
  const res = await fetch(`${base}/api/companies/${company}/trips`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`snapshot: HTTP ${res.status}`);
  const { items, lastEventId } = await res.json();
  snapshotAt = BigInt(lastEventId);
  log({ snapshot: items.length, lastEventId });
  return lastEventId;
}

function saved() {
  try {
    return readFileSync(stateFile, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

// Resume from where the last run stopped, or start from a fresh snapshot.
const resumeFrom = saved() ?? (await refetchSnapshot());

const sub = subscribe({
  url: `${base}/events/company/${encodeURIComponent(company)}?entities=trip`,
  token: () => token, // sent as a header on every (re)connect; return a fresh one here if yours expire
  lastEventId: resumeFrom,
  onReady: ({ lastEventId, replayed }) => log({ ready: lastEventId, replayed }),
  onReset: ({ reason }) => {
    log({ reset: reason });
    refetchSnapshot().catch((error) => log({ error: error.message }));
  },
  onEvent: (event) => {
    writeFileSync(stateFile, event.id);
    if (BigInt(event.id) <= snapshotAt) return;
    log({ event: event.type, id: event.id, key: event.key, availableSlots: event.row.availableSlots });
  },
  onError: (error) => log({ error: error.message, retrying: !error.fatal }),
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => sub.close());
await sub.done;
