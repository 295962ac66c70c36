// Adapters from the API's stored documents (coordinate-check data, transfer plans) to the plain inputs
// the plot functions take, and the plan card's HTML. Keeping the wire format in this one module means a
// change in what the planner writes touches nothing else in the UI.

import { badge, esc, fmtFlops, fmtNum, fmtPct, isNum } from "./format.js";
import { paramLabel } from "./plots.js";

const STAT_PREFERENCE = ["mean_abs", "l1", "rms", "delta_rms"];

/** "module (stat)" for each distinct failing (module, stat) of a check, in order. */
function failingLabels(failing) {
  const labels = (failing || []).map((f) => (typeof f === "string" ? f : `${f.module}${f.stat ? ` (${f.stat})` : ""}`));
  return [...new Set(labels)];
}

/**
 * Coordinate-check results (`{items: [{parametrization, passed, data}]}`) → per parametrization
 * {parametrization, passed, failing, stats, check: {widths, steps, stat, axis, modules: {name: stat[step][x]}}}.
 * The worker's data: {axis, x | widths, steps, modules, stats: {module: {stat: [[v per x] per step]}}, failing}.
 */
export function coordView(response, stat = null) {
  const items = response?.items || [];
  return items.filter((r) => r.data && Array.isArray(r.data.x || r.data.widths)).map((r) => {
    const d = r.data;
    const modules = d.modules || Object.keys(d.stats || {});
    const available = Object.keys(d.stats?.[modules[0]] || {});
    const chosen = stat && available.includes(stat) ? stat
      : STAT_PREFERENCE.find((s) => available.includes(s)) || available[0];
    const series = {};
    for (const m of modules) series[m] = d.stats?.[m]?.[chosen] || [];
    return {
      parametrization: r.parametrization,
      passed: Boolean(r.passed),
      failing: failingLabels(d.failing),
      stats: available,
      check: { widths: d.x || d.widths, axis: d.axis || "width", steps: d.steps || series[modules[0]].map((_, i) => i),
        stat: chosen, modules: series },
    };
  });
}

/** The per-parametrization entries of a plan, as [name, entry] in the plan's order. */
function entries(plan) {
  const doc = plan?.plan || plan;
  const per = doc?.parametrizations;
  if (!per) return [];
  if (Array.isArray(per)) return per.map((e) => [e.parametrization, e]);
  return Object.entries(per);
}

/** Fitted optimum per (parametrization, width) for the μTransfer plot, in log2(hp) units. */
export function transferOptima(plan, hp) {
  const out = [];
  for (const [p, e] of entries(plan)) {
    for (const fit of optimaOf(e, hp)) {
      if (!isNum(fit.u)) continue;
      out.push({ parametrization: p, width: fit.scale, x: fit.u, loss: fit.best_loss, xLow: fit.u_low,
        xHigh: fit.u_high, fitted: fit.method === "quadratic" });
    }
  }
  return out;
}

function optimaOf(entry, hp) {
  const optima = entry?.optima;
  if (!optima) return [];
  if (Array.isArray(optima)) return optima.filter((o) => o.hparam === hp);
  return optima[hp] || [];
}

function lawOf(entry, hp) {
  return entry?.width_transfer?.[hp] || null;
}

/** HP value from the fit coordinate u: log2 on log-scale axes, the value itself on linear ones. */
const fromU = (u, logAxis) => (logAxis ? 2 ** u : u);

/** Inputs of the optimum-vs-width plot (`logAxis`: whether the HP was searched on a log scale). */
export function optimumFits(plan, hp, logAxis = true) {
  const fits = [];
  for (const [p, e] of entries(plan)) {
    const optima = optimaOf(e, hp).filter((o) => isNum(o.value));
    const law = lawOf(e, hp);
    if (!optima.length && !law) continue;
    const gamma = law?.gamma || {};
    const line = [];
    if (law && isNum(gamma.value) && isNum(law.intercept)) {
      const scales = [...optima.map((o) => o.scale), law.target_scale].filter(isNum);
      const lo = Math.min(...scales);
      const hi = Math.max(...scales);
      for (let i = 0; i <= 24; i += 1) {
        const w = lo * (hi / lo) ** (i / 24);
        line.push({ width: w, value: fromU(law.intercept + gamma.value * Math.log2(w), logAxis) });
      }
    }
    fits.push({
      parametrization: p, hp,
      points: optima.map((o) => ({ width: o.scale, value: o.value, low: o.low, high: o.high })),
      gamma: gamma.value, gammaLow: gamma.low, gammaHigh: gamma.high, line,
      target: law?.target && isNum(law.target.value)
        ? { width: law.target_scale, value: law.target.value, low: law.target.low, high: law.target.high } : null,
    });
  }
  return fits;
}

/**
 * Inputs of the loss-vs-scale plot: best loss per width against non-embedding parameters, the fitted
 * law drawn out to the target, its band where the plan gives one (`band: [{x, low, high}]`), and the
 * predicted target loss with its interval.
 */
export function scalingFits(plan) {
  const fits = [];
  for (const [p, e] of entries(plan)) {
    const law = e?.loss_vs_params;
    if (!law || !Array.isArray(law.xs) || !law.xs.length) continue;
    const widths = (Object.values(e.optima || {})[0] || []).map((o) => o.scale);
    const observed = law.xs.map((x, i) => ({ x, loss: law.losses?.[i], width: widths[i] }))
      .filter((o) => isNum(o.x) && isNum(o.loss));
    const band = new Map((law.band || []).map((b) => [b.x, b]));
    const curve = [];
    const xs = [...law.xs, law.target_x].filter((x) => isNum(x) && x > 0);
    if (isNum(law.A) && isNum(law.alpha) && xs.length) {
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      const grid = band.size ? [...band.keys()].sort((a, b) => a - b)
        : Array.from({ length: 41 }, (_, i) => lo * (hi / lo) ** (i / 40));
      for (const x of grid) {
        curve.push({ x, loss: (law.E || 0) + law.A * x ** -law.alpha, low: band.get(x)?.low, high: band.get(x)?.high });
      }
    }
    // the marker is what a target run is judged against: one run's interval (law band, run noise, HP miss)
    const pr = e.predicted_loss || law.prediction || {};
    fits.push({ parametrization: p, observed, curve, label: law.form,
      prediction: { x: law.target_x, loss: pr.value, low: pr.low, high: pr.high } });
  }
  return fits;
}

/** What the target run is compared with: its own stored prediction, else the recommended plan's. */
export function targetPrediction(target, plan) {
  if (isNum(target?.predicted_loss)) {
    return { loss: target.predicted_loss, low: target.predicted_low, high: target.predicted_high };
  }
  const doc = plan?.plan || plan;
  const chosen = doc?.parametrizations?.[doc?.recommended];
  const pr = chosen?.predicted_loss || {};
  return { loss: pr.value, low: pr.low, high: pr.high };
}

const interval = (iv) => (iv && typeof iv === "object" ? iv : { value: iv });

function intervalHtml(iv) {
  const v = interval(iv);
  return `<b>${fmtNum(v.value)}</b>${isNum(v.low) && isNum(v.high)
    ? ` <span class="muted">[${fmtNum(v.low)}, ${fmtNum(v.high)}]</span>` : ""}`;
}

function multipliersHtml(rows) {
  if (!Array.isArray(rows) || !rows.length) return "";
  const body = rows.map((r) => `<tr><td><code>${esc(r.name)}</code></td><td>${esc(r.role)}</td>
    <td class="num">${fmtNum(r.init_std)}</td><td class="num">${fmtNum(r.forward_multiplier)}</td>
    <td class="num">${fmtNum(r.lr)}</td><td class="num">${fmtNum(r.weight_decay)}</td></tr>`).join("");
  return `<details><summary class="muted">per-parameter values at the target width (${rows.length} groups)</summary>
    <div class="table-scroll" style="max-height:260px"><table class="data"><thead><tr><th>parameter</th><th>role</th>
    <th class="num">init std</th><th class="num">multiplier</th><th class="num">LR</th><th class="num">weight decay</th>
    </tr></thead><tbody>${body}</tbody></table></div></details>`;
}

/**
 * One transfer law's γ with its interval. When the parametrization's promise (γ = 0) held, the value averages
 * the promise and the fitted line by their BIC weight, and the interval stays the line's band (transfer.py).
 */
function gammaHtml(label, law) {
  const g = law?.gamma || {};
  if (!isNum(g.value)) return "";
  const bounds = isNum(g.low) && isNum(g.high) ? ` [${g.low.toFixed(2)}, ${g.high.toFixed(2)}]` : "";
  const weight = isNum(law.promise_weight) ? `, weight ${law.promise_weight.toFixed(2)}` : "";
  const kept = law.model === "invariant"
    ? ` (compatible with 0: averaged with the promise${weight}; interval from the fitted line)` : "";
  return `γ<sub>${esc(label)}</sub> = ${g.value.toFixed(2)}${bounds}${kept}`;
}

const VERDICTS = {
  holds: ["completed", "transfer holds"],
  fails: ["failed", "transfer fails"],
  untested: ["untested", "transfer untested"],
};

/**
 * {verdict, reason} of one parametrization. Plans stored before verdicts existed only carry `transfer_holds`,
 * which was true for 2-width plans nothing had tested: those read "untested" unless every swept HP's
 * extrapolation check ran.
 */
export function verdictOf(entry) {
  if (VERDICTS[entry?.transfer_verdict]) {
    return { verdict: entry.transfer_verdict, reason: entry.transfer_verdict_reason || "" };
  }
  const notes = (entry?.transfer_notes || []).join("; ");
  if (!entry?.transfer_holds) return { verdict: "fails", reason: notes };
  const checks = Object.values(entry?.quality?.extrapolation || {});
  if (checks.length && checks.every((c) => isNum(c.relative_penalty))) return { verdict: "holds", reason: notes };
  return { verdict: "untested", reason: "the plan predates verdicts and its extrapolation check did not run (< 3 widths)" };
}

const NOISE_SOURCES = { proxy_seeds: "measured", model: "modelled", unknown: "unknown" };

/** The predicted loss of one target run, and the run noise it includes with where that came from. */
function predictedLossHtml(e) {
  const noise = e.predicted_loss_noise;
  const sigma = noise && isNum(noise.sigma)
    ? `<div class="muted" data-noise-source="${esc(noise.source)}" title="${esc(noise.method)}">incl. one run's
      noise<br>σ = ${fmtNum(noise.sigma, 3)} (${esc(NOISE_SOURCES[noise.source] || noise.source)})</div>` : "";
  return `${intervalHtml(e.predicted_loss)}${sigma}`;
}

function listHtml(title, items, cls) {
  if (!items.length) return "";
  return `<div class="${cls}"><b>${esc(title)}</b><ul class="messages muted">${items.map((n) => `<li>${esc(n)}</li>`).join("")}</ul></div>`;
}

/** The plan card: transferred values, predicted loss ± interval, compute, recommendation, warnings. */
export function planCardHtml(plan, spec) {
  const doc = plan?.plan || plan || {};
  const level = isNum(doc.level) ? `${Math.round(100 * doc.level)} % interval` : "interval";
  const rows = entries(plan).map(([p, e]) => {
    const hps = Object.entries(e.hparams || {}).map(([k, v]) => `<code>${esc(k)}</code> = ${intervalHtml(v)}`).join("<br>");
    const gammas = [["", e.width_transfer], [", depth", e.depth_transfer]].flatMap(([axis, laws]) =>
      Object.entries(laws || {}).map(([k, law]) => gammaHtml(k + axis, law))).filter(Boolean).join("<br>");
    const { verdict, reason } = verdictOf(e);
    const [status, label] = VERDICTS[verdict];
    const badgeHtml = `<span class="verdict" data-verdict="${esc(verdict)}" title="${esc(reason)}">${badge(status, label)}</span>`;
    const why = verdict === "holds" ? [] : [reason || "—"];
    const notes = listHtml(`Transfer ${verdict}:`, why, "plan-verdict")
      + listHtml("Not in these intervals:", e.interval_caveats || [], "plan-caveats");
    return `<tr data-parametrization="${esc(p)}"><td><b>${esc(paramLabel(p))}</b>${p === doc.recommended
      ? ' <span class="badge s-completed">recommended</span>' : ""}<br>${badgeHtml}</td>
      <td>${hps || "—"}<div class="muted" style="white-space:normal">${gammas}</div></td>
      <td class="num">${predictedLossHtml(e)}</td></tr>
      ${notes || e.multipliers ? `<tr data-notes-for="${esc(p)}"><td></td><td colspan="2" style="white-space:normal">${notes}
        ${multipliersHtml(e.multipliers)}</td></tr>` : ""}`;
  }).join("");
  const target = doc.target || {};
  const proxy = doc.proxy || {};
  const warnings = doc.warnings || [];
  const warningItem = (w) => `<li>${w.parametrization ? `<b>${esc(paramLabel(w.parametrization))}</b>: ` : ""}${esc(w.message || w)}</li>`;
  return `
    <table class="data row-gap" id="plan-table"><thead><tr><th>Parametrization</th>
      <th>Transferred to width ${esc(target.width ?? spec.target?.width ?? "")} (${esc(level)})</th>
      <th class="num">Predicted target val loss</th></tr></thead><tbody>${rows}</tbody></table>
    <dl class="kv row-gap">
      <dt>Objective</dt><dd id="plan-objective">${esc(doc.objective || "final validation loss")}</dd>
      <dt>Recommendation</dt><dd>${esc(doc.recommendation || "—")}</dd>
      <dt>Compute spent on proxies</dt><dd>${fmtFlops(proxy.flops)} <span class="muted">(${esc(proxy.trials ?? "—")} trials)</span></dd>
      <dt>Target run compute</dt><dd>${fmtFlops(target.flops)}${isNum(doc.compute_fraction)
        ? ` <span class="muted">(proxies = ${fmtPct(doc.compute_fraction)} of it)</span>` : ""}</dd>
      <dt>What the prediction covers</dt><dd class="muted" style="white-space:normal">${esc(doc.prediction_covers || "—")}</dd>
    </dl>
    ${warnings.length ? `<details id="plan-warnings-fold"><summary>Warnings (${warnings.length})</summary>
      <ul class="messages" id="plan-warnings">${warnings.map(warningItem).join("")}</ul></details>`
      : '<div class="muted">No warnings.</div>'}`;
}
