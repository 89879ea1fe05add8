// Active health checks of one origin (Varnish probes, Caddy active health checks): a GET every intervalMs, up after
// `healthyAfter` passes in a row, down after `unhealthyAfter` failures in a row. Timers are unref'd and stop on close.

export interface HealthCheckConfig {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  unhealthyAfter: number;
  healthyAfter: number;
}

/** What a check asks: true when the origin answered 2xx/3xx in time (OriginClient.probe). */
export type Probe = () => Promise<boolean>;

export class HealthCheck {
  #up = true;
  #passes = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #probe: Probe;
  readonly #cfg: HealthCheckConfig;
  readonly #onChange: (up: boolean) => void;

  /** Starts up (as Varnish does with `.initial` at the threshold) and checks at once, then every intervalMs. */
  constructor(cfg: HealthCheckConfig, probe: Probe, onChange: (up: boolean) => void) {
    this.#cfg = cfg;
    this.#probe = probe;
    this.#onChange = onChange;
    this.#schedule(0);
  }

  get up(): boolean { return this.#up; }

  /** Records one check's result; returns whether the state changed. Exposed for the checks' own timer (and tests). */
  record(ok: boolean): boolean {
    if (ok) { this.#passes++; this.#failures = 0; } else { this.#failures++; this.#passes = 0; }
    const next = this.#up ? this.#failures < this.#cfg.unhealthyAfter : this.#passes >= this.#cfg.healthyAfter;
    if (next === this.#up) return false;
    this.#up = next;
    this.#onChange(next);
    return true;
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    // One check at a time: the next is scheduled when this one ends (a slow origin never stacks checks).
    this.#timer = setTimeout(() => {
      void this.#probe().then((ok) => { if (!this.#closed) { this.record(ok); this.#schedule(this.#cfg.intervalMs); } });
    }, ms);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}
