// The cashier page's "Sell 1 seat" buttons: POST JSON to the write API.
// The HttpOnly cookie authenticates; htmx applies the resulting events.
document.addEventListener('click', async (e) => {
  const id = e.target instanceof HTMLElement && e.target.dataset.sell;
  if (!id) return;
  const res = await fetch('/api/trips/' + encodeURIComponent(id) + '/bookings', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ seats: 1, channel: 'cashier' }),
  });
  const body = await res.json();
  document.getElementById('sale-result').textContent = res.ok ? 'Sold: booking ' + body.id : 'Not sold: ' + body.error.message;
});
