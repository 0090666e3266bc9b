/**
 * pgfeed/react: live collections in React components. `react` is an optional peer dependency: only an
 * application that imports this entry needs it.
 */
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { INITIAL_STATE } from './connection';
import { type Live, type LiveOptions, type LiveSnapshot, live } from './live';

type Row = Record<string, unknown>;

const EMPTY: LiveSnapshot = { items: [], state: INITIAL_STATE, changes: [] };

/**
 * The rows of a live collection, its connection state and its last changes, re-rendered as they change.
 * It reconnects when what it reads changes (url, scope, entities, keys, where, pageSize) or whom it shares
 * with (shareTab); the callbacks and a token function are read at call time, so a new one on each render does
 * not reconnect.
 */
export function useLive<R extends Row = Row>(options: LiveOptions<R>): LiveSnapshot<R> {
  const latest = useRef(options);
  latest.current = options;
  const [snapshot, setSnapshot] = useState<LiveSnapshot<R>>(EMPTY as LiveSnapshot<R>);
  const { url, scope, entities, keys, where, pageSize, shareTab } = options;
  const identity = JSON.stringify([url, scope, entities, keys, where, pageSize, shareTab]);
  useEffect(() => {
    const collection = live<R>({
      ...latest.current,
      token: async () => {
        const token = latest.current.token;
        return (typeof token === 'function' ? await token() : token) ?? '';
      },
      onChange: (changes) => latest.current.onChange?.(changes),
      onState: (state) => latest.current.onState?.(state),
      onError: (error) => latest.current.onError?.(error),
    });
    const unsubscribe = collection.subscribe(setSnapshot);
    return () => {
      unsubscribe();
      void collection.close();
    };
  }, [identity]);
  return snapshot;
}

/** A `live()` collection made elsewhere (shared by components, or kept across routes), read with useSyncExternalStore. */
export function useLiveStore<R extends Row = Row>(collection: Live<R>): LiveSnapshot<R> {
  return useSyncExternalStore(collection.subscribe, collection.getSnapshot, collection.getSnapshot);
}
