// The cashier portal's controls: each calls the write API (JSON; the HttpOnly cookie authenticates,
// same-origin) and says the outcome, or the refusal in words, next to the control. The change itself
// reaches this page and every other one through the live stream (pages.js, live() from pgfeed/client).
(function () {
  'use strict';
  var enc = encodeURIComponent;

  function number(item, name, max) {
    var input = item.querySelector('[name="' + name + '"]');
    var n = Number(input && input.value);
    return Number.isInteger(n) && n >= 1 && n <= max ? n : null;
  }

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  /** Each control: the request it makes from its row (`key`) and controls (`item`), and what it says when done. */
  var ACTIONS = {
    sell: function (key, item) {
      var seats = number(item, 'seats', 1000);
      if (seats === null) return { invalid: 'Enter a number of seats from 1 to 1000.' };
      return {
        method: 'POST',
        url: '/api/trips/' + enc(key) + '/bookings',
        body: { seats: seats, channel: 'cashier' },
        done: 'Sold ' + plural(seats, 'seat') + '.',
        not: 'Not sold',
      };
    },
    halt: function (key) {
      return {
        method: 'PATCH',
        url: '/api/trips/' + enc(key),
        body: { bookingHalted: true },
        done: 'Booking halted.',
        not: 'Not halted',
      };
    },
    resume: function (key) {
      return {
        method: 'PATCH',
        url: '/api/trips/' + enc(key),
        body: { bookingHalted: false },
        done: 'Booking open again.',
        not: 'Not resumed',
      };
    },
    cancel: function (key) {
      return {
        method: 'POST',
        url: '/api/bookings/' + enc(key) + '/cancel',
        done: 'Cancelled; the seats are free again.',
        not: 'Not cancelled',
      };
    },
    add: function (key, item) {
      var units = number(item, 'units', 1000000);
      if (units === null) return { invalid: 'Enter a number of units from 1 to 1000000.' };
      return {
        method: 'POST',
        url: '/api/stock/' + enc(key) + '/adjust',
        body: { delta: units },
        done: 'Added ' + plural(units, 'unit') + '.',
        not: 'Not added',
      };
    },
    remove: function (key, item) {
      var units = number(item, 'units', 1000000);
      if (units === null) return { invalid: 'Enter a number of units from 1 to 1000000.' };
      return {
        method: 'POST',
        url: '/api/stock/' + enc(key) + '/adjust',
        body: { delta: -units },
        done: 'Removed ' + plural(units, 'unit') + '.',
        not: 'Not removed',
      };
    },
    checkout: function (key, item) {
      var customer = item.querySelector('[name="customer"]');
      var days = item.querySelector('[name="days"]');
      if (!customer || !customer.value) return { invalid: 'Choose a customer.' };
      var body = { itemId: key, userId: customer.value };
      if (days && days.value) body.dueAt = new Date(Date.now() + Number(days.value) * 86400000).toISOString();
      var who = customer.options[customer.selectedIndex].textContent;
      return { method: 'POST', url: '/api/checkouts', body: body, done: 'Checked out to ' + who + '.', not: 'Not checked out' };
    },
    return: function (key) {
      return { method: 'POST', url: '/api/checkouts/' + enc(key) + '/return', done: 'Checked in.', not: 'Not checked in' };
    },
  };

  /** A refusal in words a cashier can act on. */
  function refusal(status, body) {
    var message = body && body.error && body.error.message ? body.error.message : '';
    if (status === 401) return 'you are signed out (' + message + '); open the page again with a sign-in link';
    if (status === 403) return 'not allowed: ' + message;
    if (status === 404) return 'it no longer exists, or belongs to another company';
    if (status === 409) return message; // sold out, halted, nothing left, already done: the server says which
    if (status === 400) return 'the input was refused: ' + message;
    if (status === 429 || status === 503) return 'the server is busy (' + status + '); try again in a moment';
    return 'the server failed (' + status + ')' + (message ? ': ' + message : '');
  }

  function tell(item, ok, text) {
    var out = item.querySelector('.msg');
    if (!out) return;
    out.dataset.ok = ok ? 'yes' : 'no';
    out.textContent = text;
  }

  document.addEventListener('click', function (event) {
    var button = event.target instanceof Element ? event.target.closest('button[data-act]') : null;
    var item = button && button.closest('.item');
    var row = item && item.querySelector('.row[data-key]');
    var action = button && ACTIONS[button.dataset.act];
    if (!row || !action) return;
    var request = action(row.dataset.key, item);
    if (request.invalid) return tell(item, false, request.invalid);
    button.disabled = true;
    tell(item, true, '…');
    fetch(request.url, {
      method: request.method,
      headers: request.body ? { 'Content-Type': 'application/json', Accept: 'application/json' } : { Accept: 'application/json' },
      body: request.body ? JSON.stringify(request.body) : undefined,
    })
      .then(function (res) {
        return res
          .json()
          .catch(function () {
            return null;
          })
          .then(function (body) {
            if (res.ok) tell(item, true, request.done);
            else tell(item, false, request.not + ': ' + refusal(res.status, body) + '.');
          });
      })
      .catch(function () {
        tell(item, false, request.not + ': no answer from the server; check the list before trying again.');
      })
      .then(function () {
        button.disabled = false;
      });
  });
})();
