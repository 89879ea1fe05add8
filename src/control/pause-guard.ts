// Notices that this process was paused or blocked (SIGSTOP, a long GC or busy loop) and keeps its cache out of use until the purge bus caught up.
import { performance } from 'node:perf_hooks';

/** Read by the edge's lookup step (one property read per request): while true, lookups are answered as misses. */
export interface FreshnessGate {
  isSuspect: boolean;
}

export function createFreshnessGate(): FreshnessGate {
  return { isSuspect: false };
}

export interface PauseGuardOptions {
  gate: FreshnessGate;
  /** A gap between ticks longer than this means the process was paused (the bus's read may have stalled meanwhile). */
  thresholdMs: number;
  /** Resolves true once every purge Redis had when it is called is applied here; false if that could not be confirmed. */
  catchUp(): Promise<boolean>;
  /** Called when catching up could not be confirmed: drop the cache (what cannot be vouched for is not served). */
  giveUp(reason: string): Promise<void>;
  log: { warn(o: object, m: string): void; error(o: object, m: string): void };
}

const TICK_MS = 250;
/** A pause longer than this (XREAD BLOCK's time: Redis may have delivered purges the process has not read) closes the gate. */
export const PAUSE_SUSPECT_MS = 1000;
/** How long a node back from a pause waits to apply what Redis had before it drops its cache instead. */
export const PAUSE_CATCH_UP_MS = 5000;

/** A gate that is closed while any of its parts is (a worker's own pause guard, its primary's): set a part, read `gate`. */
export function combinedGate(gate: FreshnessGate, parts: number): FreshnessGate[] {
  const closed = new Array<boolean>(parts).fill(false);
  return closed.map((_, i) => ({
    get isSuspect() { return closed[i]!; },
    set isSuspect(v: boolean) { closed[i] = v; gate.isSuspect = closed.some(Boolean); },
  }));
}

/**
 * A timer-drift check: an interval notes performance.now() each tick; on resume from a pause its tick runs in the
 * timers phase, before any request queued meanwhile is read, so the gate closes before the cache can be used.
 */
export function startPauseGuard(opts: PauseGuardOptions): { stop(): void; lastCaughtUpAt(): number; pauses(): number } {
  let last = performance.now();
  let caughtUpAt = Date.now();
  let pauses = 0;
  let running: Promise<void> | null = null;
  let isAgain = false;
  const settle = async (gapMs: number): Promise<void> => {
    do {
      isAgain = false;
      let isCaughtUp = false;
      try { isCaughtUp = await opts.catchUp(); } catch { isCaughtUp = false; }
      if (!isCaughtUp) {
        opts.log.error({ pausedMs: Math.round(gapMs) }, 'cluster: after a pause, the purges Redis delivered meanwhile could not be confirmed applied; dropping the cache');
        await opts.giveUp(`paused ${Math.round(gapMs)} ms and could not catch up with the purge stream`).catch(() => {});
      }
    } while (isAgain); // paused again while catching up: the head asked for may predate that pause
    caughtUpAt = Date.now();
    opts.gate.isSuspect = false;
  };
  const timer = setInterval(() => {
    const now = performance.now();
    const gap = now - last;
    last = now;
    if (gap - TICK_MS <= opts.thresholdMs) return;
    pauses++;
    opts.gate.isSuspect = true;
    opts.log.warn({ pausedMs: Math.round(gap) }, 'cluster: this process was paused; serving lookups as misses until the purge stream is caught up');
    if (running) { isAgain = true; return; }
    running = settle(gap).finally(() => { running = null; });
  }, TICK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer), lastCaughtUpAt: () => caughtUpAt, pauses: () => pauses };
}
