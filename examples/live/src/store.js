// A live trips table with the plain store: live() is a store (subscribe/getSnapshot), as Svelte's `$store`,
// Vue's shallowRef or React's useSyncExternalStore take it. Here the page renders itself on each snapshot.
import { live } from 'pgfeed/client';

const params = new URLSearchParams(location.hash.slice(1)); // the fragment never reaches a server
const trips = live({
  url: params.get('url'),
  scope: { company: params.get('company') },
  entities: ['trip'],
  token: params.get('token'),
});

const app = document.getElementById('app');
trips.subscribe(({ items, state, changes }) => {
  const changed = new Set(changes.map((c) => c.item.key));
  const status = Object.assign(document.createElement('p'), { id: 'status', textContent: state.status });
  const rows = items.map(({ key, row }) => {
    const tr = document.createElement('tr');
    tr.dataset.key = key;
    if (changed.has(key)) tr.className = 'changed';
    for (const value of [row.route, row.availableSlots])
      tr.append(Object.assign(document.createElement('td'), { textContent: value }));
    return tr;
  });
  const tbody = document.createElement('tbody');
  tbody.append(...rows);
  const table = document.createElement('table');
  table.append(tbody);
  app.replaceChildren(status, table);
});
