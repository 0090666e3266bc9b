import { createHook } from 'node:async_hooks';

/**
 * Tracks timers and sockets created from now on that are still alive. Unlike
 * process.getActiveResourcesInfo() it sees unref'd timers too, which are
 * exactly the ones that leak quietly. `from` keeps only handles whose
 * creation stack matches it (the code under test, not jest's own timers).
 */
export function trackHandles(
  from: RegExp,
  types: readonly string[] = ['Timeout', 'TCPWRAP'],
): {
  /** Live handles created since tracking began, by type (types with none are left out). */
  live(): Record<string, number>;
  /** Where each live one was created (type and stack), to say what leaked. */
  origins(): string[];
  stop(): void;
} {
  const alive = new Map<number, { type: string; stack: string }>();
  const hook = createHook({
    init(asyncId, type) {
      if (!types.includes(type)) return;
      const stack = new Error().stack?.split('\n').slice(2, 16).join('\n') ?? '';
      if (from.test(stack)) alive.set(asyncId, { type, stack });
    },
    destroy(asyncId) {
      alive.delete(asyncId);
    },
  }).enable();
  return {
    live() {
      const counts: Record<string, number> = {};
      for (const { type } of alive.values()) counts[type] = (counts[type] ?? 0) + 1;
      return counts;
    },
    origins() {
      return [...alive.values()].map(({ type, stack }) => `${type}\n${stack}`);
    },
    stop() {
      hook.disable();
    },
  };
}
