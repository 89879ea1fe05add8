// edgecache dashboard: sign-in, tabs, polling the history, and the overview (tiles, charts, per-source and per-zone tables).
import { drawChart } from './chart.js';
import {
  STATUSES, count, gauge, perSecond, keysFor, read, totals, requestHitRatio, byteHitRatio, requestKey, servedBytes,
  formatBytes, formatNumber, formatPercent,
} from './figures.js';
import { setupTools, refreshProblems } from './tools.js';
import { state, api, el, fillTable, hooks, SignedOut } from './common.js';

const TOKEN_KEY = 'edgecache.adminToken';
const $ = (id) => document.getElementById(id);

// ---- sign-in ---------------------------------------------------------------------------------------------------

async function signIn(token, fromStorage) {
  state.token = token;
  let r;
  try {
    r = await api('/edgecache/v1/dashboard/session');
  } catch (err) {
    if (!(err instanceof SignedOut)) $('signin-error').textContent = `Cannot reach the admin API: ${err.message}`;
    return;
  }
  if (r.status !== 200 || !r.body?.success) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('signin-error').textContent = r.status === 401
      ? (fromStorage ? 'The saved token is no longer accepted. Sign in again.' : 'Token refused: this is not a valid admin token.')
      : `Sign-in failed (HTTP ${r.status}).`;
    $('token').focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.session = r.body.result;
  $('signin-error').textContent = '';
  $('token').value = '';
  $('signin').hidden = true;
  $('app').hidden = false;
  $('controls').hidden = false;
  setupSession();
  await poll();
  state.timer = setInterval(poll, Math.max(1000, state.session.intervalMs));
  $('tab-overview').focus();
}

function signOut(message = '') {
  clearInterval(state.timer);
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(state, { token: null, session: null, samples: [], lastT: 0 });
  $('app').hidden = true;
  $('controls').hidden = true;
  $('signin').hidden = false;
  $('node').textContent = '';
  $('signin-error').textContent = message;
  $('token').focus();
}

function setupSession() {
  const s = state.session;
  const zf = $('zone-filter');
  zf.replaceChildren(...(s.allZones ? [new Option('All zones', '')] : []), ...s.zones.map((z) => new Option(`Zone ${z.id}`, z.id)));
  state.zone = zf.value;
  for (const id of ['inspect-zone', 'purge-zone']) $(id).replaceChildren(...s.zones.map((z) => new Option(z.id, z.id)));
  const node = s.node ?? {};
  const sf = $('source-filter');
  const sources = node.sources ?? [];
  sf.replaceChildren(new Option(node.mode === 'workers' ? 'All workers' : 'This process', ''), ...(node.mode === 'workers' ? sources.map((id) => new Option(id, id)) : []));
  sf.parentElement.hidden = node.mode !== 'workers';
  state.source = '';
  const note = $('scope-note');
  note.hidden = s.allZones;
  note.textContent = s.allZones ? '' : `This token may use zone${s.zones.length === 1 ? '' : 's'} ${s.zones.map((z) => z.id).join(', ') || '(none)'}: only figures counted per zone are shown.`;
  fillTable($('scope-table'), ['Zone', 'Hosts', 'CORS', 'Key headers'], s.zones.map((z) => ({
    cells: [z.id, z.hosts.join(', '), z.cors === 'edge' ? 'edge-owned (zone cors block)' : 'origin-owned', z.keyHeaders.join(', ') || '(none)'],
  })), 'This token may not touch any zone.');
}

function describeNode() {
  const n = state.session?.node ?? {};
  if (!n.host) { $('node').textContent = `zone-scoped token · sampling every ${state.session.intervalMs / 1000}s`; return; }
  const parts = [`node ${n.host} (pid ${n.pid})`];
  if (n.mode === 'workers') parts.push(`${n.workers?.length ?? 0} workers: ${(n.workers ?? []).map((w) => `${w.source} pid ${w.pid}`).join(', ')}`);
  else parts.push('single process');
  if (n.cluster && typeof n.cluster === 'object') parts.push(`cluster ${n.cluster.connected ? 'connected' : 'DISCONNECTED'} (figures are this node's)`);
  parts.push(`${n.store ?? 'memory'} store`, `sampling every ${state.session.intervalMs / 1000}s`);
  $('node').textContent = parts.join(' · ');
}

// ---- polling and the overview ------------------------------------------------------------------------------------

async function poll() {
  if (!state.session) return;
  try {
    const r = await api(`/edgecache/v1/dashboard/history?since=${state.lastT}`);
    if (r.status !== 200) return;
    const fresh = r.body.result.samples;
    if (fresh.length) {
      state.samples.push(...fresh);
      state.lastT = fresh[fresh.length - 1].t;
      const keep = state.session.keepSamples ?? 720;
      if (state.samples.length > keep) state.samples.splice(0, state.samples.length - keep);
    }
    if (state.session.node?.mode === 'workers' && (state.samples.length % 6 === 1)) {
      const s = await api('/edgecache/v1/dashboard/session');
      if (s.status === 200) state.session.node = s.body.result.node;
    }
    describeNode();
    renderOverview();
    if (!$('problems').hidden) await refreshProblems();
  } catch (err) {
    if (!(err instanceof SignedOut)) $('node').textContent = `Admin API unreachable: ${err.message}`;
  }
}

function tile(label, value, sub) {
  const d = el('div', undefined, 'tile');
  d.append(el('div', label, 'label'), el('div', value, 'value'), el('div', sub ?? '', 'sub'));
  d.dataset.label = label;
  return d;
}

function renderOverview() {
  const all = state.samples;
  const { zone, source } = state;
  const last = all[all.length - 1];
  const now = last ? totals([last], source, zone) : undefined;
  const hour = totals(all, source, zone);
  const perS = (n) => (now && now.ms ? n / (now.ms / 1000) : null);
  const zoned = zone !== '';
  const NZ = 'not counted per zone';
  // A zone's store: its objects, variants and body bytes (once per variant: a body shared by variants counts for each).
  const g = (name) => (zoned ? `zone:${zone}:${name === 'store_bytes' ? 'body_bytes' : name}` : name);
  const objects = last ? gauge(last, source, g('objects')) : null;
  $('tiles').replaceChildren(
    tile('Requests/s', formatNumber(perS(now?.requests ?? 0)), `${formatNumber(hour.requests)} in the last hour`),
    tile('Hit ratio (requests)', formatPercent(now && requestHitRatio(now)), `hour: ${formatPercent(requestHitRatio(hour))}`),
    tile('Hit ratio (bytes)', formatPercent(now && byteHitRatio(now)), `hour: ${formatPercent(byteHitRatio(hour))}${zoned ? ' (bodies)' : ''}`),
    tile('Served/s', formatBytes(perS(now?.served ?? 0)), `${formatBytes(hour.served)} in the last hour${zoned ? ' (bodies)' : ''}`),
    tile('Fetched/s', formatBytes(perS(now?.fetched ?? 0)), `${formatBytes(hour.fetched)} from origins in the hour`),
    tile('Origin fetches/s', formatNumber(perS(now?.fetches ?? 0)), `${formatNumber(hour.fetches)} in the last hour`),
    tile('Origin errors', formatNumber(hour.errors), `last hour; now ${formatNumber(perS(now?.errors ?? 0))}/s`),
    tile('Objects', formatNumber(objects), `${formatNumber(last ? gauge(last, source, g('variants')) : null)} variants`),
    tile('Stored bytes', formatBytes(last ? gauge(last, source, g('store_bytes')) : null), zoned ? 'bodies, once per variant' : `${formatNumber(last ? gauge(last, source, 'bodies') : null)} distinct bod${last && gauge(last, source, 'bodies') === 1 ? 'y' : 'ies'}`),
    tile('Evictions', formatNumber(hour.evictions), 'last hour'),
    tile('Purges', formatNumber(hour.purges), `last hour; ${formatNumber(hour.purgedVariants)} variants`),
    tile('Refused requests', zoned ? '–' : formatNumber(hour.refused), zoned ? NZ : 'last hour (bad framing, limits)'),
  );

  const times = all.map((s) => s.t);
  const k = keysFor(zone);
  const rate = (fn) => all.map((s) => perSecond(s, fn(s)));
  const used = STATUSES.filter((st) => hour.byStatus[st] > 0);
  drawChart($('chart-requests'), times, (used.length ? used : ['HIT', 'MISS']).map((st) => ({
    label: st, colour: STATUSES.indexOf(st), values: rate((s) => count(s, source, requestKey(zone, st))),
  })), { format: formatNumber });
  drawChart($('chart-ratio'), times, [
    { label: 'requests', colour: 0, values: all.map((s) => { const t = totals([s], source, zone); const r = requestHitRatio(t); return r === null ? null : r * 100; }) },
    { label: 'bytes', colour: 5, values: all.map((s) => { const t = totals([s], source, zone); const r = byteHitRatio(t); return r === null ? null : r * 100; }) },
  ], { format: (v) => `${Math.round(v)}%`, max: 100, note: zoned ? 'Bytes of a zone: bodies from its cache and from its origins' : undefined });
  drawChart($('chart-bytes'), times, [
    { label: 'served', colour: 5, values: rate((s) => servedBytes(s, source, zone)) },
    { label: 'fetched', colour: 1, values: rate((s) => read(s, source, k.fetchedBytes)) },
  ], { format: (v) => `${formatBytes(v)}/s` });
  drawChart($('chart-origin'), times, [
    { label: 'fetches', colour: 5, values: rate((s) => read(s, source, k.fetches)) },
    { label: 'errors', colour: 8, values: rate((s) => read(s, source, k.errors)) },
  ], { format: formatNumber });
  drawChart($('chart-store'), times, [
    { label: 'objects', colour: 4, values: all.map((s) => gauge(s, source, g('objects'))) },
    { label: 'variants', colour: 3, values: all.map((s) => gauge(s, source, g('variants'))) },
  ], { format: formatNumber });
  drawChart($('chart-storebytes'), times, [
    { label: 'stored bytes', colour: 7, values: all.map((s) => gauge(s, source, g('store_bytes'))) },
  ], { format: formatBytes, note: zoned ? 'A zone\'s bodies, once per variant' : undefined });
  $('chart-storebytes').querySelector('.legend').append(
    el('li', `evictions (hour): ${formatNumber(hour.evictions)}`), el('li', `purged variants (hour): ${formatNumber(hour.purgedVariants)}`));

  renderSources(all);
  renderZones(all);
}

function renderSources(all) {
  const recent = all.slice(-12); // about a minute
  const ids = [...new Set(recent.flatMap((s) => Object.keys(s.sources)))].sort();
  const workers = new Map((state.session.node?.workers ?? []).map((w) => [w.source, w.pid]));
  const last = all[all.length - 1];
  const row = (id, label) => {
    const t = totals(recent, id, '');
    const secs = t.ms / 1000 || 1;
    return { cells: [label, workers.get(id) ?? (id === 'local' ? state.session.node?.pid : ''), formatNumber(t.requests / secs), formatPercent(requestHitRatio(t)),
      `${formatBytes(t.served / secs)}/s`, `${formatBytes(t.fetched / secs)}/s`, formatNumber(t.fetches / secs),
      formatNumber(last ? gauge(last, id, 'objects') : null), formatNumber(last ? gauge(last, id, 'variants') : null), formatBytes(last ? gauge(last, id, 'store_bytes') : null)] };
  };
  const rows = state.session.allZones ? ids.map((id) => row(id, id)) : [];
  if (rows.length > 1) rows.push({ ...row('', 'total'), cls: 'total' });
  fillTable($('sources-table'), ['Source', { label: 'pid', num: true }, { label: 'req/s', num: true }, { label: 'hit ratio', num: true },
    { label: 'served', num: true }, { label: 'fetched', num: true }, { label: 'fetches/s', num: true }, { label: 'objects', num: true },
    { label: 'variants', num: true }, { label: 'stored', num: true }], rows, state.session.allZones ? 'Collecting samples…' : 'Per-process figures need an all-zones token.');
}

function renderZones(all) {
  fillTable($('zones-table'), ['Zone', 'Hosts', 'CORS', { label: 'origin fetches (hour)', num: true }, { label: 'origin errors (hour)', num: true },
    { label: 'fetched (hour)', num: true }, { label: 'purges (hour)', num: true }, { label: 'purged variants', num: true }],
  state.session.zones.map((z) => {
    const t = totals(all, state.source, z.id);
    return { cells: [z.id, z.hosts.join(', '), z.cors, formatNumber(t.fetches), formatNumber(t.errors), formatBytes(t.fetched), formatNumber(t.purges), formatNumber(t.purgedVariants)] };
  }));
}

// ---- tabs ----------------------------------------------------------------------------------------------------------

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (tab.id === 'tab-overview') renderOverview();
    if (tab.id === 'tab-problems') void refreshProblems().catch(() => {});
  };
  for (const t of tabs) {
    t.addEventListener('click', () => select(t));
    t.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(t);
      const to = e.key === 'ArrowRight' ? tabs[(i + 1) % tabs.length] : e.key === 'ArrowLeft' ? tabs[(i - 1 + tabs.length) % tabs.length]
        : e.key === 'Home' ? tabs[0] : e.key === 'End' ? tabs[tabs.length - 1] : undefined;
      if (to) { e.preventDefault(); to.focus(); select(to); }
    });
  }
}

document.addEventListener('DOMContentLoaded', () => {
  hooks.signOut = signOut;
  setupTabs();
  setupTools();
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (token) void signIn(token, false);
  });
  $('signout').addEventListener('click', () => signOut('Signed out.'));
  $('zone-filter').addEventListener('change', (e) => { state.zone = e.target.value; renderOverview(); });
  $('source-filter').addEventListener('change', (e) => { state.source = e.target.value; renderOverview(); });
  window.addEventListener('resize', () => { if (state.session) renderOverview(); });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) void signIn(saved, true); else $('token').focus();
});
