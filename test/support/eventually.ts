/**
 * Resolves once `cond` holds, checking it every few milliseconds; rejects with
 * `what` after `timeoutMs`. For state that has no event to wait on (a counter
 * behind /metrics, a socket closing on the server's side).
 */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, what = 'condition' }: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
