// The admin listener's Host check: only an IP literal, localhost or a name in admin.hosts may name it (DNS rebinding).
//
// A page on attacker.example whose name is re-pointed at 127.0.0.1 talks to the admin listener as a same-origin
// server: it could read /healthz and /metrics, or load the dashboard under its own origin and phish a token. Its
// requests carry `Host: attacker.example`, which names no IP address, no localhost and no configured name, so every
// admin route refuses them (421) before doing anything. Browsers always send Host; a request without one (HTTP/1.0)
// cannot come from a page and is let through. See https://www.rfc-editor.org/rfc/rfc9110#section-7.2 (Host) and
// https://www.rfc-editor.org/rfc/rfc9110#section-15.5.20 (421 Misdirected Request).
import { isIP } from 'node:net';

/** Whether the admin API may answer a request carrying this Host field. */
export type HostCheck = (host: string | undefined) => boolean;

/** The host part of a Host field value (no port, no brackets), lowercased; undefined when it is not host[:port]. */
export function hostOfField(value: string): string | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]*))(?::\d*)?$/i.exec(value.trim());
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? '').toLowerCase();
}

/** True for the names that always reach the admin API: IPv4 and IPv6 literals and `localhost`. */
export function isAlwaysAllowedHost(host: string): boolean {
  return host === 'localhost' || isIP(host) !== 0;
}

/** Compiles admin.hosts (default none: IP literals and localhost only) into a check run on every admin request. */
export function createHostCheck(names: readonly string[] = []): HostCheck {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const n of names) {
    const name = n.toLowerCase();
    if (name.startsWith('*.')) suffixes.push(name.slice(1)); else exact.add(name);
  }
  return (field) => {
    if (field === undefined) return true;
    const host = hostOfField(field);
    if (host === undefined || host === '') return false;
    if (isAlwaysAllowedHost(host) || exact.has(host)) return true;
    return suffixes.some((s) => host.endsWith(s) && host.length > s.length);
  };
}
