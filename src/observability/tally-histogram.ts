// A histogram the request path feeds with plain array increments (one Timings per label set, made once), read into
// Prometheus's histogram exposition (cumulative _bucket{le}, _sum, _count) at scrape time; summed over --workers.
import type { Metric, MetricObjectWithValues, MetricValueWithName } from 'prom-client';

/** Bucket bounds in seconds: 100 µs (a hit) to 30 s (a slow origin). */
export const SECONDS_BUCKETS: readonly number[] = Object.freeze([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

/** One label set's observations: counts per bucket (not cumulative; the last is +Inf), their sum and count. */
export class Timings {
  readonly buckets = new Float64Array(SECONDS_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < SECONDS_BUCKETS.length && seconds > SECONDS_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

export class TallyHistogram {
  readonly #sets: { labels: Record<string, string>; timings: Timings }[] = [];

  constructor(readonly name: string, readonly help: string) {}

  /** The Timings of one label set (call once per label set, at config time). */
  timings(labels: Record<string, string>): Timings {
    const timings = new Timings();
    this.#sets.push({ labels, timings });
    return timings;
  }

  values(): MetricValueWithName<string>[] {
    const out: MetricValueWithName<string>[] = [];
    for (const { labels, timings } of this.#sets) {
      let cumulative = 0;
      for (let i = 0; i <= SECONDS_BUCKETS.length; i++) {
        cumulative += timings.buckets[i]!;
        out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: i < SECONDS_BUCKETS.length ? SECONDS_BUCKETS[i]! : '+Inf' }, value: cumulative });
      }
      out.push({ metricName: `${this.name}_sum`, labels, value: timings.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: timings.count });
    }
    return out;
  }

  /** The object a prom-client Registry takes (registerMetric): read at scrape time, summed by --workers aggregation. */
  metric(): Metric<string> {
    const get = async (): Promise<MetricObjectWithValues<MetricValueWithName<string>>> => ({
      name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values: this.values(),
    }) as unknown as MetricObjectWithValues<MetricValueWithName<string>>;
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', get, reset: () => {} } as unknown as Metric<string>;
  }
}
