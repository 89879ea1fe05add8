// edgecache dashboard: the URL inspector, the purge form and the CORS / recent-errors lists.
import { state, api, el, fillTable, SignedOut } from './common.js';
import { formatBytes, formatNumber } from './figures.js';

const $ = (id) => document.getElementById(id);

/** The zone serving a URL's host, as the edge routes it: exact name, longest *.suffix, then *. */
export function zoneForHost(zones, hostWithPort) {
  const host = hostWithPort.replace(/:\d+$/, '').toLowerCase();
  const exact = zones.find((z) => z.hosts.includes(host));
  if (exact) return exact.id;
  let best;
  for (const z of zones) for (const h of z.hosts) {
    if (h.startsWith('*.') && host.endsWith(h.slice(1)) && host.length > h.length - 1 && (!best || h.length > best.len)) best = { id: z.id, len: h.length };
  }
  return best?.id ?? zones.find((z) => z.hosts.includes('*'))?.id;
}

function seconds(n) {
  if (!Number.isFinite(n)) return '–';
  const s = Math.round(n);
  return Math.abs(s) >= 3600 ? `${(s / 3600).toFixed(1)}h` : Math.abs(s) >= 120 ? `${Math.round(s / 60)}m` : `${s}s`;
}

function answerText(r) {
  if (r.body?.success) return null;
  const e = r.body?.errors?.[0];
  return e ? `HTTP ${r.status}, error ${e.code}: ${e.message}` : `HTTP ${r.status}`;
}

// ---- inspector -----------------------------------------------------------------------------------------------------

async function inspect() {
  const url = $('inspect-url').value.trim();
  const origin = $('inspect-origin').value.trim();
  const zone = $('inspect-zone').value;
  const out = $('inspect-result');
  out.replaceChildren(el('p', `Inspecting ${url} in zone ${zone}…`, 'note'));
  const r = await api(`/edgecache/v1/zones/${encodeURIComponent(zone)}/inspect`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url, headers: origin ? { origin } : {} }),
  });
  const failed = answerText(r);
  if (failed) { out.replaceChildren(el('p', failed, 'failed')); return; }
  const variants = r.body.result.variants;
  const head = el('h2', `${variants.length} variant${variants.length === 1 ? '' : 's'} stored for ${url}`);
  head.id = 'inspect-heading';
  if (variants.length === 0) { out.replaceChildren(head, el('p', 'Nothing is cached for this URL in this zone (a purge removed it, or it was never requested).', 'empty')); return; }
  const owner = variants[0].cors?.owner;
  const note = el('p', owner === 'edge'
    ? `CORS fields are written by the edge (zone cors block), shown for ${origin ? `Origin ${origin}` : 'a request without Origin'}.`
    : 'CORS fields are the origin\'s, stored with each variant and sent as they are.', 'note');
  const table = el('table');
  table.id = 'inspect-table';
  table.append(el('thead'), el('tbody'));
  const hasWorker = variants.some((v) => v.worker !== undefined);
  const columns = ['Selector (key headers)', { label: 'Status', num: true }, { label: 'Age', num: true }, { label: 'TTL', num: true }, 'Tags',
    { label: 'Size', num: true }, 'Shared body', 'Access-Control-Allow-Origin', '-Allow-Credentials', 'Vary', 'CORS problems', ...(hasWorker ? ['Worker'] : [])];
  fillTable(table, columns, variants.map((v) => {
    const sel = Object.entries(v.selector);
    const selector = sel.length === 0 ? '(no key headers)' : sel.map(([k, val]) => `${k}: ${val ?? '(absent)'}`).join('; ');
    const problems = v.cors?.problems ?? [];
    let problemCell = 'none';
    if (problems.length) {
      problemCell = el('ul', undefined, 'problem-list');
      for (const p of problems) { const li = el('li'); li.append(el('strong', p.kind), ` — ${p.message}`); problemCell.append(li); }
    }
    const code = (t) => (t === null || t === undefined ? '(none)' : el('code', t));
    return {
      cls: [v.selected ? 'selected' : '', problems.length ? 'problem' : ''].join(' ').trim() || undefined,
      cells: [`${selector}${v.selected ? ' ★ selected' : ''}`, v.status, seconds(v.age), `${seconds(v.ttl)}${v.stale ? ' (stale)' : ''}`,
        v.tags.join(', ') || '–', formatBytes(v.bytes), v.sharedBody > 0 ? `yes, with ${v.sharedBody} other${v.sharedBody === 1 ? '' : 's'}` : 'no',
        code(v.cors?.acao), code(v.cors?.acac), code(v.cors?.vary), problemCell, ...(hasWorker ? [`worker-${v.worker}`] : [])],
    };
  }));
  const wrap = el('div', undefined, 'scroll');
  wrap.append(table);
  const hashed = variants.some((v) => Object.values(v.selector).some((x) => typeof x === 'string' && x.startsWith('hmac:')));
  const hashNote = hashed ? [el('p', 'hmac:… is a keyed hash of a header value the API never shows (cookies, credentials…): equal values show equal hashes. Purge a variant with the real value.', 'note')] : [];
  out.replaceChildren(head, note, ...hashNote, wrap);
}

// ---- purge ---------------------------------------------------------------------------------------------------------

const ITEM_LABELS = { files: 'URLs, one per line', tags: 'Cache tags, one per line', hosts: 'Hosts, one per line', prefixes: 'Prefixes (host/path), one per line', everything: '' };

function purgeKind() {
  return document.querySelector('input[name=purge-kind]:checked').value;
}

function onKindChange() {
  const kind = purgeKind();
  $('purge-items-label').textContent = ITEM_LABELS[kind];
  $('purge-items').hidden = $('purge-items-label').hidden = kind === 'everything';
  $('purge-headers').hidden = $('purge-headers-label').hidden = kind !== 'files';
}

/** The purge API body (Cloudflare's shape) the form describes, or an error message. */
export function purgeBody(kind, itemsText, headersText, soft) {
  const items = itemsText.split('\n').map((s) => s.trim()).filter(Boolean);
  const body = kind === 'everything' ? { purge_everything: true } : {};
  if (kind !== 'everything') {
    if (items.length === 0) return { error: 'Give at least one item.' };
    if (kind === 'files') {
      const headers = {};
      for (const line of headersText.split('\n').map((s) => s.trim()).filter(Boolean)) {
        const c = line.indexOf(':');
        if (c <= 0) return { error: `Header line "${line}" is not "Name: value".` };
        headers[line.slice(0, c).trim()] = line.slice(c + 1).trim();
      }
      body.files = Object.keys(headers).length ? items.map((url) => ({ url, headers })) : items;
    } else body[kind] = items;
  }
  if (soft) body.soft = true;
  return { body };
}

async function purge() {
  const zone = $('purge-zone').value;
  const made = purgeBody(purgeKind(), $('purge-items').value, $('purge-headers').value, $('purge-soft').checked);
  const out = $('purge-answer');
  if (made.error) { out.className = 'failed'; out.textContent = made.error; return; }
  out.className = '';
  out.textContent = 'Sending…';
  const r = await api(`/client/v4/zones/${encodeURIComponent(zone)}/purge_cache`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(made.body),
  });
  const failed = answerText(r);
  out.className = failed ? 'failed' : 'ok';
  out.textContent = `${failed ?? `Purged (HTTP ${r.status}).`}\nSent to zone ${zone}: ${JSON.stringify(made.body)}\nAnswer: ${JSON.stringify(r.body, null, 2)}`;
}

// ---- CORS diagnostics and recent errors ----------------------------------------------------------------------------

const KIND_LABELS = { 'origin-error': 'origin failure', 'origin-status': 'origin 5xx', refused: 'refused request', cors: 'CORS' };

export async function refreshProblems() {
  if (!state.session) return;
  const r = await api('/edgecache/v1/dashboard/events');
  if (r.status !== 200) return;
  const events = r.body.result.events;
  const when = (t) => new Date(t).toLocaleTimeString();
  fillTable($('cors-table'), ['Problem', 'Zone', 'URL pattern and fields', { label: 'Count', num: true }, 'Last seen'],
    events.filter((e) => e.kind === 'cors').map((e) => ({ cls: 'problem', cells: [e.code, e.zone, e.detail, formatNumber(e.count), when(e.last)] })),
    'No CORS misconfigurations seen.');
  fillTable($('errors-table'), ['Kind', 'Zone', 'Code', 'What', { label: 'Count', num: true }, 'First seen', 'Last seen'],
    events.filter((e) => e.kind !== 'cors').map((e) => ({ cells: [KIND_LABELS[e.kind] ?? e.kind, e.zone || '–', e.code, e.detail, formatNumber(e.count), when(e.first), when(e.last)] })),
    'No errors recorded.');
}

export function setupTools() {
  const submit = (id, fn) => $(id).addEventListener('submit', (e) => {
    e.preventDefault();
    void fn().catch((err) => { if (!(err instanceof SignedOut)) console.error(err); });
  });
  submit('inspect-form', inspect);
  submit('purge-form', purge);
  $('inspect-url').addEventListener('change', () => {
    if (!state.session) return;
    let host;
    try { host = new URL($('inspect-url').value.trim()).host; } catch { return; }
    const id = zoneForHost(state.session.zones, host);
    if (id) $('inspect-zone').value = id;
  });
  for (const r of document.querySelectorAll('input[name=purge-kind]')) r.addEventListener('change', onKindChange);
  onKindChange();
}
