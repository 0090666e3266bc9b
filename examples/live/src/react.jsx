// A live trips table with React: useLive keeps the rows; a changed row is highlighted for a moment.
import { createRoot } from 'react-dom/client';
import { useLive } from 'pgfeed/react';

const params = new URLSearchParams(location.hash.slice(1)); // the fragment never reaches a server

function Trips() {
  const { items, state, changes } = useLive({
    url: params.get('url'),
    scope: { company: params.get('company') },
    entities: ['trip'],
    token: params.get('token'),
  });
  const changed = new Set(changes.map((c) => c.item.key));
  return (
    <>
      <p id="status">{state.status}</p>
      <table>
        <tbody>
          {items.map(({ key, row }) => (
            <tr key={key} data-key={key} className={changed.has(key) ? 'changed' : ''}>
              <td>{row.route}</td>
              <td>{row.availableSlots}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

createRoot(document.getElementById('app')).render(<Trips />);
