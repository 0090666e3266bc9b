// A page on its own origin that shows a company's trips live with live(): the token travels as a header
// (fetch, not EventSource); the tabs of this origin share one stream; a tab hidden for a while closes its
// stream and catches up when shown; behind a proxy that breaks the stream, the rows are reloaded instead.
import { live } from 'pgfeed/client';

const params = new URLSearchParams(location.hash.slice(1)); // the fragment never reaches a server
const status = document.getElementById('status');
const tbody = document.getElementById('trips');
let lastError = '';

const trips = live({
  url: params.get('url') ?? 'http://localhost:8080',
  scope: { company: params.get('company') ?? 'acme' },
  entities: ['trip'],
  token: params.get('token') ?? '',
  shareTab: true,
  pauseWhenHiddenMs: 15_000,
  polling: { everyMs: 30_000 },
  onError: (error) => (lastError = error.message),
});

trips.subscribe(({ items, state }) => {
  status.textContent = state.status === 'live' ? 'live' : `${state.status}${lastError && ` (${lastError})`}`;
  tbody.replaceChildren(
    ...items.map(({ key, row }) => {
      const tr = document.createElement('tr');
      tr.dataset.key = key;
      for (const value of [key, row.route, row.availableSlots])
        tr.append(Object.assign(document.createElement('td'), { textContent: String(value) }));
      return tr;
    }),
  );
});
