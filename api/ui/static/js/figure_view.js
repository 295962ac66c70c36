// Draws the figures of plots.js with Chart.js: one canvas per panel, one HTML legend per figure.
//
// A figure is {data, layout} in plotly.js's figure vocabulary (the subset plots.js writes: scatter traces in
// lines and/or markers, panels named by their axes and placed by their domains, log axes, shared y axes,
// error bars, a band filled to the previous trace, reference lines, panel titles). Chart.js draws it
// because of the cold load: its 200 KB run in ~30 ms, where plotly.js's full bundle held the page's one
// thread for ~1.1 s before anything could be drawn (docs/architecture.md, "The sweep page").
// The drawn figure stays on the element as `el.figure`, for readers and the browser tests.

import { isNum, showState } from "./format.js";

const FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif";
const INK = "#1d2330";
const GRID = "#eceef3";
const AXIS_LINE = "#c9ced8";
const DASHES = { dash: [6, 4], dot: [2, 3], dashdot: [6, 3, 2, 3], solid: [] };

function chartJs() {
  const Chart = window.Chart;
  if (!Chart) throw new Error("Chart.js could not be loaded from /ui/vendor/chart.min.js");
  if (!Chart.mutransferDefaults) {
    Chart.defaults.animation = false;  // polls redraw every few seconds: tweening would only cost time
    Chart.defaults.font.family = FONT;
    Chart.defaults.font.size = 12;
    Chart.defaults.color = INK;
    Chart.mutransferDefaults = true;
  }
  return Chart;
}

// text ---------------------------------------------------------------------------------------------------

const SUB = { 0: "₀", 1: "₁", 2: "₂", 3: "₃", 4: "₄", 5: "₅", 6: "₆", 7: "₇", 8: "₈", 9: "₉" };

/** Plain text of a plotly label: `<sub>2</sub>` as a subscript digit, `<br>` as a space, no other tags. */
function plainText(html) {
  return String(html ?? "")
    .replace(/<sub>(\d+)<\/sub>/g, (_, d) => [...d].map((c) => SUB[c]).join(""))
    .replace(/<sup>([^<]*)<\/sup>/g, "^$1")
    .replace(/<br\s*\/?>/g, " ")
    .replace(/<[^>]+>/g, "");
}

const SI = { "-12": "p", "-9": "n", "-6": "µ", "-3": "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P" };

/** A number in a d3-format spec as plotly's templates write them: `.3g`, `.4f`, `.3s`, `~s`, or none. */
function formatNumber(v, spec = "") {
  if (!isNum(v)) return String(v ?? "");
  const m = /^(~)?(?:\.(\d+))?([fgsd])?$/.exec(spec) || [];
  const digits = m[2] === undefined ? null : Number(m[2]);
  const kind = m[3];
  if (kind === "f") return v.toFixed(digits ?? 6);
  if (kind === "d") return String(Math.round(v));
  if (kind === "g") {
    const p = v.toPrecision(Math.max(digits ?? 6, 1));
    return m[1] ? String(Number(p)) : p;
  }
  if (kind === "s") {
    if (v === 0) return "0";
    const e = Math.max(-12, Math.min(15, 3 * Math.floor(Math.log10(Math.abs(v)) / 3)));
    const mant = (v / 10 ** e).toPrecision(digits ?? 3);
    return `${m[1] ? String(Number(mant)) : mant}${SI[e]}`;
  }
  return String(Number(v.toPrecision(6)));
}

/** A trace's hover text for point i from its `hovertemplate` (`%{x}`, `%{y:.4f}`, `%{customdata:.3g}`,
 * `%{text}`; `<extra>` as the tooltip's title), or its name and coordinates when it has none. */
function hoverLines(trace, i) {
  const at = (key) => {
    const v = trace[key];
    return Array.isArray(v) ? v[i] : v;
  };
  if (!trace.hovertemplate) {
    return { title: "", lines: [`${plainText(trace.name || "")} (${formatNumber(at("x"))}, ${formatNumber(at("y"))})`] };
  }
  let extra = "";
  const body = trace.hovertemplate.replace(/<extra>(.*?)<\/extra>/, (_, e) => { extra = e; return ""; })
    .replace(/%\{(\w+)(?::([^}]*))?\}/g, (_, key, spec) => {
      const v = at(key);
      return isNum(v) ? formatNumber(v, spec) : plainText(v ?? "");
    });
  return { title: plainText(extra), lines: body.split(/<br\s*\/?>/).map(plainText).filter((l) => l) };
}

// panels -------------------------------------------------------------------------------------------------

const axisKey = (id) => (id.length > 1 ? `${id[0]}axis${id.slice(1)}` : `${id}axis`);

/** The figure's panels in reading order, each with its axes, traces, shapes, title and grid cell. */
function panelsOf({ data, layout }) {
  const panels = new Map();
  const panel = (xa, ya) => {
    const key = `${xa}|${ya}`;
    if (!panels.has(key)) {
      panels.set(key, { xa, ya, x: layout[axisKey(xa)] || {}, y: layout[axisKey(ya)] || {}, traces: [], shapes: [],
        title: "" });
    }
    return panels.get(key);
  };
  // every x axis the layout declares is a panel, with or without traces yet (as plotly draws it)
  for (const key of Object.keys(layout).filter((k) => /^xaxis\d*$/.test(k)).sort()) {
    panel(`x${key.slice(5)}`, layout[key].anchor || "y");
  }
  data.forEach((trace, index) => panel(trace.xaxis || "x", trace.yaxis || "y").traces.push({ trace, index }));
  if (!panels.size) panel("x", "y");
  const list = [...panels.values()];
  const starts = (dom) => Math.round(1000 * (dom?.[0] ?? 0));
  const cols = [...new Set(list.map((p) => starts(p.x.domain)))].sort((a, b) => a - b);
  const rows = [...new Set(list.map((p) => starts(p.y.domain)))].sort((a, b) => b - a);  // top row first
  for (const p of list) {
    p.col = cols.indexOf(starts(p.x.domain));
    p.row = rows.indexOf(starts(p.y.domain));
  }
  list.sort((a, b) => a.row - b.row || a.col - b.col);
  for (const s of layout.shapes || []) {
    const target = list.find((p) => s.yref === p.ya || s.xref === p.xa || s.xref === `${p.xa} domain`);
    if (target) target.shapes.push(s);
  }
  for (const a of layout.annotations || []) {
    const inColumn = list.filter((p) => {
      const [lo, hi] = p.x.domain || [0, 1];
      return a.x >= lo - 1e-9 && a.x <= hi + 1e-9;
    });
    const top = inColumn.sort((p, q) => p.row - q.row)[0];
    if (top) top.title = plainText(a.text);
  }
  if (layout.title?.text && list[0]) list[0].title = plainText(layout.title.text);
  return { list, cols: Math.max(cols.length, 1), rows: Math.max(rows.length, 1) };
}

// traces → datasets --------------------------------------------------------------------------------------

const starImages = new Map();

/** A filled five-pointed star with an outline (Chart.js's own `star` is four crossed strokes). */
function starImage(color, size, outline) {
  const key = `${color}|${size}|${outline}`;
  if (!starImages.has(key)) {
    const px = Math.ceil(size + 2);
    const canvas = document.createElement("canvas");
    canvas.width = px;
    canvas.height = px;
    const ctx = canvas.getContext("2d");
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = (k % 2 ? 0.42 : 1) * (size / 2);
      const a = -Math.PI / 2 + (k * Math.PI) / 5;
      ctx.lineTo(px / 2 + r * Math.cos(a), px / 2 + r * Math.sin(a));
    }
    ctx.closePath();
    ctx.fillStyle = color;
    ctx.fill();
    ctx.lineWidth = 1;
    ctx.strokeStyle = outline;
    ctx.stroke();
    starImages.set(key, canvas);
  }
  return starImages.get(key);
}

const SYMBOLS = { circle: "circle", diamond: "rectRot", square: "rect", "x-thin-open": "crossRot", x: "crossRot" };

const perPoint = (v, i) => (Array.isArray(v) ? v[i] : v);

/** The error bar of point i from an `error_x`/`error_y` spec: [low, high] on that axis, or null. */
function errorOf(spec, value, i) {
  if (!spec || !isNum(value)) return null;
  const up = perPoint(spec.array, i);
  const down = spec.symmetric === false ? perPoint(spec.arrayminus, i) : up;
  if (!isNum(up) && !isNum(down)) return null;
  return [value - (isNum(down) ? down : 0), value + (isNum(up) ? up : 0)];
}

/** One Chart.js dataset for a trace; points that cannot sit on the panel's axes (missing, or ≤ 0 on a log
 * axis) are left out, and every per-point attribute follows the points kept. */
function datasetOf(trace, index, xLog, yLog, hidden) {
  const mode = trace.mode || "lines+markers";
  const line = trace.line || {};
  const marker = trace.marker || {};
  const mline = marker.line || {};
  const ok = (v, log) => isNum(v) && (!log || v > 0);
  const keep = (trace.x || []).map((x, i) => i).filter((i) => ok(trace.x[i], xLog)
    && (ok(trace.y?.[i], yLog) || (trace.y?.[i] == null && mode.includes("lines"))));
  const color = (i) => perPoint(marker.color, i) ?? line.color ?? INK;
  const size = (i) => perPoint(marker.size, i) ?? 6;
  const symbol = marker.symbol || "circle";
  const markers = mode.includes("markers");
  const lineWidth = mode.includes("lines") ? line.width ?? 2 : 0;
  const pointStyle = (i) => (symbol === "star" ? starImage(color(i), size(i), mline.color || INK) : SYMBOLS[symbol] || "circle");
  const crossed = SYMBOLS[symbol] === "crossRot";
  return {
    label: plainText(trace.name || ""),
    data: keep.map((i) => ({ x: trace.x[i], y: isNum(trace.y?.[i]) ? trace.y[i] : null })),
    showLine: mode.includes("lines"),
    spanGaps: false,
    borderColor: line.color || (typeof marker.color === "string" ? marker.color : INK),
    borderWidth: lineWidth,
    borderDash: DASHES[line.dash] || [],
    backgroundColor: trace.fillcolor || (typeof marker.color === "string" ? marker.color : INK),
    fill: trace.fill === "tonexty" ? "-1" : false,
    pointRadius: markers ? keep.map((i) => size(i) / 2) : 0,
    pointHoverRadius: markers ? keep.map((i) => size(i) / 2 + 2) : 3,
    pointHitRadius: 4,
    pointStyle: keep.map(pointStyle),
    pointBackgroundColor: keep.map(color),
    pointBorderColor: keep.map((i) => (crossed ? color(i) : mline.color || color(i))),
    pointBorderWidth: crossed ? mline.width ?? 2 : mline.width ?? 0,
    order: -index,  // plotly draws later traces on top; Chart.js draws the lowest `order` last
    hidden,
    traceIndex: index,
    // read by the plugin and the tooltip below
    errors: { x: keep.map((i) => errorOf(trace.error_x, trace.x[i], i)), y: keep.map((i) => errorOf(trace.error_y, trace.y?.[i], i)) },
    errorStyle: { x: trace.error_x, y: trace.error_y },
    hover: trace.hoverinfo === "skip" ? null : keep.map((i) => hoverLines(trace, i)),
  };
}

// axes ---------------------------------------------------------------------------------------------------

/** Every value a set of traces puts on one axis (error bars and reference lines included). */
function extent(traces, letter, log, shapes = []) {
  const values = [];
  for (const { trace } of traces) {
    (trace[letter] || []).forEach((v, i) => {
      if (!isNum(v)) return;
      values.push(v);
      const err = errorOf(trace[`error_${letter}`], v, i);
      if (err) values.push(...err);
    });
  }
  for (const s of shapes) if (letter === "y" && s.y0 === s.y1) values.push(s.y0);
  const finite = values.filter((v) => isNum(v) && (!log || v > 0));
  return finite.length ? [Math.min(...finite), Math.max(...finite)] : null;
}

/** Bounds with a 5 % margin (in log space on a log axis), so markers at the edges are drawn whole. */
function padded([lo, hi], log) {
  if (log) {
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const pad = 0.05 * Math.max(b - a, 0.1);
    return [10 ** (a - pad), 10 ** (b + pad)];
  }
  const pad = 0.05 * Math.max(hi - lo, Math.abs(hi) * 0.02, 1e-9);
  return [lo - pad, hi + pad];
}

const axisTitle = (ax) => plainText(ax.title?.text ?? ax.title ?? "");

const powersOf2 = (lo, hi) => {
  const out = [];
  for (let e = Math.ceil(Math.log2(lo) - 1e-9); 2 ** e <= hi * (1 + 1e-9); e++) out.push(2 ** e);
  return out;
};

/** A Chart.js scale for a plotly axis: type, title, pinned or padded bounds, and the tick spacing the
 * figure asked for (`dtick` 1 on a linear axis, powers of 2 for `dtick: log10(2)`, 1-2-5 otherwise). */
function scaleOf(ax, bounds) {
  const log = ax.type === "log";
  const title = axisTitle(ax);
  const range = Array.isArray(ax.range) ? (log ? ax.range.map((r) => 10 ** r) : ax.range) : null;
  const [min, max] = range || (bounds ? padded(bounds, log) : [undefined, undefined]);
  const twos = log && isNum(ax.dtick) && Math.abs(ax.dtick - Math.log10(2)) < 1e-9;
  const fmt = ax.tickformat === "d" ? "d" : ax.tickformat === "~s" ? "~.3s" : "";
  return {
    type: log ? "logarithmic" : "linear",
    min,
    max,
    title: { display: Boolean(title), text: title, padding: 2 },
    grid: { color: GRID, tickColor: AXIS_LINE, drawBorder: true, borderColor: AXIS_LINE },
    ticks: {
      includeBounds: false,
      maxRotation: 0,
      autoSkipPadding: 8,
      ...(!log && isNum(ax.dtick) ? { stepSize: ax.dtick } : {}),
      ...(log || fmt ? { callback: (v, _i, ticks) => (!log || twos || labelled(v, ticks) ? formatNumber(v, fmt || logFormat(v)) : "") } : {}),
    },
    ...(twos ? { afterBuildTicks: (scale) => { scale.ticks = powersOf2(scale.min, scale.max).map((value) => ({ value })); } } : {}),
  };
}

/** Which ticks of a log axis carry a label: 1, 2 and 5 per decade, or every tick on an axis spanning less
 * than a decade (which would otherwise show one label or none). */
function labelled(v, ticks) {
  const span = Math.log10(ticks[ticks.length - 1].value / ticks[0].value);
  const mant = v / 10 ** Math.floor(Math.log10(v) + 1e-9);
  const digits = span < 1 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 2, 5];  // never the axis's unrounded ends
  return digits.some((m) => Math.abs(mant - m) < 1e-6);
}

/** Large values on a log axis with SI prefixes (100k, 1M), as plotly labels them; small ones as numbers. */
const logFormat = (v) => (Math.abs(v) >= 1e4 ? "~.3s" : "~.3g");

// error bars and reference lines -------------------------------------------------------------------------

/** Draws what Chart.js has no element for: error bars (plotly's `error_x`/`error_y`) and a panel's shapes
 * (horizontal or vertical reference lines). */
const extras = {
  id: "figureExtras",
  afterDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea: area, scales } = chart;
    ctx.save();
    chart.data.datasets.forEach((ds, di) => {
      if (!chart.isDatasetVisible(di)) return;
      for (const letter of ["x", "y"]) {
        const style = ds.errorStyle?.[letter];
        if (!style) continue;
        ctx.strokeStyle = style.color || ds.borderColor;
        ctx.lineWidth = style.thickness ?? 1.5;
        const cap = style.width ?? 4;
        ds.data.forEach((pt, i) => {
          const err = ds.errors[letter][i];
          if (!err || !isNum(pt.y)) return;
          const px = scales.x.getPixelForValue(pt.x);
          const py = scales.y.getPixelForValue(pt.y);
          const [a, b] = err.map((v) => scales[letter].getPixelForValue(v));
          ctx.beginPath();
          if (letter === "y") {
            ctx.moveTo(px, a); ctx.lineTo(px, b);
            ctx.moveTo(px - cap, a); ctx.lineTo(px + cap, a);
            ctx.moveTo(px - cap, b); ctx.lineTo(px + cap, b);
          } else {
            ctx.moveTo(a, py); ctx.lineTo(b, py);
            ctx.moveTo(a, py - cap); ctx.lineTo(a, py + cap);
            ctx.moveTo(b, py - cap); ctx.lineTo(b, py + cap);
          }
          ctx.stroke();
        });
      }
    });
    for (const s of options.shapes || []) {
      ctx.strokeStyle = s.line?.color || INK;
      ctx.lineWidth = s.line?.width ?? 1;
      ctx.setLineDash(DASHES[s.line?.dash] || []);
      ctx.beginPath();
      if (s.y0 === s.y1) {
        const y = scales.y.getPixelForValue(s.y0);
        ctx.moveTo(area.left, y); ctx.lineTo(area.right, y);
      } else if (s.x0 === s.x1) {
        const x = scales.x.getPixelForValue(s.x0);
        ctx.moveTo(x, area.top); ctx.lineTo(x, area.bottom);
      }
      ctx.stroke();
    }
    ctx.restore();
  },
};

// the figure ---------------------------------------------------------------------------------------------

const groupOf = (trace) => trace.legendgroup || `trace:${trace.name}`;

/** Chart.js configs for every panel: y axes that `matches` another share its bounds, as in plotly. */
function panelConfigs(panels, hiddenGroups) {
  const yBounds = new Map();
  const yGroup = (p) => p.y.matches || p.ya;
  for (const p of panels) {
    const b = extent(p.traces, "y", p.y.type === "log", p.shapes);
    if (!b) continue;
    const g = yGroup(p);
    const prev = yBounds.get(g);
    yBounds.set(g, prev ? [Math.min(prev[0], b[0]), Math.max(prev[1], b[1])] : b);
  }
  return panels.map((p) => ({
    type: "line",
    data: { datasets: p.traces.map(({ trace, index }) => datasetOf(trace, index, p.x.type === "log", p.y.type === "log",
      hiddenGroups.has(groupOf(trace)))) },
    options: {
      parsing: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: true },
      layout: { padding: { top: 4, right: 8 } },
      scales: {
        x: scaleOf(p.x, extent(p.traces, "x", p.x.type === "log", p.shapes)),
        y: scaleOf(p.y, yBounds.get(yGroup(p))),
      },
      plugins: {
        legend: { display: false },
        title: { display: Boolean(p.title), text: p.title, font: { size: 13, weight: "bold" }, padding: { top: 2, bottom: 6 } },
        tooltip: {
          filter: (item) => Boolean(item.dataset.hover),
          callbacks: {
            title: (items) => items[0]?.dataset.hover?.[items[0].dataIndex]?.title || "",
            label: (item) => item.dataset.hover?.[item.dataIndex]?.lines || "",
          },
        },
        figureExtras: { shapes: p.shapes },
      },
    },
    plugins: [extras],
  }));
}

/** The legend's entries: each trace that asks for one, in trace order; clicking one hides or shows its
 * legend group in every panel (plotly's default). */
function legendEntries(fig) {
  return fig.data.filter((t) => t.showlegend !== false && t.name).map((t) => {
    const marker = t.marker || {};
    const color = t.line?.color || (typeof marker.color === "string" ? marker.color : (marker.color || [])[0]) || INK;
    const mode = t.mode || "lines+markers";
    const glyph = marker.symbol === "star" ? "★" : marker.symbol === "diamond" ? "◆"
      : String(marker.symbol || "").startsWith("x") ? "×" : mode.includes("markers") ? "●" : "";
    const dash = mode.includes("lines") && (t.line?.width ?? 2) > 0 ? t.line?.dash || "solid" : "";
    return { group: groupOf(t), name: plainText(t.name), color, glyph, dash, fill: t.fill ? t.fillcolor : "" };
  });
}

function renderLegend(box, entries, hiddenGroups, onToggle) {
  box.innerHTML = "";
  for (const e of entries) {
    const item = document.createElement("button");
    item.type = "button";
    item.className = `legend-item${hiddenGroups.has(e.group) ? " off" : ""}`;
    item.title = "show or hide this series";
    const swatch = document.createElement("span");
    swatch.className = `legend-swatch${e.fill ? " fill" : e.dash ? ` line ${e.dash}` : ""}`;
    swatch.style.color = e.color;
    if (e.fill) swatch.style.background = e.fill;
    swatch.textContent = e.glyph;
    const label = document.createElement("span");
    label.className = "legend-text";
    label.textContent = e.name;
    item.append(swatch, label);
    item.addEventListener("click", () => onToggle(e.group));
    box.append(item);
  }
  box.classList.toggle("hidden", !entries.length);
}

// zoom: drag a box on a panel to zoom into it, double-click to go back (plotly's gestures) ---------------------

/** Bounds the user zoomed panel k to, kept on the element so that a poll's update does not undo them. */
function applyZoom(el, configs) {
  configs.forEach((config, k) => {
    const zoom = el.zoom?.[k];
    if (!zoom) return;
    for (const letter of ["x", "y"]) {
      if (zoom[letter]) [config.options.scales[letter].min, config.options.scales[letter].max] = zoom[letter];
    }
  });
}

function enableZoom(el, cell, k) {
  const canvas = cell.querySelector("canvas");
  const box = document.createElement("div");
  box.className = "zoom-box hidden";
  cell.append(box);
  let start = null;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  };
  const move = (ev) => {
    const [x, y] = at(ev);
    Object.assign(box.style, { left: `${Math.min(x, start[0])}px`, top: `${Math.min(y, start[1])}px`,
      width: `${Math.abs(x - start[0])}px`, height: `${Math.abs(y - start[1])}px` });
    box.classList.remove("hidden");
  };
  const up = (ev) => {
    window.removeEventListener("mousemove", move);
    window.removeEventListener("mouseup", up);
    box.classList.add("hidden");
    const [x, y] = at(ev);
    const chart = el.charts?.[k];
    if (!chart) return;
    const dx = Math.abs(x - start[0]);
    const dy = Math.abs(y - start[1]);
    if (dx < 6 && dy < 6) return;  // a click, not a drag
    const span = (scale, a, b) => [scale.getValueForPixel(a), scale.getValueForPixel(b)].sort((p, q) => p - q);
    const zoom = { ...(el.zoom[k] || {}) };
    if (dx >= 6) zoom.x = span(chart.scales.x, start[0], x);  // a flat box zooms x only, a thin one y only
    if (dy >= 6) zoom.y = span(chart.scales.y, start[1], y);
    el.zoom[k] = zoom;
    draw(el, el.figure);
  };
  canvas.addEventListener("mousedown", (ev) => {
    if (ev.button !== 0) return;
    start = at(ev);
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  });
  canvas.addEventListener("dblclick", () => {
    delete el.zoom[k];
    draw(el, el.figure);
  });
}

/** Replace `el`'s content by the figure's frame: a grid with one cell (and canvas) per panel, and the legend's
 * box. Returns the cells in the panels' order; the canvases must be on the page before Chart.js sizes them. */
function layOut(el, panels, { cols, rows, vertical, height }) {
  const box = document.createElement("div");
  box.className = `figure${vertical ? " legend-right" : ""}`;
  box.style.height = `${height}px`;
  const grid = document.createElement("div");
  grid.className = "figure-grid";
  grid.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
  grid.style.gridTemplateRows = `repeat(${rows}, minmax(0, 1fr))`;
  const cells = panels.map((p) => {
    const cell = document.createElement("div");
    cell.className = "figure-panel";
    cell.style.gridRow = String(p.row + 1);
    cell.style.gridColumn = String(p.col + 1);
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", [p.title, `${axisTitle(p.y) || "y"} against ${axisTitle(p.x) || "x"}`]
      .filter(Boolean).join(": "));
    cell.append(canvas);
    return cell;
  });
  grid.append(...cells);
  const legend = document.createElement("div");
  legend.className = "figure-legend";
  box.append(grid, legend);
  el.replaceChildren(box);
  return cells;
}

/** Draw `fig` into `el`, reusing its charts when the panels are laid out as before (a poll's update). */
function draw(el, fig) {
  const Chart = chartJs();
  const { list, cols, rows } = panelsOf(fig);
  const vertical = fig.layout.legend?.orientation === "v";
  const height = fig.layout.height || parseFloat(getComputedStyle(el).minHeight) || 320;
  const shape = JSON.stringify([list.map((p) => [p.row, p.col]), cols, rows, vertical, height]);
  const hiddenGroups = el.hiddenGroups || (el.hiddenGroups = new Set());
  const configs = panelConfigs(list, hiddenGroups);
  if (el.figureShape !== shape || !el.charts) {
    destroyCharts(el);
    el.zoom = {};
    const cells = layOut(el, list, { cols, rows, vertical, height });
    el.charts = cells.map((cell, k) => new Chart(cell.querySelector("canvas"), configs[k]));
    cells.forEach((cell, k) => enableZoom(el, cell, k));
    el.figureShape = shape;
  } else {
    applyZoom(el, configs);
    el.charts.forEach((chart, k) => {
      chart.data = configs[k].data;
      chart.options = configs[k].options;
      chart.update("none");
    });
  }
  const toggle = (group) => {
    if (hiddenGroups.has(group)) hiddenGroups.delete(group); else hiddenGroups.add(group);
    draw(el, el.figure);
  };
  renderLegend(el.querySelector(".figure-legend"), legendEntries(fig), hiddenGroups, toggle);
  el.figure = fig;
}

function destroyCharts(el) {
  for (const chart of el.charts || []) chart.destroy();
  delete el.charts;
  delete el.figureShape;
  delete el.figure;
}

// the draw queue -----------------------------------------------------------------------------------------

const pending = new Set();

/** Run `job` after the element's earlier jobs, so a message never lands under a figure drawn later. Only an
 * element's latest state matters, so a job superseded before it starts is skipped. */
function enqueue(el, job) {
  const seq = (el.plotSeq || 0) + 1;
  el.plotSeq = seq;
  const latest = () => el.plotSeq === seq;
  const run = (el.plotQueue || Promise.resolve()).then(() => (latest() ? job() : undefined));
  el.plotQueue = run.catch(() => {});
  pending.add(run);
  run.catch(() => {}).finally(() => pending.delete(run));
  return run;
}

/** Draw or update a figure in place (legend choices survive the polls' updates). */
export function showFigure(el, fig) {
  return enqueue(el, () => {
    try {
      if (!el.dataset.drawn) {
        el.innerHTML = "";
        el.dataset.drawn = "1";
        delete el.dataset.message;
      }
      draw(el, fig);
    } catch (err) {
      destroyCharts(el);
      delete el.dataset.drawn;
      showState(el, "error", `This plot could not be drawn: ${err.message}`);
    }
  });
}

/** Replace a plot (if any) by a state message: loading, empty, error. */
export function showMessage(el, kind, message) {
  return enqueue(el, () => {
    if (el.dataset.drawn) {
      destroyCharts(el);
      delete el.dataset.drawn;
    }
    if (el.dataset.message === `${kind}:${message}`) return;  // unchanged: keep the spinner running smoothly
    el.dataset.message = `${kind}:${message}`;
    showState(el, kind, message);
  });
}

/** Resolves once every figure and message asked for so far is on the page. */
export function drawsSettled() {
  return Promise.allSettled([...pending]);
}
