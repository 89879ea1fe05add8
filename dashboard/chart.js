// edgecache dashboard: a small canvas line chart (no library). Colours match the .c0–.c8 classes of style.css.
export const PALETTE = ['#1a7f37', '#d1661d', '#b08800', '#8250df', '#0f8a8a', '#0b5cad', '#6e7781', '#3d4650', '#cf222e'];

function clock(t) {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}`;
}

/**
 * Draws `series` ({label, colour index, values}) over `times` (ms) into the figure's canvas and legend.
 * `format` turns a y value into text; `note` replaces the chart with a message (e.g. "not counted per zone").
 */
export function drawChart(figure, times, series, { format = String, note, max } = {}) {
  const canvas = figure.querySelector('canvas');
  const legend = figure.querySelector('.legend');
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(200, canvas.clientWidth);
  const h = Math.max(100, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  figure.dataset.samples = String(times.length);

  legend.replaceChildren(...series.map((s) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `sw c${s.colour}`;
    const latest = s.values[s.values.length - 1];
    li.append(sw, `${s.label}: ${latest === null || latest === undefined ? '–' : format(latest)}`);
    return li;
  }));

  let top = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > top) top = v;
  if (max !== undefined) top = max;
  const message = note ?? (times.length < 2 ? 'Collecting samples…' : undefined);
  if (message) {
    g.fillStyle = '#57606a';
    g.textAlign = 'center';
    g.fillText(message, w / 2, h / 2);
    canvas.setAttribute('aria-label', `${figure.querySelector('figcaption').textContent}: ${message}`);
    return;
  }
  if (top <= 0) top = 1;
  const left = 62, right = 8, topPad = 8, bottom = 18;
  const pw = w - left - right, ph = h - topPad - bottom;
  const t0 = times[0], t1 = times[times.length - 1];
  const x = (t) => left + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * pw);
  const y = (v) => topPad + ph - (v / top) * ph;

  g.strokeStyle = '#d0d7de';
  g.fillStyle = '#57606a';
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (const f of [0, 0.5, 1]) {
    const yy = Math.round(y(top * f)) + 0.5;
    g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
    g.fillText(format(top * f), left - 4, yy);
  }
  g.textBaseline = 'top';
  g.textAlign = 'left';
  g.fillText(clock(t0), left, h - bottom + 4);
  g.textAlign = 'right';
  g.fillText(clock(t1), w - right, h - bottom + 4);

  g.lineWidth = 1.75;
  for (const s of series) {
    g.strokeStyle = PALETTE[s.colour % PALETTE.length];
    g.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      if (pen) g.lineTo(x(times[i]), y(v)); else g.moveTo(x(times[i]), y(v));
      pen = true;
    });
    g.stroke();
  }
  const summary = series.map((s) => { const v = s.values[s.values.length - 1]; return `${s.label} ${v === null || v === undefined ? 'none' : format(v)}`; }).join(', ');
  canvas.setAttribute('aria-label', `${figure.querySelector('figcaption').textContent}, latest: ${summary}`);
}
