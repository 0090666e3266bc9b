import { createHook } from 'node:async_hooks';

/**
 * Counts timers and sockets created from now on that are still alive, by
 * type. Unlike process.getActiveResourcesInfo() it sees unref'd timers too,
 * which are exactly the ones that leak quietly.
 */
export function trackHandles(types: readonly string[] = ['Timeout', 'TCPWRAP']): {
  /** Live handles created since tracking began, by type (types with none are left out). */
  live(): Record<string, number>;
  stop(): void;
} {
  const alive = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (types.includes(type)) alive.set(asyncId, type);
    },
    destroy(asyncId) {
      alive.delete(asyncId);
    },
  }).enable();
  return {
    live() {
      const counts: Record<string, number> = {};
      for (const type of alive.values()) counts[type] = (counts[type] ?? 0) + 1;
      return counts;
    },
    stop() {
      hook.disable();
    },
  };
}
