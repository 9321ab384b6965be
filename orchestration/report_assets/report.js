/* Integrationsmonitor – Bericht: small vanilla-JS SVG charts and table sorting.
 * Own code, no third-party library (no licence questions, works from file:// without network).
 * Data comes from <script type="application/json" id="imon-data"> on the indicator pages.
 * Values in the data: number, null (nicht definiert, "–"), "s" (gesperrt, "·") or "n" (keine Angabe
 * der Gemeinde, "–"). Unit display (suffix, axis label, rate or count) comes with the data.
 */
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg'; // XML namespace identifier, not a network address
  var PALETTE = ['#d9822b', '#2a9d8f', '#8e44ad', '#c0392b', '#5d6d7e', '#27ae60', '#d63384',
                 '#6c5ce7', '#b8860b', '#16a085', '#e67e22', '#2c3e50'];
  var DISTRICT_COLOR = '#0b4f79';

  // German number format: 1.234,5 ; symbols for suppressed / undefined values.
  function fmt(v, dec) {
    if (v === 's') return '·';
    if (v === 'n') return '–';
    if (v === null || v === undefined || typeof v !== 'number' || isNaN(v)) return '–';
    var s = Math.abs(v).toFixed(dec);
    var parts = s.split('.');
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, '.');
    var out = parts.join(',');
    if (v < 0 && Number(s) !== 0) out = '−' + out;
    return out;
  }
  function isNum(v) { return typeof v === 'number' && !isNaN(v); }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; });
  }

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function txt(parent, x, y, s, attrs) {
    var t = el('text', Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }

  function niceTicks(lo, hi) {
    if (hi - lo < 1e-9) { var pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1; lo -= pad; hi += pad; }
    var raw = (hi - lo) / 5;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / p;
    var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    var start = Math.floor(lo / step + 1e-9) * step, end = Math.ceil(hi / step - 1e-9) * step;
    var out = [];
    for (var v = start; v <= end + step / 2; v += step) out.push(Math.round(v * 1e9) / 1e9);
    var dec = 0;  // as many decimals as the step needs: 0,5 -> 1; 0,02 -> 2
    while (dec < 4 && Math.abs(step * Math.pow(10, dec) - Math.round(step * Math.pow(10, dec))) > 1e-6) dec++;
    return { ticks: out, dec: dec };
  }

  /* Line chart: opts = {labels, long, kind, periods, series:[{name,color,width,values}], dec, suffix, axis, target} */
  function lineChart(box, opts) {
    box.innerHTML = '';
    var W = Math.max(box.clientWidth || 0, 360), H = 340;
    var m = { l: 62, r: 20, t: 24, b: 40 };
    var iw = W - m.l - m.r, ih = H - m.t - m.b;
    var n = opts.labels.length;
    var vals = [];
    opts.series.forEach(function (s) { s.values.forEach(function (v) { if (isNum(v)) vals.push(v); }); });
    if (opts.target && isNum(opts.target.value)) vals.push(opts.target.value);
    if (!vals.length || !n) {
      var p = document.createElement('p'); p.className = 'hint';
      p.textContent = 'Für die Auswahl liegen keine darstellbaren Werte vor (· gesperrt, – nicht definiert).';
      box.appendChild(p); return;
    }
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    var span = hi - lo;
    if (lo >= 0 && (opts.zeroBase || lo < 0.4 * hi)) lo = 0;
    else lo -= span * 0.08;  // a little air, so no line or target runs along the axis
    hi += span * 0.08;
    var tk = niceTicks(lo, hi);
    lo = tk.ticks[0]; hi = tk.ticks[tk.ticks.length - 1];
    var x = function (i) { return m.l + (n === 1 ? iw / 2 : i * iw / (n - 1)); };
    var y = function (v) { return m.t + ih - (v - lo) / (hi - lo) * ih; };
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img',
                          'aria-label': 'Zeitverlauf ' + (opts.title || '') });
    var grid = el('g', { 'class': 'grid' }, svg);
    tk.ticks.forEach(function (t) {
      el('line', { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t) }, grid);
      txt(svg, m.l - 8, y(t) + 4, fmt(t, tk.dec), { 'text-anchor': 'end' });
    });
    el('line', { x1: m.l, x2: W - m.r, y1: m.t + ih, y2: m.t + ih, stroke: '#9aa7b3' }, svg);
    txt(svg, m.l - 8, m.t - 12, opts.axis, { 'text-anchor': 'end', fill: '#7b8794' });
    // x labels: Januaries as years for long monthly series, otherwise thinned short labels
    var maxLabels = Math.max(2, Math.floor(iw / 64)), idx = [];
    if (opts.kind === 'monat' && n > 15) {
      opts.periods.forEach(function (p, i) { if (p.slice(5) === '01') idx.push(i); });
      var thin = Math.ceil(idx.length / maxLabels);
      idx = idx.filter(function (_, k) { return k % thin === 0; });
      idx.forEach(function (i) {
        el('line', { x1: x(i), x2: x(i), y1: m.t + ih, y2: m.t + ih + 5, stroke: '#9aa7b3' }, svg);
        txt(svg, x(i), m.t + ih + 19, opts.periods[i].slice(0, 4), { 'text-anchor': 'middle' });
      });
    } else {
      var step = Math.ceil(n / maxLabels);
      for (var i = 0; i < n; i += step) idx.push(i);
      idx.forEach(function (i) {
        el('line', { x1: x(i), x2: x(i), y1: m.t + ih, y2: m.t + ih + 5, stroke: '#9aa7b3' }, svg);
        txt(svg, x(i), m.t + ih + 19, opts.labels[i], { 'text-anchor': 'middle' });
      });
    }
    if (opts.target && isNum(opts.target.value)) {
      var ty = y(opts.target.value);
      el('line', { x1: m.l, x2: W - m.r, y1: ty, y2: ty, stroke: '#1f7a3d', 'stroke-width': 1.5,
                   'stroke-dasharray': '6 4' }, svg);
      txt(svg, W - m.r - 4, ty - 6, opts.target.label, { 'text-anchor': 'end', fill: '#1f7a3d',
                                                          'font-weight': 600, 'class': 'target-label' });
    }
    opts.series.forEach(function (s) {
      var d = '', prev = false;
      s.values.forEach(function (v, i) {
        if (isNum(v)) { d += (prev ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1); prev = true; }
        else prev = false;
      });
      if (d) el('path', { d: d, fill: 'none', stroke: s.color, 'stroke-width': s.width || 2,
                          'stroke-linejoin': 'round', 'stroke-linecap': 'round', 'data-series': s.name }, svg);
      s.values.forEach(function (v, i) {  // isolated points would be invisible as a path
        var lone = isNum(v) && !isNum(s.values[i - 1]) && !isNum(s.values[i + 1]);
        if (lone || (n <= 12 && isNum(v))) el('circle', { cx: x(i), cy: y(v), r: 3, fill: s.color }, svg);
      });
    });
    // hover: crosshair and tooltip with all selected series
    var hover = el('g', { visibility: 'hidden' }, svg);
    var vline = el('line', { y1: m.t, y2: m.t + ih, stroke: '#7b8794', 'stroke-dasharray': '3 3' }, hover);
    var dots = opts.series.map(function (s) { return el('circle', { r: 4, fill: s.color, stroke: '#fff', 'stroke-width': 1.5 }, hover); });
    var overlay = el('rect', { x: m.l, y: m.t, width: iw, height: ih, fill: 'transparent' }, svg);
    box.appendChild(svg);
    var tip = document.createElement('div'); tip.className = 'tooltip'; box.appendChild(tip);
    function show(i) {
      hover.setAttribute('visibility', 'visible');
      vline.setAttribute('x1', x(i)); vline.setAttribute('x2', x(i));
      var html = '<b>' + esc(opts.long[i]) + '</b>';
      opts.series.forEach(function (s, k) {
        var v = s.values[i];
        if (isNum(v)) { dots[k].setAttribute('cx', x(i)); dots[k].setAttribute('cy', y(v)); dots[k].setAttribute('visibility', 'visible'); }
        else dots[k].setAttribute('visibility', 'hidden');
        html += '<div><span class="sw" style="display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;background:' +
                s.color + '"></span>' + esc(s.name) + ': <b style="display:inline">' + fmt(v, opts.dec) + (isNum(v) ? opts.suffix : '') + '</b></div>';
      });
      tip.innerHTML = html; tip.style.display = 'block';
      var left = x(i) + 14;
      if (left + tip.offsetWidth > W) left = x(i) - tip.offsetWidth - 14;
      tip.style.left = Math.max(0, left) + 'px'; tip.style.top = (m.t + 4) + 'px';
    }
    overlay.addEventListener('mousemove', function (ev) {
      var r = svg.getBoundingClientRect();
      var mx = (ev.clientX - r.left) * (W / r.width);
      var i = n === 1 ? 0 : Math.round((mx - m.l) / (iw / (n - 1)));
      show(Math.max(0, Math.min(n - 1, i)));
    });
    overlay.addEventListener('mouseleave', function () { hover.setAttribute('visibility', 'hidden'); tip.style.display = 'none'; });
  }

  /* Sorted horizontal bar chart: opts = {items:[{name,v,district,color}], dec, suffix, ref, refLabel} */
  function barChart(box, opts) {
    box.innerHTML = '';
    var items = opts.items.slice();
    var rank = function (v) { return isNum(v) ? 0 : (v === 's' ? 1 : (v === 'n' ? 3 : 2)); };
    items.sort(function (a, b) {
      var ra = rank(a.v), rb = rank(b.v);
      if (ra !== rb) return ra - rb;
      if (ra === 0 && b.v !== a.v) return b.v - a.v;
      return a.name.localeCompare(b.name, 'de');
    });
    var W = Math.max(box.clientWidth || 0, 360), rowH = 21, top = 22, labelW = 190, valW = 78;
    var H = top + items.length * rowH + 6, iw = W - labelW - valW;
    var nums = items.filter(function (it) { return isNum(it.v); }).map(function (it) { return it.v; });
    if (isNum(opts.ref)) nums.push(opts.ref);
    var max = nums.length ? Math.max.apply(null, nums.concat([0])) : 1;
    if (max <= 0) max = 1;
    var sx = function (v) { return labelW + Math.max(0, v) / max * iw; };
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'Gemeindevergleich' });
    items.forEach(function (it, k) {  // stripes first, so the reference line stays visible on top
      if (k % 2 === 0) el('rect', { x: 0, y: top + k * rowH, width: W, height: rowH, fill: '#f7f9fb' }, svg);
    });
    if (isNum(opts.ref)) {
      var rx = sx(opts.ref);
      el('line', { x1: rx, x2: rx, y1: top - 4, y2: H - 4, stroke: DISTRICT_COLOR, 'stroke-width': 1.5, 'stroke-dasharray': '5 4' }, svg);
      txt(svg, rx, top - 8, opts.refLabel, { 'text-anchor': rx > W - 120 ? 'end' : 'middle', fill: DISTRICT_COLOR, 'font-weight': 600 });
    }
    items.forEach(function (it, k) {
      var yy = top + k * rowH;
      txt(svg, labelW - 8, yy + 15, it.name, { 'text-anchor': 'end', 'font-weight': it.district ? 700 : 400 });
      var label = fmt(it.v, opts.dec) + (isNum(it.v) ? opts.suffix : '');
      if (isNum(it.v)) {
        el('rect', { x: labelW, y: yy + 4, width: Math.max(1, sx(it.v) - labelW), height: rowH - 8,
                     fill: it.district ? DISTRICT_COLOR : (it.color || '#8fb3cc'), rx: 2 }, svg);
        txt(svg, sx(it.v) + 6, yy + 15, label, { 'class': 'bar-value', 'data-region': it.code,
                                                 stroke: '#fff', 'stroke-width': 3, 'paint-order': 'stroke' });
      } else {
        txt(svg, labelW + 6, yy + 15, label, { 'class': 'bar-value sym', 'data-region': it.code,
                                               'font-weight': 700, 'font-size': 15 });
        txt(svg, labelW + 22, yy + 15, it.v === 's' ? 'aus Datenschutzgründen nicht ausgewiesen'
            : (it.v === 'n' ? 'keine Angabe' : 'nicht definiert'),
            { 'class': 'bar-note', fill: '#7b8794' });
      }
    });
    box.appendChild(svg);
  }

  /* Sortable tables: th[data-sort=num|text]; numeric cells carry data-v; rows .district stay on top. */
  function initSorting() {
    Array.prototype.forEach.call(document.querySelectorAll('table.data'), function (table) {
      var ths = table.querySelectorAll('thead th[data-sort]');
      Array.prototype.forEach.call(ths, function (th) {
        th.addEventListener('click', function () {
          var col = Number(th.getAttribute('data-col'));
          var type = th.getAttribute('data-sort');
          var asc = th.getAttribute('data-dir') !== 'asc';
          Array.prototype.forEach.call(ths, function (o) { o.removeAttribute('data-dir'); });
          th.setAttribute('data-dir', asc ? 'asc' : 'desc');
          var tb = table.tBodies[0];
          var rows = Array.prototype.slice.call(tb.rows);
          var pinned = rows.filter(function (r) { return r.classList.contains('district'); });
          var rest = rows.filter(function (r) { return !r.classList.contains('district'); });
          var key = function (r) {
            var c = r.cells[col]; if (!c) return null;
            if (type === 'num') { var v = c.getAttribute('data-v'); return v === null || v === '' ? null : Number(v); }
            return c.textContent.trim();
          };
          rest.sort(function (a, b) {
            var ka = key(a), kb = key(b);
            if (ka === null && kb === null) return 0;
            if (ka === null) return 1;
            if (kb === null) return -1;
            var c = type === 'num' ? ka - kb : String(ka).localeCompare(String(kb), 'de');
            return asc ? c : -c;
          });
          pinned.concat(rest).forEach(function (r) { tb.appendChild(r); });
        });
      });
    });
  }

  function initIndicatorPage(D) {
    var state = { group: D.groups[0][0], selected: [] };
    var districtBox = document.getElementById('cb-' + D.district);
    var groupSel = document.getElementById('group-select');
    var lineBox = document.getElementById('chart-line');
    var barBox = document.getElementById('chart-bar');
    var legend = document.getElementById('chart-legend');
    var names = {};
    D.regions.forEach(function (r) { names[r[0]] = r[1]; });
    var suffix = D.suffix;

    function colorOf(code) {
      if (code === D.district) return DISTRICT_COLOR;
      var k = state.selected.indexOf(code);
      return k < 0 ? null : PALETTE[k % PALETTE.length];
    }
    function targetFor(group) {
      var t = (D.targets || {})[group];
      if (!t) return null;
      return { value: t.value, label: 'Ziel ' + t.year + ': ' + (t.direction === 'hoch' ? '≥ ' : '≤ ') +
               fmt(t.value, D.dec) + suffix + (t.example ? ' (Beispiel)' : '') };
    }
    function draw() {
      var ser = D.series[state.group] || {};
      var codes = [];
      if (!districtBox || districtBox.checked) codes.push(D.district);
      state.selected.forEach(function (c) { codes.push(c); });
      var series = codes.filter(function (c) { return ser[c]; }).map(function (c) {
        return { name: names[c], color: colorOf(c), width: c === D.district ? 3 : 2, values: ser[c] };
      });
      lineChart(lineBox, { labels: D.pshort, long: D.plabels, periods: D.periods, kind: D.kind, series: series,
                           dec: D.dec, suffix: suffix, axis: D.axis, target: targetFor(state.group),
                           title: D.name, zeroBase: !D.rate });
      legend.innerHTML = '';
      series.forEach(function (s) {
        var span = document.createElement('span');
        span.innerHTML = '<span class="sw" style="background:' + s.color + ';height:' + (s.width + 1) + 'px"></span>';
        span.appendChild(document.createTextNode(s.name));
        legend.appendChild(span);
      });
      var last = D.periods.length - 1;
      // counts: the district is the sum of the bars, not one of them; rates: a bar and the reference line
      var items = D.regions.filter(function (r) { return ser[r[0]] && (D.rate || r[0] !== D.district); })
        .map(function (r) { return { code: r[0], name: r[1], v: ser[r[0]][last], district: r[0] === D.district, color: colorOf(r[0]) }; });
      var ref = ser[D.district] ? ser[D.district][last] : null;
      barChart(barBox, { items: items, dec: D.dec, suffix: suffix,
                         ref: D.rate ? ref : null,
                         refLabel: 'Kreiswert ' + fmt(ref, D.dec) + suffix });
      var note = document.getElementById('bar-note');
      if (note) note.textContent = !D.rate
        ? 'Landkreis insgesamt: ' + fmt(ref, D.dec) + '. Balken: Gemeinden, absteigend sortiert.'
        : 'Balken absteigend sortiert; gestrichelte Linie = Wert des Landkreises.';
      Array.prototype.forEach.call(document.querySelectorAll('.grp-section'), function (s) {
        s.hidden = s.getAttribute('data-group') !== state.group;
      });
    }
    if (groupSel) groupSel.addEventListener('change', function () { state.group = groupSel.value; draw(); });
    Array.prototype.forEach.call(document.querySelectorAll('#regionpicker input[type=checkbox]'), function (cb) {
      cb.addEventListener('change', function () {
        if (cb.value !== D.district) {
          var k = state.selected.indexOf(cb.value);
          if (cb.checked && k < 0) state.selected.push(cb.value);
          if (!cb.checked && k >= 0) state.selected.splice(k, 1);
        }
        draw();
      });
      if (cb.checked && cb.value !== D.district) state.selected.push(cb.value);
    });
    var reset = document.getElementById('reset-regions');
    if (reset) reset.addEventListener('click', function () {
      Array.prototype.forEach.call(document.querySelectorAll('#regionpicker input[type=checkbox]'), function (cb) {
        cb.checked = cb.value === D.district;
      });
      state.selected = []; draw();
    });
    var filter = document.getElementById('region-filter');
    if (filter) filter.addEventListener('input', function () {
      var q = filter.value.trim().toLowerCase();
      Array.prototype.forEach.call(document.querySelectorAll('#regionpicker label'), function (l) {
        l.hidden = q !== '' && l.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
    var timer = null;
    window.addEventListener('resize', function () { clearTimeout(timer); timer = setTimeout(draw, 150); });
    draw();
  }

  function init() {
    initSorting();
    var node = document.getElementById('imon-data');
    if (node) initIndicatorPage(JSON.parse(node.textContent));
    window.__reportReady = true;
    document.documentElement.setAttribute('data-ready', '1');
  }
  window.imonFormat = fmt;
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
