// Adapters from the API's stored documents (coordinate-check data, transfer plans) to the plain inputs
// the plot functions take, and the plan card's HTML. Keeping the wire format in this one module means a
// change in what the planner writes touches nothing else in the UI.

import { esc, fmtFlops, fmtNum, isNum } from "./format.js";
import { paramLabel } from "./plots.js";

const STAT_PREFERENCE = ["mean_abs", "l1", "rms", "rms_delta"];

/**
 * Coordinate-check results (`{items: [{parametrization, passed, data}]}`) → per parametrization
 * {parametrization, passed, failing, check: {widths, steps, stat, modules: {name: stat[step][width]}}}.
 * The worker's data: {widths, steps, modules, stats: {module: {stat: [[v per width] per step]}}, failing}.
 */
export function coordView(response, stat = null) {
  const items = response?.items || [];
  return items.filter((r) => r.data && Array.isArray(r.data.widths)).map((r) => {
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
      failing: (d.failing || []).map((f) => (typeof f === "string" ? f : f.module || JSON.stringify(f))),
      stats: available,
      check: { widths: d.widths, steps: d.steps || series[modules[0]].map((_, i) => i), stat: chosen, modules: series },
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
  const transfer = entry?.transfer || entry?.scale_laws;
  if (!transfer) return null;
  if (Array.isArray(transfer)) return transfer.find((t) => t.hparam === hp) || null;
  return transfer[hp] || null;
}

/** Inputs of the optimum-vs-width plot. */
export function optimumFits(plan, hp) {
  const fits = [];
  for (const [p, e] of entries(plan)) {
    const optima = optimaOf(e, hp).filter((o) => isNum(o.value));
    const law = lawOf(e, hp);
    if (!optima.length && !law) continue;
    const gamma = law?.gamma || {};
    const line = [];
    if (law && isNum(gamma.value) && isNum(law.intercept)) {
      const lo = Math.min(...optima.map((o) => o.scale), law.target_scale);
      const hi = Math.max(...optima.map((o) => o.scale), law.target_scale);
      for (let i = 0; i <= 20; i += 1) {
        const w = lo * (hi / lo) ** (i / 20);
        line.push({ width: w, value: 2 ** (law.intercept + gamma.value * Math.log2(w)) });
      }
    }
    fits.push({
      parametrization: p, hp,
      points: optima.map((o) => ({ width: o.scale, value: o.value, low: o.low, high: o.high })),
      gamma: gamma.value, gammaLow: gamma.low, gammaHigh: gamma.high, line,
      target: law?.target ? { width: law.target_scale, value: law.target.value, low: law.target.low, high: law.target.high } : null,
    });
  }
  return fits;
}

/** Inputs of the loss-vs-scale plot: observed best losses, the fitted law to the target, band, prediction. */
export function scalingFits(plan) {
  const fits = [];
  for (const [p, e] of entries(plan)) {
    const law = e?.loss_law;
    if (!law || !Array.isArray(law.xs) || !law.xs.length) continue;
    const widths = e.widths || [];
    const observed = law.xs.map((x, i) => ({ x, loss: law.losses[i], width: widths[i] }));
    const curve = [];
    if (isNum(law.A) && isNum(law.alpha)) {
      const lo = Math.min(...law.xs);
      const hi = Math.max(...law.xs, law.target_x || 0);
      for (let i = 0; i <= 40; i += 1) {
        const x = lo * (hi / lo) ** (i / 40);
        curve.push({ x, loss: (law.E || 0) + law.A * x ** -law.alpha });
      }
    }
    const band = Array.isArray(law.band) ? law.band : [];
    const bandCurve = band.length ? band.map((b) => ({ x: b.x, loss: b.value ?? b.loss, low: b.low, high: b.high })) : curve;
    const pr = law.prediction || {};
    fits.push({ parametrization: p, observed, curve: band.length ? bandCurve : curve, label: law.form,
      prediction: { x: law.target_x, loss: pr.value, low: pr.low, high: pr.high } });
  }
  return fits;
}

/** What the target run is compared with: its own stored prediction, else the plan's. */
export function targetPrediction(target, plan) {
  if (isNum(target?.predicted_loss)) {
    return { loss: target.predicted_loss, low: target.predicted_low, high: target.predicted_high };
  }
  const doc = plan?.plan || plan;
  const pr = doc?.predicted_loss || {};
  return { loss: pr.value, low: pr.low, high: pr.high };
}

/** The plan card: transferred values, predicted loss ± interval, compute, warnings. */
export function planCardHtml(plan, trials, spec) {
  const doc = plan?.plan || plan || {};
  const recommended = doc.recommended || doc.recommended_parametrization;
  const rows = [];
  for (const [p, e] of entries(plan)) {
    const values = e.hparams || e.target_hparams || {};
    const cells = Object.entries(values).map(([k, v]) => {
      const val = v && typeof v === "object" ? v : { value: v };
      return `<code>${esc(k)}</code> = <b>${fmtNum(val.value)}</b>${isNum(val.low) && isNum(val.high)
        ? ` <span class="muted">[${fmtNum(val.low)}, ${fmtNum(val.high)}]</span>` : ""}`;
    }).join("<br>");
    const pr = e.predicted_loss || e.loss_law?.prediction || {};
    rows.push(`<tr><td>${esc(paramLabel(p))}${p === recommended ? ' <span class="badge s-completed">recommended</span>' : ""}</td>
      <td>${cells || "—"}</td><td class="num">${fmtNum(pr.value)}${isNum(pr.low) && isNum(pr.high)
        ? ` <span class="muted">[${fmtNum(pr.low)}, ${fmtNum(pr.high)}]</span>` : ""}</td></tr>`);
  }
  const compute = doc.compute || {};
  const warnings = doc.warnings || [];
  return `
    <table class="data row-gap"><thead><tr><th>Parametrization</th><th>Transferred to width ${esc(spec.target?.width ?? "")}</th>
      <th class="num">Predicted target loss</th></tr></thead><tbody>${rows.join("")}</tbody></table>
    <dl class="kv row-gap">
      <dt>Compute spent on proxies</dt><dd>${fmtFlops(compute.proxy_flops)}</dd>
      <dt>Target run compute</dt><dd>${fmtFlops(compute.target_flops)}${isNum(compute.proxy_flops) && isNum(compute.target_flops)
        && compute.target_flops > 0 ? ` <span class="muted">(proxies = ${fmtNum((100 * compute.proxy_flops) / compute.target_flops, 3)}% of it)</span>` : ""}</dd>
    </dl>
    ${warnings.length ? `<h3>Warnings</h3><ul class="messages">${warnings.map((w) => `<li>${esc(w.message || w)}</li>`).join("")}</ul>`
      : '<div class="muted">No warnings.</div>'}`;
}
