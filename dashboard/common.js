// edgecache dashboard: shared state, the admin API call (bearer token in a header, never in a URL or cookie), DOM helpers.

export const state = { token: null, session: null, samples: [], lastT: 0, zone: '', source: '', timer: 0 };

/** Thrown by api() once a 401 has signed the page out. */
export class SignedOut extends Error {}

/** Set by app.js: what a refused token does (back to the sign-in form). */
export const hooks = { signOut: (message) => { void message; } };

/** Calls the admin API with the bearer token (never in the URL, never in a cookie). */
export async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init, cache: 'no-store', credentials: 'omit', redirect: 'error',
    headers: { ...(init.headers ?? {}), authorization: `Bearer ${state.token}` },
  });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401 && state.session) { hooks.signOut('The admin API refused the token (401): sign in again.'); throw new SignedOut(); }
  return { status: res.status, body };
}

export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

/** Fills a table's head and body from column names and rows of cells (text, or a Node). */
export function fillTable(table, columns, rows, empty = 'Nothing yet.') {
  const head = el('tr');
  for (const c of columns) { const th = el('th', c.label ?? c, c.num ? 'num' : undefined); th.scope = 'col'; head.append(th); }
  table.tHead.replaceChildren(head);
  const body = table.tBodies[0];
  if (rows.length === 0) {
    const td = el('td', empty, 'empty');
    td.colSpan = columns.length;
    body.replaceChildren(el('tr'));
    body.rows[0].append(td);
    return;
  }
  body.replaceChildren(...rows.map((r) => {
    const tr = el('tr', undefined, r.cls);
    r.cells.forEach((cell, i) => {
      const td = el('td', undefined, columns[i]?.num ? 'num' : undefined);
      if (cell instanceof Node) td.append(cell); else td.textContent = cell === null || cell === undefined ? '–' : String(cell);
      tr.append(td);
    });
    return tr;
  }));
}

