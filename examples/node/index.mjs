// A live copy of one company's trips in a Node service: live() reads the snapshot, streams from its
// position and keeps the rows current and whole, across reconnects and resets. (consumer.mjs is the other
// kind of client: one that handles each event once and resumes where it stopped, with subscribe().)
//
//   PGFEED_URL=http://localhost:8080 PGFEED_TOKEN=<admin or cashier JWT> PGFEED_COMPANY=acme npm start
import { live } from 'pgfeed/client';

const token = process.env.PGFEED_TOKEN;
if (!token) {
  console.error('set PGFEED_TOKEN (npm start of pgfeed prints ready-made tokens)');
  process.exit(2);
}
const log = (line) => console.log(JSON.stringify(line));

const trips = live({
  url: process.env.PGFEED_URL ?? 'http://localhost:8080',
  scope: { company: process.env.PGFEED_COMPANY ?? 'acme' },
  entities: ['trip'],
  token: () => token, // called before every request: return a fresh one here if yours expire
  onState: ({ status }) => log({ state: status }),
  onChange: (changes) => {
    for (const { kind, item } of changes) log({ change: kind, key: item.key, availableSlots: item.row.availableSlots });
  },
  onError: (error) => log({ error: error.message, retrying: !error.fatal }),
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void trips.close());
await trips.loaded;
log({ loaded: trips.items.length });
