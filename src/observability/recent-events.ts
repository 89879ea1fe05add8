// Recent problems for the dashboard (origin failures, refused requests, CORS misconfigurations), grouped with counts.

export type EventKind = 'origin-error' | 'origin-status' | 'refused' | 'cors';

export interface EventGroup {
  kind: EventKind;
  /** The zone it happened in, or "" when no zone applies (a refused request never reached one). */
  zone: string;
  /** A short machine code: ORIGIN_TIMEOUT, HTTP 503, 431, reflected-without-vary… */
  code: string;
  /** What it happened to (a URL pattern) and anything else worth showing. */
  detail: string;
  count: number;
  first: number;
  last: number;
}

export interface RecentEvents {
  record(kind: EventKind, zone: string, code: string, detail: string): void;
  /** Most recent first. */
  list(): EventGroup[];
}

const MAX_DETAIL = 300;

/** Keeps at most `max` groups; the group seen least recently is dropped first. */
export function createRecentEvents(max = 200, now: () => number = Date.now): RecentEvents {
  const groups = new Map<string, EventGroup>();
  return {
    record(kind, zone, code, detail) {
      const d = detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL)}…` : detail;
      const key = `${kind}\u0000${zone}\u0000${code}\u0000${d}`;
      const t = now();
      const g = groups.get(key);
      if (g) {
        g.count++;
        g.last = t;
        groups.delete(key); // to the young end
        groups.set(key, g);
        return;
      }
      if (groups.size >= max) groups.delete(groups.keys().next().value!);
      groups.set(key, { kind, zone, code, detail: d, count: 1, first: t, last: t });
    },
    list() {
      return [...groups.values()].reverse().map((g) => ({ ...g }));
    },
  };
}

/** Merges the lists of several processes (workers): same group → counts added, first/last widened. */
export function mergeEventGroups(lists: readonly (readonly EventGroup[])[]): EventGroup[] {
  const out = new Map<string, EventGroup>();
  for (const list of lists) {
    for (const g of list) {
      const key = `${g.kind}\u0000${g.zone}\u0000${g.code}\u0000${g.detail}`;
      const have = out.get(key);
      if (!have) { out.set(key, { ...g }); continue; }
      have.count += g.count;
      have.first = Math.min(have.first, g.first);
      have.last = Math.max(have.last, g.last);
    }
  }
  return [...out.values()].sort((a, b) => b.last - a.last);
}
