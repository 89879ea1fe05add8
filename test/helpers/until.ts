// Waiting in tests for something that happens asynchronously, bounded in time.

/** Resolves once `check` holds, polling every 50 ms; throws naming `what` when it has not within `ms`. */
export async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
