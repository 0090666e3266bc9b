// The live pages' connection (docs/pages.md). <main data-live-stream> names the stream and the
// position the page's rows reflect; this script keeps the rows current and the badge true:
// - one EventSource per reader and stream, shared by all tabs of the origin: the tab holding a Web
//   Lock opens it and forwards every event on a BroadcastChannel; the others catch up once (a short
//   stream from their own position until `ready`) and then apply what it forwards;
// - the badge says live / connecting / reconnecting (with the next try) / offline / paused / polling,
//   and data that may be stale is greyed;
// - a hidden tab closes its stream after a while and resumes from its last event id when shown;
// - when the stream keeps failing while the server answers (a proxy buffering or stripping it), the
//   lists are refreshed from the page every 30 s until the stream works again;
// - fragments are applied with htmx (the same out-of-band swaps as `format=html`), then decorated:
//   local times, names instead of ids, overdue checkouts, counts, "was" values, row controls.
(function () {
  'use strict';
  var main = document.querySelector('main[data-live-stream]');
  var badge = document.getElementById('live');
  if (!main || !badge) return;

  var options = Object.assign(
    {
      pollMs: 30000, // the fallback's refresh interval
      pauseAfterMs: 15000, // a hidden tab closes its stream after this
      readyTimeoutMs: 10000, // a stream without `ready` by then is failing (a buffering proxy)
      failuresBeforePolling: 3, // failed streams in a row, with the server answering, before polling
      retryMinMs: 1000,
      retryMaxMs: 30000,
      wasMs: 6000, // how long a changed value shows what it was
    },
    window.pgfeedLiveOptions || {},
  );
  var stream = main.dataset.liveStream;
  var eventNames = main.dataset.liveEvents.split(',');
  var shareKey = 'pgfeed:' + main.dataset.liveShare;
  var last = main.dataset.liveLast; // the newest event id this page reflects (decimal)

  // ---------------------------------------------------------------- rows

  function newer(id) {
    return id.length !== last.length ? id.length > last.length : id > last;
  }

  /** Applies one event's fragment once; returns false for an event the page already reflects. */
  function apply(id, type, data) {
    if (!id || !newer(id)) return false;
    last = id;
    var template = document.createElement('template');
    template.innerHTML = data;
    var fragment = template.content.firstElementChild;
    if (!fragment) return true;
    var swap = fragment.getAttribute('hx-swap-oob') || '';
    if (swap.indexOf('innerHTML:') === 0) {
      // A truncate empties the entity's list (its rows and their controls).
      var list = document.querySelector(swap.slice('innerHTML:'.length));
      if (list) list.replaceChildren();
      counts();
      lastChange();
      say(type, null, null);
      return true;
    }
    var rowId = swap.indexOf('afterbegin:') === 0 ? fragment.firstElementChild && fragment.firstElementChild.id : fragment.id;
    if (rowId && swap.indexOf('afterbegin:') === 0 && document.getElementById(rowId)) {
      // A create of a row the page already shows (with CAPTURE=wal the log may number it after the
      // snapshot that held it): it replaces that row, as an update would, instead of adding a second one.
      var shown = fragment.firstElementChild;
      shown.setAttribute('hx-swap-oob', 'true');
      data = shown.outerHTML;
      swap = 'true';
    }
    var target =
      swap.indexOf('afterbegin:') === 0
        ? document.querySelector(swap.slice('afterbegin:'.length))
        : document.getElementById(rowId);
    if (!target) return true; // a row (or list) this page does not show, e.g. an old booking
    var before = swap === 'true' ? values(target) : null;
    window.htmx.swap(main, data, { swapStyle: 'none', swapDelay: 0, settleDelay: 0 });
    var row = rowId ? document.getElementById(rowId) : null;
    if (row && swap.indexOf('afterbegin:') === 0) withActions(row);
    if (row && before) markChanged(row, before);
    tidy();
    decorate(row || document);
    counts();
    lastChange();
    say(type, row, before);
    return true;
  }

  /** What each cell shows, keyed by column: its value (to compare) and its text (to show as "was"). */
  function values(row) {
    var out = {};
    row.querySelectorAll('.cell[data-col]').forEach(function (cell) {
      var time = cell.querySelector('time');
      var ref = cell.querySelector('[data-ref]');
      out[cell.dataset.col] = {
        value: time ? time.getAttribute('datetime') : ref ? ref.dataset.ref : cell.textContent,
        text: cell.textContent,
      };
    });
    return out;
  }

  function markChanged(row, before) {
    var now = values(row);
    Object.keys(now).forEach(function (col) {
      var was = before[col];
      if (!was || was.value === now[col].value) return;
      var cell = row.querySelector('.cell[data-col="' + CSS.escape(col) + '"]');
      cell.dataset.was = was.text;
      cell.classList.add('changed');
      setTimeout(function () {
        cell.classList.remove('changed');
      }, options.wasMs);
    });
  }

  /** Rows of lists with controls sit in an .item beside a copy of the list's controls. */
  function withActions(row) {
    var list = row.parentElement;
    var template = list && list.dataset.actions ? document.getElementById(list.dataset.actions) : null;
    if (!template || row.parentElement.classList.contains('item')) return;
    var item = document.createElement('div');
    item.className = 'item';
    var actions = document.createElement('div');
    actions.className = 'actions';
    actions.appendChild(template.content.cloneNode(true));
    row.replaceWith(item);
    item.append(row, actions);
  }

  /** A deleted row leaves its .item behind. */
  function tidy() {
    document.querySelectorAll('.rows > .item').forEach(function (item) {
      if (!item.querySelector('.row')) item.remove();
    });
  }

  var timeFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  });

  function labelOf(ref) {
    var known = document.querySelector('#labels data[value="' + CSS.escape(ref) + '"]');
    if (known) return known.textContent;
    var colon = ref.indexOf(':');
    var list = document.getElementById('list-' + ref.slice(0, colon));
    if (!list) return null;
    var row = list.querySelector('.row[data-key="' + CSS.escape(ref.slice(colon + 1)) + '"]');
    var cell = row && row.querySelector('[data-col="route"],[data-col="name"]');
    return cell ? cell.textContent : null;
  }

  /** Local times with their zone, names for ids, overdue checkouts. */
  function decorate(root) {
    root.querySelectorAll('time[datetime]:not([data-local])').forEach(function (time) {
      var at = new Date(time.getAttribute('datetime'));
      if (isNaN(at.getTime())) return;
      time.title = at.toISOString();
      time.textContent = timeFormat.format(at);
      time.dataset.local = '';
    });
    document.querySelectorAll('[data-ref]:not([data-named])').forEach(function (ref) {
      var label = labelOf(ref.dataset.ref);
      if (label === null) return;
      ref.title = ref.textContent;
      ref.textContent = label;
      ref.dataset.named = '';
    });
    overdue();
  }

  function overdue() {
    var now = Date.now();
    document.querySelectorAll('.row.checkout').forEach(function (row) {
      var due = row.querySelector('[data-col="due"] time');
      var out = row.querySelector('.tag[data-v="checked_out"]');
      row.classList.toggle('overdue', !!(out && due && new Date(due.getAttribute('datetime')).getTime() < now));
    });
  }

  function counts() {
    document.querySelectorAll('[data-count]').forEach(function (count) {
      var list = document.getElementById(count.dataset.count);
      if (!list) return;
      var rows = Array.prototype.slice.call(list.querySelectorAll('.row'));
      if (count.dataset.countOf) {
        rows = rows.filter(function (row) {
          return row.querySelector(count.dataset.countOf);
        });
      }
      count.textContent = String(rows.length);
    });
  }

  function lastChange() {
    badge.querySelector('.last').textContent = 'last change ' + new Date().toLocaleTimeString();
  }

  // A screen reader hears what changed, at most about once a second.
  var heard = [];
  var hearTimer = 0;
  function say(type, row, before) {
    var parts = type.split('.');
    var name = row ? (row.querySelector('.cell') || row).textContent : '';
    var what = parts[0] + ' ' + parts[1] + (name ? ': ' + name : '');
    if (row && before) {
      row.querySelectorAll('.cell.changed').forEach(function (cell) {
        what += ', ' + cell.dataset.col + ' ' + cell.textContent + ' (was ' + cell.dataset.was + ')';
      });
    }
    heard.push(what);
    if (hearTimer) return;
    hearTimer = setTimeout(function () {
      var region = document.getElementById('announce');
      if (region) region.textContent = heard.length > 3 ? heard.length + ' changes' : heard.join('. ');
      heard = [];
      hearTimer = 0;
    }, 1000);
  }

  /** Replaces every list with the page as the server renders it now, and takes its position. */
  var refreshes = 0;
  function refresh() {
    var mine = ++refreshes;
    return fetch(location.pathname + location.search, { headers: { Accept: 'text/html' }, cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text();
      })
      .then(function (text) {
        if (mine !== refreshes) return;
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.querySelector('main[data-live-stream]');
        if (!fresh) throw new Error('the page has no live lists');
        doc.querySelectorAll('[data-list]').forEach(function (list) {
          var old = document.getElementById(list.id);
          if (old) old.replaceWith(document.importNode(list, true));
        });
        doc.querySelectorAll('[data-count]').forEach(function (count) {
          var old = document.querySelector('[data-count="' + CSS.escape(count.dataset.count) + '"]');
          if (old) old.textContent = count.textContent;
        });
        last = fresh.dataset.liveLast;
        decorate(document);
        counts();
        lastChange();
      });
  }

  // ---------------------------------------------------------------- the badge

  var state = 'connecting';
  var stateText = 'connecting…';
  function show(next, text) {
    state = next;
    stateText = text;
    badge.dataset.state = next;
    badge.querySelector('.state').textContent = text;
    document.body.dataset.live = next;
    if (role === 'leader') post({ kind: 'state', state: next, text: text });
  }

  // ---------------------------------------------------------------- the stream

  var role = 'none'; // leader: holds the stream; follower: applies what the leader forwards; paused: hidden
  var source = null;
  var sourceRole = null; // 'leader' or 'catchup' (a follower's one-off stream until `ready`)
  var readyTimer = 0;
  var retryTimer = 0;
  var failures = 0;
  var attempt = 0;
  var behind = true; // a follower catching up holds what the leader forwards until its own `ready`
  var held = [];

  function open() {
    close();
    sourceRole = role === 'leader' ? 'leader' : 'catchup';
    if (sourceRole === 'catchup') behind = true;
    var es = new EventSource(stream + '&lastEventId=' + encodeURIComponent(last));
    source = es;
    if (state !== 'live' && state !== 'polling') {
      show(attempt ? 'reconnecting' : 'connecting', attempt ? 'reconnecting…' : 'connecting…');
    }
    readyTimer = setTimeout(function () {
      if (source === es) failed();
    }, options.readyTimeoutMs);
    eventNames.forEach(function (name) {
      es.addEventListener(name, function (e) {
        if (source !== es) return;
        apply(e.lastEventId, e.type, e.data);
        if (role === 'leader') post({ kind: 'event', id: e.lastEventId, type: e.type, data: e.data });
      });
    });
    es.addEventListener('ready', function () {
      if (source !== es) return;
      clearTimeout(readyTimer);
      failures = 0;
      attempt = 0;
      stopPolling();
      if (sourceRole === 'catchup') {
        close();
        behind = false;
        var pending = held;
        held = [];
        pending.forEach(function (m) {
          apply(m.id, m.type, m.data);
        });
        show(leaderState ? leaderState.state : 'live', leaderState ? leaderState.text : 'live');
      } else {
        show('live', 'live');
      }
    });
    es.addEventListener('reset', function () {
      // The position is too old to resume from: take the page's lists again, then resume from there.
      if (source !== es) return;
      close();
      if (role === 'leader') post({ kind: 'reset' });
      refresh().then(open, failed);
    });
    es.onerror = function () {
      if (source === es) failed();
    };
  }

  function close() {
    clearTimeout(readyTimer);
    if (source) source.close();
    source = null;
    sourceRole = null;
  }

  /** The stream failed: the server is away (reconnect with backoff) or answers but the stream does not (poll). */
  function failed() {
    close();
    if (role === 'paused') return;
    failures++;
    var delay = Math.min(options.retryMaxMs, options.retryMinMs * Math.pow(2, attempt++)) * (0.75 + Math.random() * 0.5);
    fetch('/healthz', { cache: 'no-store' }).then(
      function () {
        if (role === 'paused') return;
        if (failures >= options.failuresBeforePolling) {
          startPolling();
          retry(options.pollMs);
        } else {
          reconnecting(delay);
        }
      },
      function () {
        if (role === 'paused') return;
        stopPolling();
        if (navigator.onLine === false) show('offline', 'offline: waiting for the network');
        else reconnecting(delay);
      },
    );
  }

  function reconnecting(delay) {
    var at = new Date(Date.now() + delay);
    show('reconnecting', 'reconnecting: next try at ' + at.toLocaleTimeString() + ' (in ' + Math.ceil(delay / 1000) + ' s)');
    retry(delay);
  }

  function retry(delay) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () {
      retryTimer = 0;
      if (role !== 'paused') open();
    }, delay);
  }

  var polling = false;
  var pollTimer = 0;
  function startPolling() {
    var seconds = Math.round(options.pollMs / 1000);
    show('polling', 'live updates unavailable: refreshing every ' + (seconds || options.pollMs / 1000) + ' s');
    if (polling) return;
    polling = true;
    poll();
  }
  function poll() {
    clearTimeout(pollTimer);
    if (!polling) return;
    refresh()
      .catch(function (error) {
        show('polling', 'live updates unavailable; the last refresh failed (' + error.message + ')');
      })
      .then(function () {
        if (polling) pollTimer = setTimeout(poll, options.pollMs);
      });
  }
  function stopPolling() {
    if (!polling) return;
    polling = false;
    clearTimeout(pollTimer);
    refreshes++; // a refresh still on its way is older than what the stream now shows
  }

  // ---------------------------------------------------------------- tabs sharing one stream

  var channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(shareKey) : null;
  var locks = navigator.locks; // absent outside secure contexts: every tab then streams for itself
  var release = null;
  var waiting = null;
  var leaderState = null;

  function post(message) {
    if (channel) channel.postMessage(message);
  }

  if (channel) {
    channel.onmessage = function (e) {
      var m = e.data;
      if (m.kind === 'hello' && role === 'leader') post({ kind: 'state', state: state, text: stateText });
      if (role !== 'follower') return;
      if (m.kind === 'event') {
        if (behind) held.push(m);
        else apply(m.id, m.type, m.data);
      } else if (m.kind === 'state') {
        leaderState = m;
        if (m.state === 'polling' && !polling) {
          polling = true;
          poll();
        } else if (m.state !== 'polling' && polling) {
          stopPolling();
          if (m.state === 'live') open(); // catch up from this tab's own position
        }
        if (!source) show(m.state, m.text);
      } else if (m.kind === 'reset') {
        refresh().then(open, failed);
      }
    };
  }

  /** Starts (or resumes) this tab: catch up as a follower and queue for the stream's lock. */
  function join() {
    if (!channel || !locks) {
      lead();
      return;
    }
    role = 'follower';
    leaderState = null;
    post({ kind: 'hello' });
    open();
    waiting = new AbortController();
    locks
      .request(shareKey, { signal: waiting.signal }, function () {
        return new Promise(function (resolve) {
          release = resolve;
          lead();
        });
      })
      .catch(function () {}); // aborted: the tab was hidden while waiting
  }

  function lead() {
    role = 'leader';
    waiting = null;
    held = []; // its own stream resumes from `last`, which covers them
    if (source)
      sourceRole = 'leader'; // a catch-up in progress becomes the stream
    else if (!retryTimer) open();
    post({ kind: 'state', state: state, text: stateText });
  }

  function pause() {
    role = 'paused';
    close();
    clearTimeout(retryTimer);
    retryTimer = 0;
    stopPolling();
    held = [];
    behind = true;
    if (waiting) waiting.abort();
    waiting = null;
    if (release) release(); // another visible tab takes the stream over
    release = null;
    show('paused', 'paused while this tab is hidden');
  }

  var hideTimer = 0;
  document.addEventListener('visibilitychange', function () {
    clearTimeout(hideTimer);
    if (document.visibilityState === 'hidden') hideTimer = setTimeout(pause, options.pauseAfterMs);
    else if (role === 'paused') join();
  });
  window.addEventListener('online', function () {
    if (role !== 'paused' && !source) open();
  });
  window.addEventListener('offline', function () {
    if (role !== 'paused') show('offline', 'offline: waiting for the network');
  });
  setInterval(overdue, 60000);

  decorate(document);
  counts();
  join();
})();
