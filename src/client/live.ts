/**
 * live(): a keyed collection kept current from a snapshot and the stream. The snapshot is read in keyset
 * pages (`GET /snapshots/...`), the stream starts at the smallest page position, and the collection
 * (collection.ts) applies what the pages do not already hold. The snapshot is loaded inside the stream's
 * reconnect loop (subscribe's `prepare`), so one loop retries both; a `reset` reloads it and reconnects
 * from its position, and the rows are replaced at once. With `shareTab`, the tabs of a browser share one
 * stream (share-tab.ts): this tab is then the holder (it streams and forwards) or a follower (it reads its
 * own snapshot and applies what the holder forwards).
 */
import { type Change, LiveCollection, type LiveItem, type SnapshotPage } from './collection';
import { type ConnectionInput, type ConnectionState, INITIAL_STATE, nextState } from './connection';
import { Follower } from './follower';
import { type TabMessage, type TabShare, joinTabs, shareKey, shareableState } from './share-tab';
import { readSnapshot } from './snapshot';
import { SubscribeError, type SubscribeOptions, type Subscription, subscribe } from './subscribe';
import { type Where, parseWhere, whereParams } from './where';

type Row = Record<string, unknown>;

/** Whose rows: one company's (admin or cashier token), the token's user's, or a company's public projection (no token). */
export type LiveScope = { company: string } | { user: true } | { public: string };

export interface LiveOptions<R extends Row = Row> {
  /** The service's base URL, e.g. `http://localhost:8080`; `''` in a page the service itself serves. */
  url: string;
  scope: LiveScope;
  /** Entity names; default every entity the scope may see. */
  entities?: string[];
  /** Only these rows. */
  keys?: string[];
  /** Column filters, e.g. `{ status: 'eq.confirmed', seats: 'gt.2' }` (docs/api.md). */
  where?: Where;
  /** Sent as `Authorization: Bearer`; a function is called before every request. Pages may use the cookie instead. */
  token?: SubscribeOptions['token'];
  /** Snapshot page size (1..1000, default 500). */
  pageSize?: number;
  /** Which rows changed and how, after they did: a first load and a reload after `reset` included. */
  onChange?: (changes: readonly Change<R>[]) => void;
  onState?: (state: ConnectionState) => void;
  /** Every failure (retried unless fatal) and every exception an application callback threw. */
  onError?: (error: SubscribeError) => void;
  backoff?: SubscribeOptions['backoff'];
  /** In a browser: close the stream after the tab has been hidden this long, catch up when it is shown. */
  pauseWhenHiddenMs?: number;
  /**
   * When the stream fails `afterFailures` times in a row (default 3) while the snapshot still loads (a proxy
   * that buffers or strips SSE), reload the snapshot every `everyMs` (default 30 s) until the stream works. A
   * stream that is not `ready` within `readyTimeoutMs` (default 10 s) of its request counts as failed: a
   * buffering proxy holds it without failing it.
   */
  polling?: { afterFailures?: number; everyMs?: number; readyTimeoutMs?: number } | false;
  /**
   * In a browser with Web Locks and BroadcastChannel: the tabs of this origin that run live() with the same
   * url, scope, entities, keys and where (or the same `name`) share one stream. One tab streams and forwards
   * what it receives; the others read their own snapshot and apply it; when that tab closes or is paused,
   * another takes over from its own position. Tabs that share must read the same rows (the same user): give
   * `name` to keep readers apart. Elsewhere (Node) the collection streams on its own.
   */
  shareTab?: boolean | { name?: string };
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** What a UI renders: the rows, the connection state, and the last batch of changes (to highlight). */
export interface LiveSnapshot<R extends Row = Row> {
  items: readonly LiveItem<R>[];
  state: ConnectionState;
  changes: readonly Change<R>[];
}

/** A live collection; also a store (`subscribe`/`getSnapshot`) for React's useSyncExternalStore, Svelte and Vue. */
export interface Live<R extends Row = Row> {
  readonly items: readonly LiveItem<R>[];
  readonly state: ConnectionState;
  /** Where the stream would resume. */
  readonly lastEventId: string | undefined;
  /** Resolves once the first snapshot is in `items`; rejects if the collection closed before. */
  readonly loaded: Promise<void>;
  get(entity: string, key: string): LiveItem<R> | undefined;
  /** The current snapshot; the same object until something changes. */
  getSnapshot(): LiveSnapshot<R>;
  /** Calls `listener` now and after every change; returns the unsubscribe function. */
  subscribe(listener: (snapshot: LiveSnapshot<R>) => void): () => void;
  /** Closes the stream and keeps the rows and the position (state `paused`). */
  pause(): void;
  /** Reopens the stream from the position: every change missed while paused, once. */
  resume(): void;
  /** Stops everything; resolves when the stream is closed. */
  close(): Promise<void>;
}

function paths(scope: LiveScope): { snapshots: string; events: string } {
  const at = (kind: string, id: string) => `/${kind}/${encodeURIComponent(id)}`;
  if ('company' in scope)
    return { snapshots: `/snapshots${at('company', scope.company)}`, events: `/events${at('company', scope.company)}` };
  if ('public' in scope)
    return { snapshots: `/snapshots${at('public', scope.public)}`, events: `/events${at('public', scope.public)}` };
  return { snapshots: '/snapshots/user', events: '/events/user' };
}

/** Keeps the rows of `options.scope` current; see LiveOptions. */
export function live<R extends Row = Row>(options: LiveOptions<R>): Live<R> {
  const conditions = parseWhere(options.where); // bad filters throw here, before any request
  const pageSize = options.pageSize ?? 500;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
    throw new TypeError('pageSize must be an integer from 1 to 1000');
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const base = options.url.replace(/\/+$/, '');
  const { snapshots, events } = paths(options.scope);
  const query: [string, string][] = [];
  if (options.entities?.length) query.push(['entities', options.entities.join(',')]);
  if (options.keys?.length) query.push(['keys', options.keys.join(',')]);
  query.push(...whereParams(conditions));
  const polling =
    options.polling === false ? undefined : { afterFailures: 3, everyMs: 30_000, readyTimeoutMs: 10_000, ...options.polling };

  const collection = new LiveCollection<R>(conditions);
  const closer = new AbortController();
  const listeners = new Set<(snapshot: LiveSnapshot<R>) => void>();
  let snapshot: LiveSnapshot<R> = { items: collection.items, state: INITIAL_STATE, changes: [] };
  let needsSnapshot = true;
  let failures = 0;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let hideTimer: ReturnType<typeof setTimeout> | undefined;
  let readyTimer: ReturnType<typeof setTimeout> | undefined;
  let subscription: Subscription | undefined;
  /** Where the rows are: the stream's position (this tab streams), or the last forwarded one applied (it follows). */
  let position: string | undefined;
  let role: 'alone' | 'holder' | 'follower' = 'alone';
  let markLoaded!: () => void;
  let failLoad!: (error: Error) => void;
  const loaded = new Promise<void>((resolve, reject) => ((markLoaded = resolve), (failLoad = reject)));
  loaded.catch(() => {}); // an application that never awaits it is not told twice

  const report = (error: SubscribeError) => {
    try {
      options.onError?.(error);
    } catch {
      // the application's error handler threw: nothing left to tell
    }
  };
  /** The application's callbacks run isolated: what they throw is reported as theirs, and nothing stops. */
  const notify = (fn: () => void, what: string) => {
    try {
      fn();
    } catch (cause) {
      report(new SubscribeError('application', `the application's ${what} threw`, undefined, { cause }));
    }
  };
  const publish = (next: LiveSnapshot<R>) => {
    snapshot = next;
    for (const listener of [...listeners]) notify(() => listener(next), 'subscriber');
  };
  const emit = (changes: Change<R>[]) => {
    if (changes.length === 0) return;
    publish({ ...snapshot, items: collection.items, changes });
    notify(() => options.onChange?.(changes), 'onChange');
  };
  const transition = (input: ConnectionInput) => {
    const state = nextState(snapshot.state, input);
    if (state === snapshot.state) return;
    publish({ ...snapshot, state, changes: [] });
    notify(() => options.onState?.(state), 'onState');
    if (role === 'holder') shareState();
  };
  const shareState = () => {
    const state = shareableState(snapshot.state);
    if (state) tabs?.post({ kind: 'state', state });
  };
  const closed = () => snapshot.state.status === 'closed';
  const stopped = () => closed() || snapshot.state.status === 'paused';
  const online = () => typeof navigator === 'undefined' || navigator.onLine !== false;

  const loadPages = () =>
    readSnapshot<R>({ url: `${base}${snapshots}`, query, pageSize, token: options.token, fetch: doFetch, signal: closer.signal });

  /** Replaces the rows with snapshot `pages` at once; returns the position the stream starts from. */
  function take(pages: SnapshotPage<R>[]): string {
    const { changes, from } = collection.replace(pages);
    needsSnapshot = false;
    emit(changes);
    markLoaded();
    return from;
  }
  const reload = async () => take(await loadPages());

  function poll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, polling!.everyMs);
    reload().then(
      () => {
        transition({ type: 'poll', at: Date.now() + polling!.everyMs });
        if (role === 'holder') tabs?.post({ kind: 'reload' }); // the followers have no stream to hear it by either
      },
      () => {}, // the server does not answer either: the stream's retries say reconnecting
    );
  }
  const stopPolling = () => {
    clearTimeout(pollTimer);
    pollTimer = undefined;
  };

  function open(): void {
    const sub = subscribe({
      url: `${base}${events}${query.length ? `?${new URLSearchParams(query)}` : ''}`,
      token: options.token,
      lastEventId: position,
      backoff: options.backoff,
      fetch: doFetch,
      signal: closer.signal,
      prepare: async () => {
        transition({ type: 'connect' });
        const from = needsSnapshot ? (position = await reload()) : undefined;
        if (polling) {
          clearTimeout(readyTimer);
          readyTimer = setTimeout(() => {
            if (subscription !== sub) return;
            failed(new SubscribeError('network', `the stream was not ready within ${polling.readyTimeoutMs} ms`));
            sub.reconnect();
          }, polling.readyTimeoutMs);
        }
        return from;
      },
      onEvent: (event) => {
        const after = position;
        position = event.id;
        if (role === 'holder') tabs?.post({ kind: 'event', after, event });
        emit(collection.apply(event));
      },
      onReady: (data) => {
        const after = position;
        if (data.lastEventId !== null) position = data.lastEventId;
        if (role === 'holder' && position !== undefined) tabs?.post({ kind: 'ready', after, position });
        failures = 0;
        clearTimeout(readyTimer);
        stopPolling();
        transition({ type: 'ready' });
      },
      onReset: () => {
        // The position is too old (or capture lost changes): reload the snapshot, then stream from it.
        needsSnapshot = true;
        if (role === 'holder') tabs?.post({ kind: 'reload' });
        sub.reconnect();
      },
      onError: (error) => {
        if (error.type !== 'application') clearTimeout(readyTimer);
        failed(error);
      },
      onRetry: (delayMs) => transition({ type: 'retry', at: Date.now() + delayMs, online: online() }),
    });
    subscription = sub;
  }

  /** The stream failed (or the application's callback threw): count it; poll after too many in a row. */
  function failed(error: SubscribeError): void {
    if (error.type !== 'application') failures++;
    if (error.fatal) fail(error);
    report(error);
    if (polling && failures >= polling.afterFailures && pollTimer === undefined) poll();
  }

  /** An answer retrying will not change (401, 403, 404, 400): closed, and another tab may take the stream. */
  function fail(error: SubscribeError): void {
    transition({ type: 'fatal', error });
    failLoad(error);
    tabs?.close();
  }

  // ------------------------------------------------------------------ tabs sharing one stream (shareTab)

  const follower = new Follower<R>({
    get position() {
      return position;
    },
    set position(at) {
      position = at;
    },
    readSnapshot: loadPages,
    take,
    apply: (event) => emit(collection.apply(event)),
    transition,
    failed: (error) => {
      report(error);
      if (error.fatal) fail(error);
    },
    lost: () => (needsSnapshot = true),
    online,
    backoff: options.backoff,
    signal: closer.signal,
  });

  /** Starts (or resumes) this tab: holds what is forwarded from now, streams if no tab does, else follows. */
  function join(share: TabShare): void {
    role = 'follower';
    follower.hold();
    share.post({ kind: 'hello' });
    void share.tryLead().then((leads) => {
      if (stopped()) return leads ? share.stepDown() : undefined;
      if (leads) return lead();
      void follower.sync();
      share.queue();
    });
  }

  /** This tab got the lock: it streams from its own position (its rows reflect the log up to there). */
  function lead(): void {
    if (stopped()) return;
    follower.stop();
    role = 'holder';
    shareState();
    open();
  }

  function onTabMessage(message: TabMessage): void {
    if (stopped()) return;
    if (message.kind === 'hello' && role === 'holder') shareState();
    // The holder's own stream is the truth: a late message of the last holder is in it.
    if (role === 'follower') follower.receive(message);
  }

  function pause(): void {
    if (stopped()) return;
    position = subscription?.lastEventId ?? position;
    subscription?.close();
    subscription = undefined;
    clearTimeout(readyTimer);
    stopPolling();
    follower.stop(); // a snapshot read in progress: the rows stay where they were
    tabs?.stepDown(); // another visible tab streams; this one catches up from its position when shown
    transition({ type: 'pause' });
  }
  function resume(): void {
    if (snapshot.state.status !== 'paused') return;
    transition({ type: 'resume' });
    if (tabs) join(tabs);
    else open();
  }

  const visibility = () => {
    clearTimeout(hideTimer);
    if (document.visibilityState === 'hidden') hideTimer = setTimeout(pause, options.pauseWhenHiddenMs);
    else resume();
  };
  const back = () => subscription?.reconnect();
  const watchPage = options.pauseWhenHiddenMs !== undefined && typeof document !== 'undefined';
  if (watchPage) document.addEventListener('visibilitychange', visibility);
  if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') window.addEventListener('online', back);

  async function close(): Promise<void> {
    const sub = subscription;
    transition({ type: 'close' });
    closer.abort();
    tabs?.close();
    clearTimeout(readyTimer);
    stopPolling();
    clearTimeout(hideTimer);
    if (watchPage) document.removeEventListener('visibilitychange', visibility);
    if (typeof window !== 'undefined' && typeof window.removeEventListener === 'function')
      window.removeEventListener('online', back);
    failLoad(new Error('closed'));
    await sub?.done;
  }
  options.signal?.addEventListener('abort', () => void close(), { once: true });

  const share = options.shareTab;
  const tabs = share
    ? joinTabs(shareKey({ ...options, url: base }, typeof share === 'object' ? share.name : undefined), onTabMessage, lead)
    : undefined;
  if (tabs) join(tabs);
  else open();
  return {
    get items() {
      return collection.items;
    },
    get state() {
      return snapshot.state;
    },
    get lastEventId() {
      return subscription?.lastEventId ?? position;
    },
    loaded,
    get: (entity, key) => collection.get(entity, key),
    getSnapshot: () => snapshot,
    subscribe(listener) {
      listeners.add(listener);
      notify(() => listener(snapshot), 'subscriber');
      return () => listeners.delete(listener);
    },
    pause,
    resume,
    close,
  };
}
