// The dashboard's memory of the last hour: a fixed-size ring of samples, each the counter deltas and gauge values
// of every figure source (this process, or each worker) over one sampling interval. No external database.

/** What one source (a process) reports: cumulative counters (they only grow, or restart at 0) and gauges. */
export interface Figures {
  counters: Record<string, number>;
  gauges: Record<string, number>;
}

/** One source's share of a sample: counter deltas since the previous sample (zeros left out) and gauge values. */
export interface SourceSample {
  c: Record<string, number>;
  g: Record<string, number>;
}

export interface Sample {
  /** ms since the epoch when it was taken. */
  t: number;
  /** ms the counter deltas cover. */
  dt: number;
  /** By source id ("local", "worker-0", …). */
  sources: Record<string, SourceSample>;
}

/** A fixed-capacity ring: pushing past capacity drops the oldest item. */
export class RingBuffer<T> {
  readonly #items: (T | undefined)[];
  #start = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number { return this.#size; }

  push(item: T): void {
    const end = (this.#start + this.#size) % this.capacity;
    this.#items[end] = item;
    if (this.#size < this.capacity) this.#size++;
    else this.#start = (this.#start + 1) % this.capacity;
  }

  /** Oldest first. */
  toArray(): T[] {
    const out = new Array<T>(this.#size);
    for (let i = 0; i < this.#size; i++) out[i] = this.#items[(this.#start + i) % this.capacity]!;
    return out;
  }

  last(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[(this.#start + this.#size - 1) % this.capacity];
  }
}

/**
 * Counter deltas between two readings of one source. A counter that went down restarted (a worker replaced by a
 * new process): its whole new value is the delta, never a negative number.
 */
export function counterDeltas(prev: Record<string, number> | undefined, cur: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k in cur) {
    const now = cur[k]!;
    const before = prev?.[k] ?? 0;
    const d = now >= before ? now - before : now;
    if (d !== 0) out[k] = d;
  }
  return out;
}

export interface HistoryOptions {
  /** Reads every source's cumulative figures (one process: one source; a primary: one per worker). */
  read(): Promise<Record<string, Figures>>;
  /** Sampling interval (default 5 s). */
  intervalMs?: number;
  /** How long samples are kept (default one hour); capacity = keepMs / intervalMs. */
  keepMs?: number;
  now?: () => number;
  /** Told when a reading fails (the sample is skipped). */
  onError?(err: unknown): void;
}

export interface History {
  readonly intervalMs: number;
  readonly capacity: number;
  /** Samples taken after `since` (ms since the epoch), oldest first. */
  samples(since?: number): Sample[];
  /** Takes a sample now (the timer calls this; tests call it directly). */
  sample(): Promise<Sample | undefined>;
  /** Starts the timer (unref'd: it never keeps the process alive). */
  start(): void;
  stop(): void;
}

export const DEFAULT_HISTORY_INTERVAL_MS = 5_000;
export const DEFAULT_HISTORY_KEEP_MS = 60 * 60 * 1000;

export function createHistory(opts: HistoryOptions): History {
  const intervalMs = opts.intervalMs ?? DEFAULT_HISTORY_INTERVAL_MS;
  const capacity = Math.max(1, Math.ceil((opts.keepMs ?? DEFAULT_HISTORY_KEEP_MS) / intervalMs));
  const now = opts.now ?? Date.now;
  const ring = new RingBuffer<Sample>(capacity);
  let previous: Record<string, Record<string, number>> = {};
  let previousAt = now();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<Sample | undefined> | undefined;

  const take = async (): Promise<Sample | undefined> => {
    let read: Record<string, Figures>;
    try { read = await opts.read(); } catch (err) { opts.onError?.(err); return undefined; }
    const t = now();
    const sources: Record<string, SourceSample> = {};
    const next: Record<string, Record<string, number>> = {};
    for (const [id, f] of Object.entries(read)) {
      sources[id] = { c: counterDeltas(previous[id], f.counters), g: { ...f.gauges } };
      next[id] = f.counters;
    }
    const s: Sample = { t, dt: Math.max(1, t - previousAt), sources };
    previous = next;
    previousAt = t;
    ring.push(s);
    return s;
  };

  return {
    intervalMs,
    capacity,
    samples(since = -Infinity) {
      const all = ring.toArray();
      let i = 0;
      while (i < all.length && all[i]!.t <= since) i++;
      return i === 0 ? all : all.slice(i);
    },
    sample() {
      // One reading at a time: a slow one (workers answering late) is not overtaken by the next tick.
      running ??= take().finally(() => { running = undefined; });
      return running;
    },
    start() {
      if (timer) return;
      // A first sample at once (it covers start-up until now), so a dashboard opened right away has a point.
      void this.sample();
      timer = setInterval(() => { void this.sample(); }, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
