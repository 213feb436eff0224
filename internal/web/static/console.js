// tandem's console script: draws the charts and sparklines from the JSON
// API and refreshes the live parts of a page in place. No library and
// nothing from outside the broker: everything here is served by the
// binary itself. Without it the pages still show the latest figures.
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const REFRESH_MS = 2000;

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (r.status === 401) { location.reload(); throw new Error('logged out'); }
    if (!r.ok) throw new Error(url + ': ' + r.status);
    return r.json();
  }

  // scale returns the step of the y axis's grid (1, 2, 2.5 or 5 times a power
  // of ten, at least a quarter of the maximum) and its top (whole steps).
  function scale(v, floor) {
    v = Math.max(v, floor);
    const want = v / 4, p = Math.pow(10, Math.floor(Math.log10(want)));
    let step = 10 * p;
    for (const m of [1, 2, 2.5, 5]) if (m * p >= want) { step = m * p; break; }
    return { step, top: Math.max(step, Math.ceil(v / step - 1e-9) * step) };
  }

  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + 'M';
    if (v >= 1e4) return (v / 1e3).toFixed(v >= 1e5 ? 0 : 1) + 'k';
    if (v >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return String(Number(v.toFixed(v < 10 ? 2 : 1)));
  }

  function clock(ms, seconds) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return p(d.getHours()) + ':' + p(d.getMinutes()) + (seconds ? ':' + p(d.getSeconds()) : '');
  }

  const last = (a) => { for (let i = a.length - 1; i >= 0; i--) if (a[i] !== null) return a[i]; return null; };

  // Chart draws one figure.chart: kind "rates" (in and out per second)
  // or "depth" (messages waiting), from its data-src.
  class Chart {
    constructor(fig) {
      this.fig = fig;
      this.kind = fig.dataset.kind;
      this.src = fig.dataset.src;
      this.plot = fig.querySelector('.plot');
      this.data = null;
      this.hover = -1;
      this.plot.textContent = '';
      this.svg = el('svg', { role: 'img', 'aria-label': fig.querySelector('figcaption').textContent }, this.plot);
      this.empty = document.createElement('div');
      this.empty.className = 'empty';
      this.plot.appendChild(this.empty);
      this.legend = document.createElement('div');
      this.legend.className = 'legend';
      fig.appendChild(this.legend);
      this.svg.addEventListener('mousemove', (e) => this.onMove(e));
      this.svg.addEventListener('mouseleave', () => { this.hover = -1; this.drawLegend(); this.drawCursor(); });
      window.addEventListener('resize', () => this.draw());
    }

    series() {
      const d = this.data;
      return this.kind === 'depth'
        ? [{ name: 'depth', label: 'Waiting', values: d.depth, unit: '' }]
        : [{ name: 'in', label: 'In', values: d.in, unit: '/s' }, { name: 'out', label: 'Out', values: d.out, unit: '/s' }];
    }

    async refresh() {
      try {
        this.data = await getJSON(this.src);
      } catch (e) {
        this.empty.textContent = 'No data: ' + e.message;
        return;
      }
      this.draw();
    }

    draw() {
      const d = this.data;
      if (!d) return;
      const svg = this.svg;
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      const W = Math.max(this.plot.clientWidth, 200), H = this.plot.clientHeight || 190;
      svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
      const m = { l: 44, r: 8, t: 8, b: 22 };
      const w = W - m.l - m.r, h = H - m.t - m.b;
      const t = d.times;
      const series = this.series();
      let max = 0, points = 0;
      for (const s of series) for (const v of s.values) if (v !== null) { max = Math.max(max, v); points++; }
      this.fig.dataset.points = String(points);
      this.fig.dataset.max = String(max);
      for (const s of series) this.fig.dataset['last' + s.name[0].toUpperCase() + s.name.slice(1)] = String(last(s.values));
      if (t.length === 0 || points === 0) {
        this.empty.textContent = t.length === 0 ? 'Collecting the first samples…' : 'This node was not serving in this period.';
      } else {
        this.empty.textContent = '';
      }
      const step = (d.intervalSeconds || 2) * 1000;
      // The time axis spans the samples (15 minutes once the node has run
      // that long), and at least 20 seconds.
      const t1 = t.length ? t[t.length - 1] : Date.now();
      const t0 = Math.min(t.length ? t[0] : t1, t1 - 20000);
      const sc = scale(max, this.kind === 'depth' ? 4 : 1), ymax = sc.top;
      const x = (ms) => m.l + ((ms - t0) / (t1 - t0)) * w;
      const y = (v) => m.t + h - (v / ymax) * h;
      this.geom = { x, y, m, w, h, t0, t1, W, H };

      for (let v = 0; v <= ymax + sc.step / 2; v += sc.step) {
        const yy = y(v);
        el('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: yy, y2: yy }, svg);
        el('text', { class: 'axis', x: m.l - 6, y: yy + 4, 'text-anchor': 'end' }, svg).textContent = fmt(v);
      }
      const span = t1 - t0, ticks = Math.max(2, Math.min(6, Math.floor(w / 90)));
      for (let i = 0; i <= ticks; i++) {
        const ms = t0 + (span * i) / ticks;
        el('text', { class: 'axis', x: x(ms), y: H - 5, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' }, svg)
          .textContent = clock(ms, span < 5 * 60000);
      }

      for (const s of series) {
        // A run of samples is broken where the node did not serve (null)
        // or where samples are missing (more than two intervals apart).
        const runs = [];
        let run = [];
        for (let i = 0; i < t.length; i++) {
          const v = s.values[i];
          if (v === null || (run.length && t[i] - t[i - 1] > 2.5 * step)) {
            if (run.length) runs.push(run);
            run = [];
          }
          if (v !== null) run.push([x(t[i]), y(v)]);
        }
        if (run.length) runs.push(run);
        for (const r of runs) {
          const line = r.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ',' + p[1].toFixed(1)).join('');
          if (s.name !== 'out') {
            const base = y(0).toFixed(1);
            el('path', { class: 'fill-' + s.name, d: line + `L${r[r.length - 1][0].toFixed(1)},${base}L${r[0][0].toFixed(1)},${base}Z` }, svg);
          }
          if (r.length === 1) {
            el('circle', { class: 'series series-' + s.name, cx: r[0][0], cy: r[0][1], r: 2 }, svg);
          } else {
            el('path', { class: 'series series-' + s.name, d: line }, svg);
          }
        }
      }
      this.cursor = el('line', { class: 'cursor', x1: 0, x2: 0, y1: m.t, y2: m.t + h, visibility: 'hidden' }, svg);
      this.drawCursor();
      this.drawLegend();
    }

    onMove(e) {
      if (!this.data || !this.geom || !this.data.times.length) return;
      const r = this.svg.getBoundingClientRect();
      const px = ((e.clientX - r.left) / r.width) * this.geom.W;
      const t = this.data.times;
      let best = 0;
      for (let i = 1; i < t.length; i++) if (Math.abs(this.geom.x(t[i]) - px) < Math.abs(this.geom.x(t[best]) - px)) best = i;
      this.hover = best;
      this.drawCursor();
      this.drawLegend();
    }

    drawCursor() {
      if (!this.cursor) return;
      if (this.hover < 0 || !this.data || this.hover >= this.data.times.length) {
        this.cursor.setAttribute('visibility', 'hidden');
        return;
      }
      const xx = this.geom.x(this.data.times[this.hover]);
      this.cursor.setAttribute('x1', xx);
      this.cursor.setAttribute('x2', xx);
      this.cursor.setAttribute('visibility', 'visible');
    }

    drawLegend() {
      if (!this.data) return;
      const at = this.hover >= 0 ? this.hover : -1;
      const parts = this.series().map((s) => {
        const v = at >= 0 ? s.values[at] : last(s.values);
        return `<span><span class="key key-${s.name}"></span>${s.label} <b>${fmt(v)}</b>${s.unit}</span>`;
      });
      const when = at >= 0 ? clock(this.data.times[at], true) : 'now';
      this.legend.innerHTML = parts.join('') + `<span class="muted">${when}</span>`;
    }
  }

  // Sparklines: every svg.spark[data-queue] shows that queue's recent
  // depths.
  async function sparklines() {
    const svgs = document.querySelectorAll('svg.spark[data-queue]');
    if (!svgs.length) return;
    let d;
    try { d = await getJSON('/api/history?view=sparklines'); } catch (e) { return; }
    for (const s of svgs) {
      const v = d.queues[s.dataset.queue] || [];
      while (s.firstChild) s.removeChild(s.firstChild);
      const vals = v.map((x) => (x === null ? 0 : x));
      s.dataset.points = String(vals.length);
      if (vals.length < 2) continue;
      const max = Math.max(1, ...vals) * 1.15; // headroom: a steady depth is not a full bar
      const pts = vals.map((x, i) => [(i / (vals.length - 1)) * 120, 23 - (x / max) * 21]);
      const line = pts.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ',' + p[1].toFixed(1)).join('');
      el('path', { class: 'area', d: line + 'L120,24L0,24Z' }, s);
      el('path', { class: 'line', d: line }, s);
      s.setAttribute('aria-label', 'depth from ' + vals[0] + ' to ' + vals[vals.length - 1]);
    }
  }

  // Fragments: an element with data-fragment=NAME is re-rendered by the
  // server (the same page with ?fragment=NAME) and swapped in place.
  async function fragments() {
    for (const old of document.querySelectorAll('[data-fragment]')) {
      const u = new URL(location.href);
      u.searchParams.delete('flash');
      u.searchParams.set('fragment', old.dataset.fragment);
      try {
        const r = await fetch(u, { credentials: 'same-origin' });
        if (!r.ok) continue;
        const html = await r.text();
        const box = document.createElement(old.tagName === 'TBODY' ? 'table' : 'div');
        box.innerHTML = html;
        const fresh = box.querySelector('[data-fragment="' + old.dataset.fragment + '"]');
        // Compared with what the server sent last time, not with the DOM,
        // which the script has drawn into (sparklines): an unchanged part
        // stays as it is, without a flicker.
        if (fresh && html !== old.tandemHTML) {
          fresh.tandemHTML = html;
          if (old.tandemHTML !== undefined || fresh.innerHTML !== old.innerHTML) old.replaceWith(fresh);
          else old.tandemHTML = html;
        }
      } catch (e) { /* the next round tries again */ }
    }
  }

  // The role badge follows the node; a change of role reloads the page,
  // whose content depends on it.
  async function role() {
    const badge = document.getElementById('role');
    if (!badge) return;
    try {
      const n = await getJSON('/api/node');
      if (n.role !== badge.textContent.trim()) location.reload();
    } catch (e) { /* not logged in, or the node is going away */ }
  }

  const charts = [...document.querySelectorAll('figure.chart[data-src]')].map((f) => new Chart(f));
  let busy = false;
  async function tick() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      await Promise.all([...charts.map((c) => c.refresh()), fragments().then(sparklines), role()]);
    } finally {
      busy = false;
    }
  }
  if (document.querySelector('header nav')) {
    tick();
    setInterval(tick, REFRESH_MS);
    document.addEventListener('visibilitychange', tick);
  }
})();
