// SIGHUP for `edgecache serve`: the parts that can reload without a restart join as hooks; each runs in turn, one
// reload at a time (a SIGHUP during a reload runs another after it), and a failing hook is logged, never fatal.
import type { Logger } from '../observability/logger.js';

export type ReloadHook = () => Promise<unknown> | unknown;

export interface Reloader {
  /** Joins a part: `hook` runs on every reload, after the ones added before it. */
  add(name: string, hook: ReloadHook): void;
  /** Runs every hook once (a reload already running is followed by one more). */
  run(reason: string): Promise<void>;
  /** Reloads on SIGHUP (instead of node's default for it: exit); returns a function that stops listening. */
  onSignal(): () => void;
}

export function createReloader(logger: Logger): Reloader {
  const hooks: { name: string; hook: ReloadHook }[] = [];
  let running: Promise<void> | undefined;
  let again = false;
  const runAll = async (reason: string): Promise<void> => {
    logger.info({ reason }, 'reloading');
    for (const { name, hook } of hooks) {
      try {
        await hook();
      } catch (err) {
        logger.error({ part: name, err: (err as Error).message }, 'reload failed for this part; it keeps running as it was');
      }
    }
  };
  const run = (reason: string): Promise<void> => {
    if (running) { again = true; return running; }
    running = (async () => {
      do { again = false; await runAll(reason); } while (again);
    })().finally(() => { running = undefined; });
    return running;
  };
  return {
    add(name, hook) { hooks.push({ name, hook }); },
    run,
    onSignal() {
      const listener = (): void => { void run('SIGHUP'); };
      process.on('SIGHUP', listener);
      return () => process.off('SIGHUP', listener);
    },
  };
}
