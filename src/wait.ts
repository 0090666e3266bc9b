/** Resolves after `ms`, or at once when `stopping` resolves: a retry wait that stop() can cut short. The timer never keeps the process alive. */
export function waitUnlessStopped(ms: number, stopping: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([elapsed, stopping]).finally(() => clearTimeout(timer));
}
