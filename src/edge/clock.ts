// The edge's clock: what "now" is for freshness, ages and stale windows, injected so tests can move time on.

/** Milliseconds since the epoch, as Date.now() gives them. */
export interface Clock {
  now(): number;
}

/** The real clock (the default). */
export const systemClock: Clock = Object.freeze({ now: Date.now });

/** A clock that starts at `start` (default: the real time now) and moves only when told: tests advance it instead of sleeping. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.now()) { this.#now = start; }
  now(): number { return this.#now; }
  /** Moves time on by `ms` (never back). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a clock only moves forward (got ${ms} ms)`);
    this.#now += ms;
  }
}
