// Reloads for `edgecache serve` (SIGHUP, POST /reload): one at a time (a request during a reload gets the one queued
// after it), each logged; a refused reload is logged at error with its reason and the running config is kept.
import type { Logger } from '../observability/logger.js';

export interface Reloader {
  /** Runs a reload now, or after the one running (several requests meanwhile share that next one); rejects when refused. */
  run(reason: string): Promise<unknown>;
  /** Reloads on SIGHUP (instead of node's default for it: exit); returns a function that stops listening. */
  onSignal(): () => void;
}

/** `apply` re-reads and applies the config (throws, changing nothing, when the config is refused). */
export function createReloader(logger: Logger, apply: () => Promise<unknown>): Reloader {
  let running: Promise<unknown> | undefined;
  let queued: Promise<unknown> | undefined;
  const once = async (reason: string): Promise<unknown> => {
    logger.info({ reason }, 'reloading');
    try {
      return await apply();
    } catch (err) {
      logger.error({ reason, err: (err as Error).message }, 'config not reloaded: the running config is kept');
      throw err;
    }
  };
  const run = (reason: string): Promise<unknown> => {
    if (!running) {
      running = once(reason).finally(() => { running = undefined; });
      return running;
    }
    queued ??= running.catch(() => {}).then(() => { queued = undefined; return run(reason); });
    return queued;
  };
  return {
    run,
    onSignal() {
      const listener = (): void => { run('SIGHUP').catch(() => {}); };
      process.on('SIGHUP', listener);
      return () => process.off('SIGHUP', listener);
    },
  };
}
