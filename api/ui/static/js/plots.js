// Every plot of the UI as a pure function: normalized data in, a figure ({data, layout}, in plotly.js's figure
// vocabulary, drawn by figure_view.js) out.
// Each trace carries `meta.role` (width, diverged, optimum, module, observed, fit, band, prediction,
// loss, ...) so that tests and readers can tell series apart without parsing labels.

import { isNum } from "./format.js";

/* Viridis anchors (matplotlib); a sequential scale: narrow widths dark, wide widths bright. */
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
  [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];

/** Colour i of n on the sequential scale (stopping short of the palest yellow, which vanishes on white). */
export function sequentialColor(i, n) {
  const t = n <= 1 ? 0.5 : (i / (n - 1)) * 0.88;
  const pos = t * (VIRIDIS.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, VIRIDIS.length - 1);
  const f = pos - lo;
  const c = VIRIDIS[lo].map((v, k) => Math.round(v + f * (VIRIDIS[hi][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Categorical colours for parametrizations and modules. */
const CATEGORICAL = ["#3a5bd9", "#d9593a", "#1f8a4c", "#8e44ad", "#b26a00", "#2c8fa3", "#c2407a", "#5d6678",
  "#7a9c1e", "#a0522d", "#4b6584", "#e17055"];
export const categoricalColor = (i) => CATEGORICAL[i % CATEGORICAL.length];

const PARAM_LABELS = { sp: "SP", mup: "μP", "sp-embedding-lr": "SP + embedding LR", "u-mup": "u-μP", completep: "CompleteP" };
export const paramLabel = (p) => PARAM_LABELS[p] || p;

/* Log axes label 1, 2, 5 per decade: every minor digit crowds a small panel. */
const LOG_AXIS = { type: "log", dtick: "D2" };
const FONT = { family: "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif", size: 12, color: "#1d2330" };
const GRID = "#eceef3";

function baseLayout(extra = {}) {
  return {
    font: FONT,
    margin: { l: 60, r: 16, t: 36, b: 48 },
    paper_bgcolor: "#fff",
    plot_bgcolor: "#fff",
    hovermode: "closest",
    legend: { orientation: "h", y: -0.22, x: 0, font: { size: 11 } },
    ...extra,
  };
}

function axis(title, extra = {}) {
  return { title: { text: title, standoff: 6 }, gridcolor: GRID, zeroline: false, linecolor: "#c9ced8", ticks: "outside",
    tickcolor: "#c9ced8", automargin: true, ...extra };
}

/** Side-by-side panel domains with a small gap. */
function panelDomains(n, gap = 0.06) {
  const w = (1 - gap * (n - 1)) / n;
  return Array.from({ length: n }, (_, i) => [i * (w + gap), i * (w + gap) + w]);
}

/** Plotly's axis ids for panel i: "x", "x2", ... and the layout keys "xaxis", "xaxis2", .... */
const axId = (letter, i) => (i === 0 ? letter : `${letter}${i + 1}`);
const axKey = (letter, i) => (i === 0 ? `${letter}axis` : `${letter}axis${i + 1}`);

function panelTitles(titles, domains, y = 1.0) {
  return titles.map((text, i) => ({ text: `<b>${text}</b>`, x: (domains[i][0] + domains[i][1]) / 2, y, xref: "paper",
    yref: "paper", yanchor: "bottom", showarrow: false, font: { size: 13 } }));
}

const log2 = (x) => Math.log2(x);

const sortUnique = (xs) => [...new Set(xs)].sort((a, b) => a - b);

/** Stacked row domains (top row first) for `n` rows of panels. */
function rowDomains(n, gap = 0.14) {
  return panelDomains(n, gap).reverse();
}

/**
 * One curve's points along `hp` from the trial summary's groups (GET .../trials/summary) of one
 * parametrization and width: several depths at one width share a curve, as the plot has no depth axis, so
 * points at the same value merge (best of the bests, counts added, the mean weighted by its count).
 */
export function curvePoints(groups, hp) {
  const merged = new Map();
  for (const g of groups) {
    for (const q of g.points?.[hp] || []) {
      const key = q.value.toPrecision(10);
      const m = merged.get(key);
      if (!m) {
        merged.set(key, { ...q });
        continue;
      }
      const n = m.count + q.count;
      m.mean = n ? ((m.mean ?? 0) * m.count + (q.mean ?? 0) * q.count) / n : null;
      m.sem = n === m.count ? m.sem : n === q.count ? q.sem : null; // not recoverable across groups
      m.best = isNum(m.best) && isNum(q.best) ? Math.min(m.best, q.best) : (isNum(m.best) ? m.best : q.best);
      m.count = n;
      m.diverged += q.diverged;
    }
  }
  return [...merged.values()].sort((a, b) => a.value - b.value);
}

/** A point's hover line: how many trials it stands for, and their mean ± standard error. */
function pointNote(q) {
  if (q.count <= 1) return q.count === 1 ? "1 trial" : "no finished trial";
  const spread = isNum(q.sem) ? ` ± ${q.sem.toPrecision(2)}` : "";
  return `${q.count} trials, mean ${q.mean.toFixed(4)}${spread}`;
}

/**
 * The μTransfer plot: validation loss against each swept HP, one row of panels per HP and one column per
 * parametrization (shared loss axis), one curve per width on a sequential scale. `groups`: the trial
 * summary's groups (the server's aggregates: per HP value, or bin of values, the best loss over the other
 * HPs' values), so the figure's size does not depend on the number of trials. `hps`: [{name, log, range}]
 * (`range` pins the x axis to the searched interval, so it does not jump while trials arrive). `optima`:
 * {hp: [{parametrization, width, x, loss, xLow, xHigh, fitted}]} with x on the plot's axis (log2 when
 * `log`); points where trials diverged sit on a marked ceiling row. `sizeLabel(w)` names a curve's size
 * ("width 128"; an imported study sized by n_params passes groups keyed by n_params and names them so).
 */
export function transferFigure(groups, { hps = [{ name: "lr", log: true, range: null }], parametrizations, widths,
  optima = {}, connect = true, sizeLabel = (w) => `width ${w}` } = {}) {
  const params = parametrizations?.length ? parametrizations : [...new Set(groups.map((g) => g.parametrization))].sort();
  const allWidths = widths?.length ? widths : sortUnique(groups.map((g) => g.width));
  const cols = panelDomains(Math.max(params.length, 1));
  const rows = rowDomains(Math.max(hps.length, 1));
  const losses = groups.flatMap((g) => Object.values(g.points || {}).flat().map((q) => q.best)).filter(isNum);
  const lo = losses.length ? Math.min(...losses) : 0;
  const hi = losses.length ? Math.max(...losses) : 1;
  const ceiling = hi + 0.08 * Math.max(hi - lo, 1e-3);
  const data = [];
  const titles = params.map(paramLabel);
  const layout = baseLayout({ annotations: panelTitles(titles, cols), shapes: [],
    ...(hps.length > 1 ? { height: 330 * hps.length + 60 } : {}) });
  const several = hps.length > 1;

  hps.forEach(({ name: hp, log, range }, ri) => {
    const toX = log ? log2 : (v) => v;
    const valid = (q) => isNum(q.value) && (!log || q.value > 0);
    const others = hps.map((h) => h.name).filter((o) => o !== hp);
    const xTitle = log ? `log<sub>2</sub> ${hp}` : hp;
    params.forEach((p, pi) => {
      const k = ri * params.length + pi;
      const xa = axId("x", k);
      const ya = axId("y", k);
      layout[axKey("x", k)] = axis(xTitle, { domain: cols[pi], anchor: ya, ...(range ? { range } : {}) });
      layout[axKey("y", k)] = axis(pi === 0 ? (several ? `val loss (best over ${others.join(", ")})` : "val loss") : "",
        { anchor: xa, domain: rows[ri], ...(k > 0 ? { matches: "y" } : {}) });
      const div = [];
      allWidths.forEach((w, wi) => {
        const curve = curvePoints(groups.filter((g) => g.parametrization === p && g.width === w), hp).filter(valid);
        const pts = curve.filter((q) => isNum(q.best));
        div.push(...curve.filter((q) => q.diverged > 0).map((q) => ({ ...q, width: w, wi })));
        const color = sequentialColor(wi, allWidths.length);
        data.push({
          type: "scatter", mode: connect ? "lines+markers" : "markers", xaxis: xa, yaxis: ya,
          x: pts.map((q) => toX(q.value)), y: pts.map((q) => q.best), customdata: pts.map((q) => q.value),
          text: pts.map(pointNote),
          name: sizeLabel(w), legendgroup: `w${w}`, showlegend: k === 0,
          line: { color, width: 1.6 }, marker: { color, size: 6 },
          hovertemplate: `${sizeLabel(w)}<br>${hp} %{customdata:.3g}<br>val loss %{y:.4f}<br>%{text}<extra>${paramLabel(p)}</extra>`,
          meta: { role: "width", parametrization: p, width: w, hp },
        });
      });
      if (div.length) {
        data.push({
          type: "scatter", mode: "markers", xaxis: xa, yaxis: ya,
          x: div.map((q) => toX(q.value)), y: div.map(() => ceiling), customdata: div.map((q) => q.value),
          text: div.map((q) => `${q.diverged} diverged, ${sizeLabel(q.width)}`),
          name: "diverged", legendgroup: "diverged", showlegend: !data.some((d) => d.meta.role === "diverged"),
          marker: { symbol: "x-thin-open", size: 10, line: { width: 2 },
            color: div.map((q) => sequentialColor(q.wi, allWidths.length)) },
          hovertemplate: `diverged<br>${hp} %{customdata:.3g}<br>%{text}<extra>${paramLabel(p)}</extra>`,
          meta: { role: "diverged", parametrization: p, hp },
        });
        layout.shapes.push({ type: "line", xref: `${xa} domain`, yref: ya, x0: 0, x1: 1, y0: ceiling, y1: ceiling,
          line: { color: "#c23b3b", width: 1, dash: "dot" } });
      }
      const opt = (optima[hp] || []).filter((o) => o.parametrization === p && isNum(o.x) && isNum(o.loss));
      if (opt.length) {
        const hasCi = opt.some((o) => isNum(o.xLow) && isNum(o.xHigh));
        data.push({
          type: "scatter", mode: "markers", xaxis: xa, yaxis: ya,
          x: opt.map((o) => o.x), y: opt.map((o) => o.loss),
          text: opt.map((o) => `${sizeLabel(o.width)}${o.fitted ? "" : " (best point, no parabola)"}`),
          name: "fitted optimum", legendgroup: "optimum", showlegend: !data.some((d) => d.meta.role === "optimum"),
          marker: { symbol: "star", size: 13, line: { color: "#1d2330", width: 1 },
            color: opt.map((o) => sequentialColor(Math.max(allWidths.indexOf(o.width), 0), allWidths.length)) },
          ...(hasCi ? { error_x: { type: "data", symmetric: false, color: "#1d2330", thickness: 1, width: 3,
            array: opt.map((o) => (isNum(o.xHigh) ? o.xHigh - o.x : 0)),
            arrayminus: opt.map((o) => (isNum(o.xLow) ? o.x - o.xLow : 0)) } } : {}),
          hovertemplate: `optimum<br>x %{x:.3f}<br>loss %{y:.4f}<br>%{text}<extra>${paramLabel(p)}</extra>`,
          meta: { role: "optimum", parametrization: p, hp },
        });
      }
    });
  });
  return { data, layout };
}

/**
 * The coordinate check: log2(activation size) against log2(width), one panel per step; per module the
 * measured points and, where the module's parametrization predicts a slope at that step, the predicted slope
 * as a dashed line through the points' centroid (points along it: the implementation keeps its parametrization's
 * claim). `check`: {widths, steps, modules: {name: stat[step][width]}, stat, axis, slopes: {name:
 * {predicted: [slope | null per step], measured: [slope | null per step]}}} (axis: width or depth).
 */
export function coordFigure(check) {
  const steps = check.steps;
  const domains = panelDomains(Math.max(steps.length, 1), 0.04);
  const names = Object.keys(check.modules);
  const layout = baseLayout({ annotations: panelTitles(steps.map((s) => `step ${s}`), domains), showlegend: true,
    legend: { orientation: "v", x: 1.01, y: 1, font: { size: 10 } }, margin: { l: 56, r: 8, t: 30, b: 44 } });
  const data = [];
  const x = check.widths.map(log2);
  const size = check.axis || "width";
  steps.forEach((step, si) => {
    const xa = axId("x", si);
    const ya = axId("y", si);
    layout[axKey("x", si)] = axis(`log<sub>2</sub> ${size}`, { domain: domains[si], anchor: ya, dtick: 1 });
    layout[axKey("y", si)] = axis(si === 0 ? `log<sub>2</sub> ${check.stat || "mean |x|"}` : "",
      { anchor: xa, ...(si > 0 ? { matches: "y" } : {}) });
    names.forEach((name, mi) => {
      const color = categoricalColor(mi);
      const y = (check.modules[name][si] || []).map((v) => (isNum(v) && v > 0 ? log2(v) : null));
      const predicted = check.slopes?.[name]?.predicted?.[si];
      const measured = check.slopes?.[name]?.measured?.[si];
      data.push({
        type: "scatter", mode: "markers", xaxis: xa, yaxis: ya, x, y,
        name, legendgroup: name, showlegend: si === 0, marker: { size: 7, color },
        hovertemplate: `${name}<br>log2 ${size} %{x}<br>log2 ${check.stat} %{y:.2f}`
          + `<br>measured slope ${fmtSlope(measured)}<extra>step ${step}</extra>`,
        meta: { role: "measured", module: name, step, slope: isNum(measured) ? measured : null },
      });
      const line = slopeLine(x, y, predicted);
      if (line) {
        data.push({
          type: "scatter", mode: "lines", xaxis: xa, yaxis: ya, x: line.x, y: line.y,
          name: `${name} predicted`, legendgroup: name, showlegend: false, line: { color, width: 1.5, dash: "dash" },
          hovertemplate: `${name}<br>predicted slope ${fmtSlope(predicted)}, measured ${fmtSlope(measured)}`
            + `<extra>step ${step}</extra>`,
          meta: { role: "prediction", module: name, step, slope: predicted },
        });
      }
    });
  });
  if (data.some((t) => t.meta.role === "prediction")) {
    data.push({ type: "scatter", mode: "lines", x: [null], y: [null], name: "predicted slope (dashed)",
      line: { color: "#5d6678", width: 1.5, dash: "dash" }, hoverinfo: "skip", meta: { role: "legend" } });
  }
  return { data, layout };
}

const fmtSlope = (s) => (isNum(s) ? `${s >= 0 ? "+" : "−"}${Math.abs(s).toFixed(2)}` : "n/a");

/** A line of slope `slope` through the centroid of the finite points, across their x range; null when the
 * step has no prediction or fewer than two points. */
function slopeLine(x, y, slope) {
  const pts = x.map((xi, i) => [xi, y[i]]).filter(([, yi]) => isNum(yi));
  if (!isNum(slope) || pts.length < 2) return null;
  const mx = pts.reduce((a, [xi]) => a + xi, 0) / pts.length;
  const my = pts.reduce((a, [, yi]) => a + yi, 0) / pts.length;
  const xs = [Math.min(...pts.map(([xi]) => xi)), Math.max(...pts.map(([xi]) => xi))];
  return { x: xs, y: xs.map((xi) => my + slope * (xi - mx)) };
}

/**
 * Loss against scale: the best loss per width, the fitted law extended to the target, its band and the
 * predicted target loss. `fits`: [{parametrization, observed: [{x, loss}], curve: [{x, loss, low, high}],
 * prediction: {x, loss, low, high}}] with x the scale variable named by `xTitle` (log axis). `sizeName` and
 * `sizeLabel` name the size each observed point is the best of (an imported study may be sized by n_params).
 */
export function scalingFigure(fits, { xTitle = "non-embedding parameters N", sizeName = "width",
  sizeLabel = (w) => `width ${w}` } = {}) {
  const data = [];
  fits.forEach((f, i) => {
    const color = categoricalColor(i);
    const label = paramLabel(f.parametrization);
    const curve = f.curve || [];
    if (curve.some((c) => isNum(c.low) && isNum(c.high))) {
      data.push({ type: "scatter", mode: "lines", x: curve.map((c) => c.x), y: curve.map((c) => c.high),
        line: { width: 0 }, hoverinfo: "skip", showlegend: false, legendgroup: label,
        meta: { role: "band", parametrization: f.parametrization } });
      data.push({ type: "scatter", mode: "lines", x: curve.map((c) => c.x), y: curve.map((c) => c.low),
        fill: "tonexty", fillcolor: hexAlpha(color, 0.15), line: { width: 0 }, name: `${label} band`,
        legendgroup: label, showlegend: false, hoverinfo: "skip", meta: { role: "band", parametrization: f.parametrization } });
    }
    if (curve.length) {
      data.push({ type: "scatter", mode: "lines", x: curve.map((c) => c.x), y: curve.map((c) => c.loss),
        name: `${label} fit${f.label ? ` (${f.label})` : ""}`, legendgroup: label, line: { color, width: 2, dash: "dash" },
        hovertemplate: `${label} fit<br>%{x:.3s}<br>loss %{y:.4f}<extra></extra>`, meta: { role: "fit", parametrization: f.parametrization } });
    }
    data.push({ type: "scatter", mode: "markers", x: f.observed.map((o) => o.x), y: f.observed.map((o) => o.loss),
      name: `${label} best loss per ${sizeName}`, legendgroup: label, marker: { color, size: 8 },
      text: f.observed.map((o) => (o.width ? sizeLabel(o.width) : "")),
      hovertemplate: `${label}<br>%{text}<br>%{x:.3s}<br>loss %{y:.4f}<extra></extra>`,
      meta: { role: "observed", parametrization: f.parametrization } });
    const pr = f.prediction;
    if (pr && isNum(pr.x) && isNum(pr.loss)) {
      const ci = isNum(pr.low) && isNum(pr.high);
      data.push({ type: "scatter", mode: "markers", x: [pr.x], y: [pr.loss], name: `${label} predicted target`,
        legendgroup: label, marker: { symbol: "diamond", size: 12, color, line: { color: "#1d2330", width: 1 } },
        ...(ci ? { error_y: { type: "data", symmetric: false, array: [pr.high - pr.loss], arrayminus: [pr.loss - pr.low],
          color, thickness: 1.5, width: 6 } } : {}),
        hovertemplate: `${label} target<br>%{x:.3s}<br>predicted loss %{y:.4f}<extra></extra>`,
        meta: { role: "prediction", parametrization: f.parametrization } });
    }
  });
  const layout = baseLayout({ xaxis: axis(xTitle, LOG_AXIS), yaxis: axis("loss") });
  return { data, layout };
}

/**
 * The optimum against width, one panel per swept HP: per parametrization the fitted optimum per width (with
 * its interval), the fitted power law η* ∝ w^γ extended to the target width (γ in the legend), and the
 * transferred value. `panels`: [{hp, fits}], `fits`: [{parametrization, hp, points: [{width, value, low, high}], gamma, gammaLow, gammaHigh,
 * line: [{width, value}], target: {width, value, low, high}, colorIndex, note}].
 * The same figure draws the optimum against any other scale the planner fits a law along (the token horizon,
 * the batch size): `axisName` names it (`xTitle` titles its axis), `xaxis` sets its ticks, and `width` in the
 * points is then that scale.
 * `colorIndex` (the parametrization's place in the plan) keeps each parametrization's colour across these
 * plots when one of them lacks a law; `note` is appended to the fit's legend entry.
 */
export function optimumFigure(panels, { axisName = "width", xTitle = axisName,
  xaxis = { dtick: Math.log10(2), tickformat: "d" }, observedName = `optimum per ${axisName}`,
  targetName = "transferred to target" } = {}) {
  const data = [];
  const cols = panelDomains(Math.max(panels.length, 1), 0.1);
  const layout = baseLayout({ annotations: panels.length > 1 ? panelTitles(panels.map((q) => q.hp), cols) : [] });
  panels.forEach(({ hp, fits }, k) => {
    const xa = axId("x", k);
    const ya = axId("y", k);
    fits.forEach((f, i) => {
      const color = categoricalColor(f.colorIndex ?? i);
      const label = paramLabel(f.parametrization);
      const first = k === 0;
      const pts = f.points.filter((p) => isNum(p.value) && p.value > 0);
      const ci = pts.some((p) => isNum(p.low) && isNum(p.high));
      data.push({ type: "scatter", mode: "markers", xaxis: xa, yaxis: ya, x: pts.map((p) => p.width),
        y: pts.map((p) => p.value), name: `${label} ${observedName}`, legendgroup: label, showlegend: first,
        marker: { color, size: 8 },
        ...(ci ? { error_y: { type: "data", symmetric: false, color, thickness: 1.2, width: 4,
          array: pts.map((p) => (isNum(p.high) ? p.high - p.value : 0)),
          arrayminus: pts.map((p) => (isNum(p.low) ? p.value - p.low : 0)) } } : {}),
        hovertemplate: `${label}<br>${axisName} %{x}<br>${hp}* %{y:.3g}<extra></extra>`,
        meta: { role: "observed", parametrization: f.parametrization, hp } });
      if (f.line?.length) {
        const g = isNum(f.gamma) ? `γ = ${f.gamma.toFixed(2)}${isNum(f.gammaLow) && isNum(f.gammaHigh)
          ? ` [${f.gammaLow.toFixed(2)}, ${f.gammaHigh.toFixed(2)}]` : ""}` : "fit";
        data.push({ type: "scatter", mode: "lines", xaxis: xa, yaxis: ya, x: f.line.map((p) => p.width),
          y: f.line.map((p) => p.value), name: `${label} ${hp}: ${g}${f.note ? ` ${f.note}` : ""}`, legendgroup: label,
          line: { color, width: 2, dash: "dash" },
          hovertemplate: `${label} fit<br>${axisName} %{x}<br>${hp}* %{y:.3g}<extra></extra>`,
          meta: { role: "fit", parametrization: f.parametrization, gamma: f.gamma, hp } });
      }
      const t = f.target;
      if (t && isNum(t.value) && t.value > 0) {
        const tci = isNum(t.low) && isNum(t.high);
        data.push({ type: "scatter", mode: "markers", xaxis: xa, yaxis: ya, x: [t.width], y: [t.value],
          name: `${label} ${targetName}`, legendgroup: label, showlegend: first,
          marker: { symbol: "diamond", size: 12, color, line: { color: "#1d2330", width: 1 } },
          ...(tci ? { error_y: { type: "data", symmetric: false, array: [t.high - t.value], arrayminus: [t.value - t.low],
            color, thickness: 1.5, width: 6 } } : {}),
          hovertemplate: `${label} target<br>${axisName} %{x}<br>${hp} %{y:.3g}<extra></extra>`,
          meta: { role: "prediction", parametrization: f.parametrization, hp } });
      }
    });
    const values = data.filter((t) => t.meta.hp === hp).flatMap((t) => t.y).filter((v) => isNum(v) && v > 0);
    const decades = values.length ? Math.log10(Math.max(...values) / Math.min(...values)) : 0;
    layout[axKey("x", k)] = axis(xTitle, { type: "log", ...xaxis, domain: cols[k], anchor: ya });
    layout[axKey("y", k)] = axis(`optimal ${hp}`, { anchor: xa,
      ...(decades > 1 ? { ...LOG_AXIS, exponentformat: "power" } : { type: "log", exponentformat: "e" }) });
  });
  return { data, layout };
}

/** Per-step loss of one run (log step axis; log loss axis unless `logY` is false); with `predicted`
 * ({loss, low, high}) the forecast final loss and its interval as a horizontal line and band. */
export function lossCurveFigure(metrics, { title = "", predicted = null, logY = true } = {}) {
  const rows = metrics.filter((m) => m.step > 0);
  const data = [{ type: "scatter", mode: "lines", x: rows.map((m) => m.step), y: rows.map((m) => m.train_loss),
    name: "train loss", line: { color: "#3a5bd9", width: 1.5 }, meta: { role: "loss", split: "train" } }];
  const val = rows.filter((m) => isNum(m.val_loss));
  if (val.length) {
    data.push({ type: "scatter", mode: "lines+markers", x: val.map((m) => m.step), y: val.map((m) => m.val_loss),
      name: "validation loss", line: { color: "#d9593a", width: 1.5 }, marker: { size: 5 }, meta: { role: "loss", split: "val" } });
  }
  const shapes = [];
  if (predicted && isNum(predicted.loss)) {
    const lastStep = Math.max(predicted.steps || 0, ...rows.map((m) => m.step), 2);
    const xs = [1, lastStep];
    if (isNum(predicted.low) && isNum(predicted.high)) {
      data.push({ type: "scatter", mode: "lines", x: xs, y: [predicted.high, predicted.high], line: { width: 0 },
        hoverinfo: "skip", showlegend: false, meta: { role: "band" } });
      data.push({ type: "scatter", mode: "lines", x: xs, y: [predicted.low, predicted.low], fill: "tonexty",
        fillcolor: "rgba(31,138,76,0.14)", line: { width: 0 }, name: "predicted interval", meta: { role: "band" } });
    }
    data.push({ type: "scatter", mode: "lines", x: xs, y: [predicted.loss, predicted.loss], name: "predicted final loss",
      line: { color: "#1f8a4c", width: 2, dash: "dash" }, meta: { role: "prediction" } });
  }
  const layout = baseLayout({ title: title ? { text: title, font: { size: 13 } } : undefined, shapes,
    xaxis: axis("step", LOG_AXIS), yaxis: axis("loss", logY ? { type: "log" } : {}) });
  return { data, layout };
}

function hexAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}
