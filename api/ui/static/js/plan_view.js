// Adapters from the API's stored documents (coordinate-check data, transfer plans) to the plain inputs
// the plot functions take, and the plan card's HTML. Keeping the wire format in this one module means a
// change in what the planner writes touches nothing else in the UI.

import { badge, esc, fmtCount, fmtFlops, fmtNum, fmtPct, isNum } from "./format.js";
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

/** The law the plan applied (`curve`: the forms' mixture, flat past the base where a move was not made), as
 * plot points; empty for plans stored before laws carried it, which then draw their line u₀ + γ·log2 w. */
function appliedCurve(law, logAxis) {
  return Array.isArray(law?.curve)
    ? law.curve.filter((c) => isNum(c?.[0]) && isNum(c?.[1])).map(([w, u]) => ({ width: w, value: fromU(u, logAxis) }))
    : [];
}

/** Inputs of the optimum-vs-width plot (`logAxis`: whether the HP was searched on a log scale). */
export function optimumFits(plan, hp, logAxis = true) {
  const fits = [];
  for (const [p, e] of entries(plan)) {
    const optima = optimaOf(e, hp).filter((o) => isNum(o.value));
    const law = lawOf(e, hp);
    if (!optima.length && !law) continue;
    const gamma = law?.gamma || {};
    const line = appliedCurve(law, logAxis);
    if (!line.length && law && isNum(gamma.value) && isNum(law.intercept)) {
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
 * The standard normal quantile of a central interval at `level` (Winitzki's approximation of erf⁻¹, within
 * 0.2 %), so a law's per-scale σ draws an error bar at the same level as the plan's other intervals.
 */
function zOf(level) {
  const x = isNum(level) && level > 0 && level < 1 ? level : 0.9;
  const a = 0.147;
  const ln = Math.log(1 - x * x);
  const t = 2 / (Math.PI * a) + ln / 2;
  return Math.SQRT2 * Math.sqrt(Math.sqrt(t * t - ln / a) - t);
}

/**
 * Inputs of an optimum-vs-budget plot (`key`: "horizon_transfer" or "batch_transfer"), in optimumFits' shape
 * with `width` standing for the budget (tokens per run or batch size). The planner fits these laws at one
 * proxy width (`fitWidth`) and stores only each scale's optimum in u with its bootstrap
 * σ, so the error bars are u ± z·σ at the law's level; the line is u₀ + γ·log2(scale) drawn out to the target
 * budget, whose marker is the law's value there with its interval (at the fit width, before the other moves).
 */
export function budgetFits(plan, key, hp, logAxis = true) {
  const fits = [];
  entries(plan).forEach(([p, e], colorIndex) => {
    const law = e?.[key]?.laws?.[hp];
    if (!law || !Array.isArray(law.scales) || !law.scales.length) return;
    const gamma = law.gamma || {};
    const z = zOf(gamma.level ?? law.target?.level);
    const points = law.scales.map((scale, i) => {
      const u = law.optima_u?.[i];
      const sigma = law.sigmas?.[i];
      const ci = isNum(u) && isNum(sigma);
      return { width: scale, value: isNum(u) ? fromU(u, logAxis) : null,
        low: ci ? fromU(u - z * sigma, logAxis) : null, high: ci ? fromU(u + z * sigma, logAxis) : null };
    });
    const line = appliedCurve(law, logAxis);
    const scales = [...law.scales, law.target_scale].filter((x) => isNum(x) && x > 0);
    if (!line.length && isNum(gamma.value) && isNum(law.intercept) && scales.length) {
      const lo = Math.min(...scales);
      const hi = Math.max(...scales);
      for (let i = 0; i <= 24; i += 1) {
        const x = lo * (hi / lo) ** (i / 24);
        line.push({ width: x, value: fromU(law.intercept + gamma.value * Math.log2(x), logAxis) });
      }
    }
    const t = law.target;
    fits.push({
      parametrization: p, hp, colorIndex, points, line, fitWidth: e[key].fit_width,
      gamma: gamma.value, gammaLow: gamma.low, gammaHigh: gamma.high,
      target: t && isNum(t.value) ? { width: law.target_scale, value: t.value, low: t.low, high: t.high } : null,
    });
  });
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
 * One transfer law's γ (the data's line) with its interval, and what the plan applied: under a promise the
 * move is shrunk toward it by a prior N(0, τ²) per doubling; without one a move whose interval holds 0 is not
 * made; the law may be a mixture of a line and drifts that level off (transfer.py, `form_weights`); where
 * its forms forecast the proxies worse than their own variance, that error per doubling widens the interval
 * (`form_error`).
 */
function gammaHtml(label, law) {
  const g = law?.gamma || {};
  if (!isNum(g.value)) return "";
  const bounds = isNum(g.low) && isNum(g.high) ? ` [${g.low.toFixed(2)}, ${g.high.toFixed(2)}]` : "";
  const forms = Object.entries(law.form_weights || {}).filter(([, w]) => isNum(w) && w >= 0.005)
    .map(([f, w]) => `${f.replace("_", " ")} ${w.toFixed(2)}`).join(", ");
  const notes = [];
  if (law.model === "invariant") notes.push(`compatible with 0: shrunk toward the promise, prior τ = ${fmtNum(law.promise_scale, 2)}`);
  else if (isNum(law.promise_scale)) notes.push(`promise refuted: shrunk by its prior, τ = ${fmtNum(law.promise_scale, 2)}`);
  if (law.model === "unresolved") notes.push("the move's interval holds 0: not made");
  if (forms && !forms.startsWith("power law 1.00")) notes.push(`forms: ${forms}`);
  if (isNum(law.form_error) && law.form_error >= 0.005) {
    notes.push(`forecasts of the proxies missed: ±${law.form_error.toFixed(2)} per doubling of extrapolation added`);
  }
  const kept = notes.length ? ` (${esc(notes.join("; "))}; interval from the data)` : "";
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

/** Where a move started and ended, in its axis's unit (a timescale move keeps τ: one value). */
function moveSpan(m) {
  if (m.axis === "timescale") return `τ = ${fmtNum(m.source, 3)} of a run (kept)`;
  const fmt = ["horizon", "n_params"].includes(m.axis) ? (x) => fmtCount(x) : (x) => fmtNum(x, 6);
  const unit = m.axis === "horizon" ? " tokens" : "";
  return `${esc(fmt(m.source))} → ${esc(fmt(m.target))}${unit}`;
}

/** A move's change: ×factor for a log-scale HP, +change for a linear one, with the octaves crossed. */
function moveChange(m) {
  const change = isNum(m.factor) ? `×${fmtNum(m.factor, 3)}`
    : isNum(m.change) ? `${m.change >= 0 ? "+" : "−"}${fmtNum(Math.abs(m.change), 3)}` : "—";
  const octaves = isNum(m.octaves) ? `over ${fmtNum(m.octaves, 3)} octave${m.octaves === 1 ? "" : "s"}` : "";
  return `<b class="move-change" title="${esc(octaves)}">${esc(change)}</b>`;
}

/** γ with its interval; the law's model (e.g. "invariant": shrunk toward the promise) in the tooltip, and a
 * move the data did not resolve marked as not made. */
function moveGamma(m) {
  const g = m.gamma;
  if (!g || !isNum(g.value)) return `<span class="muted">${esc(m.model || "—")}</span>`;
  const bounds = isNum(g.low) && isNum(g.high) ? ` <span class="muted">[${g.low.toFixed(2)}, ${g.high.toFixed(2)}]</span>` : "";
  const skipped = m.applied === false ? ` <span class="muted">(unresolved: not moved)</span>` : "";
  return `<span title="${esc(m.model || "")}">γ = ${g.value.toFixed(2)}${bounds}</span>${skipped}`;
}

/**
 * Every axis each HP moved along on its way from the proxies to the target (width, depth, token horizon,
 * batch size, AdamW timescale) and by how much: the target's value is the product of these moves, so a
 * reader can see which one dominates and how sure its γ is. Empty for plans that predate `moves`.
 */
function movesHtml(plan) {
  const level = entries(plan).flatMap(([, e]) => e.moves || []).find((m) => isNum(m.gamma?.level))?.gamma.level;
  const rows = entries(plan).flatMap(([p, e]) => (e.moves || []).map((m) => `<tr data-parametrization="${esc(p)}"
    data-hparam="${esc(m.hparam)}" data-axis="${esc(m.axis)}"><td>${esc(paramLabel(p))}</td><td><code>${esc(m.hparam)}</code></td>
    <td class="move-axis">${esc(m.axis)}</td><td class="move-span">${moveSpan(m)}</td><td class="move-gamma">${moveGamma(m)}</td>
    <td class="num">${moveChange(m)}</td></tr>`));
  if (!rows.length) return "";
  return `<div id="plan-moves" class="row-gap"><b>How each value moved from the proxies to the target</b>
    <div class="table-scroll"><table class="data"><thead><tr><th>Parametrization</th><th>HP</th><th>along</th>
    <th>from → to</th><th>γ${isNum(level) ? ` (${Math.round(100 * level)} % interval)` : ""}</th><th class="num">change</th></tr></thead><tbody>${rows.join("")}</tbody></table></div></div>`;
}

/** A run's budget: tokens, batch size, steps, and its schedule's warmup and decay in steps (both are
 * fractions of the run, so a longer target warms up and decays over more steps than the proxies); "" for a
 * plan that predates budgets. */
function budgetHtml(run) {
  const sch = run?.schedule;
  const parts = [];
  if (isNum(run?.tokens ?? run?.tokens_per_trial)) parts.push(`${fmtCount(run.tokens ?? run.tokens_per_trial)} tokens`);
  if (isNum(run?.batch_size)) parts.push(`batch ${run.batch_size}`);
  const steps = run?.steps ?? sch?.steps;
  if (isNum(steps)) parts.push(`${steps.toLocaleString("en")} steps`);
  if (sch) {
    const decay = sch.kind === "constant" ? "no decay"
      : `decay ${isNum(sch.decay_steps) ? sch.decay_steps : isNum(steps) ? steps - (sch.warmup_steps || 0) : "—"} steps`;
    parts.push(`${esc(sch.kind)} schedule: warmup ${isNum(sch.warmup_steps) ? sch.warmup_steps : "—"} steps, ${decay}`);
  }
  return parts.join(" · ");
}

/** The proxies' scans beside their base budget, when the sweep ran any. */
function scansHtml(proxy) {
  const extra = (list, base) => (Array.isArray(list) ? list.filter((x) => x !== base) : []);
  const tokens = extra(proxy.token_budgets, proxy.tokens_per_trial);
  const batches = extra(proxy.batch_sizes, proxy.batch_size);
  const parts = [tokens.length ? `token scans ${tokens.map(fmtCount).join(", ")}` : "",
    batches.length ? `batch scans ${batches.join(", ")}` : ""].filter(Boolean);
  return parts.length ? ` <span class="muted">(${esc(parts.join("; "))}${proxy.scan_widths
    ? ` at ${esc(proxy.scan_widths === "all" ? "every width" : "the narrowest width")}` : ""})</span>` : "";
}

/** AdamW's timescale τ = B/(η·λ·D) per parametrization, at the proxies' optimum and at the target. */
function timescaleHtml(plan) {
  const items = entries(plan).filter(([, e]) => e.timescale).map(([p, e]) => {
    const t = e.timescale;
    const kept = (e.moves || []).some((m) => m.axis === "timescale");
    const note = kept ? "weight decay set to keep it" : "weight decay not swept: the target's τ follows its B, η, D";
    return `<div data-timescale-for="${esc(p)}"><b>${esc(paramLabel(p))}</b>: proxies ${fmtNum(t.proxy?.tau, 3)} →
      target ${fmtNum(t.target?.tau, 3)} of a run <span class="muted">(${esc(note)})</span></div>`;
  });
  if (!items.length) return "";
  const mode = entries(plan).find(([, e]) => e.timescale)?.[1].timescale.mode;
  const formula = mode === "independent" ? "B/(λ·D)" : "B/(η·λ·D)";
  return `<dt>AdamW timescale τ = ${formula} <span class="muted">(B in tokens)</span></dt><dd id="plan-timescale">${items.join("")}</dd>`;
}

function listHtml(title, items, cls) {
  if (!items.length) return "";
  return `<div class="${cls}"><b>${esc(title)}</b><ul class="messages muted">${items.map((n) => `<li>${esc(n)}</li>`).join("")}</ul></div>`;
}

/** Where the target sits on the plan's size axis: "width 512", or "n_params 12.6M" for a study sized so. */
function targetSizeLabel(doc, spec) {
  const target = doc.target || {};
  if (target.scale === "n_params") return `n_params ${fmtCount(target.params ?? target.width)}`;
  const width = target.width ?? spec.target?.width;
  return isNum(width) ? `width ${width}` : "the target";
}

const BUDGET_UNITS = { tokens: "budget in tokens per run", tokens_per_param: "budget in tokens per parameter",
  none: "budget unknown (the file has no tokens column)" };

/**
 * An imported study's plan (`plan.imported`: source, size axis, budget unit, target, notes): planned from
 * runs a team already had, so there is nothing to train or launch; the card says so above the values.
 */
function importedPlanHtml(doc, spec) {
  const im = doc.imported;
  if (!im) return "";
  const meta = spec?.imported || {};
  const runs = isNum(meta.n_runs) ? `${meta.n_runs} runs, ${meta.n_diverged ?? 0} diverged` : `${doc.proxy?.trials ?? "—"} runs`;
  const notes = (im.notes || []).map((n) => `<li>${esc(n)}</li>`).join("");
  return `<div class="banner imported" id="plan-imported"><b>Imported study</b>: planned from the runs in
    <b>${esc(im.source || meta.source || "—")}</b> (${esc(runs)}), sized by <b>${esc(im.scale || "width")}</b>,
    ${esc(BUDGET_UNITS[im.budget_unit] || `budget in ${im.budget_unit || "—"}`)}${im.target ? "" : "; no target was given, so the plan is for the largest size in the file"}.
    <div id="plan-nothing-to-launch"><b>Imported runs: nothing to train or launch.</b> Train the target yourself with the
    transferred values below.</div>${notes ? `<ul class="messages" id="plan-imported-notes">${notes}</ul>` : ""}</div>`;
}

/** The plan card: transferred values, predicted loss ± interval, compute, recommendation, warnings. */
export function planCardHtml(plan, spec) {
  const doc = plan?.plan || plan || {};
  const imported = Boolean(doc.imported);
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
  // An imported file without a tokens column: no budget and no compute to show (the plan holds zeros).
  const noBudget = imported && doc.imported.budget_unit === "none";
  const targetBudget = noBudget ? "" : budgetHtml(target);
  const proxyBudget = noBudget ? "" : budgetHtml(proxy);
  const unknown = '<span class="muted">not known (the file has no tokens column)</span>';
  const warningItem = (w) => `<li>${w.parametrization ? `<b>${esc(paramLabel(w.parametrization))}</b>: ` : ""}${esc(w.message || w)}</li>`;
  return `${importedPlanHtml(doc, spec)}
    <table class="data row-gap" id="plan-table"><thead><tr><th>Parametrization</th>
      <th>Transferred to ${esc(targetSizeLabel(doc, spec))} (${esc(level)})</th>
      <th class="num">Predicted target val loss</th></tr></thead><tbody>${rows}</tbody></table>
    ${movesHtml(plan)}
    <dl class="kv row-gap">
      <dt>Objective</dt><dd id="plan-objective">${esc(doc.objective || "final validation loss")}</dd>
      <dt>Recommendation</dt><dd>${esc(doc.recommendation || "—")}</dd>
      <dt>${imported ? "Compute of the imported runs" : "Compute spent on proxies"}</dt><dd>${noBudget ? unknown : fmtFlops(proxy.flops)}
        <span class="muted">(${esc(proxy.trials ?? "—")} ${imported ? `runs${noBudget ? "" : ", estimated from their sizes and tokens"}` : "trials"})</span></dd>
      ${targetBudget ? `<dt>${imported ? "Target budget" : "Target run budget"}</dt><dd id="plan-target-budget">${targetBudget}</dd>` : ""}
      ${proxyBudget ? `<dt>${imported ? "Imported runs' base budget" : "Proxy budget"}</dt><dd id="plan-proxy-budget">${proxyBudget}${scansHtml(proxy)}</dd>` : ""}
      ${timescaleHtml(plan)}
      <dt>${imported ? "Target compute" : "Target run compute"}</dt><dd>${noBudget ? unknown : fmtFlops(target.flops)}${!noBudget && isNum(doc.compute_fraction)
        ? ` <span class="muted">(${imported ? "imported runs" : "proxies"} = ${fmtPct(doc.compute_fraction)} of it)</span>` : ""}</dd>
      <dt>What the prediction covers</dt><dd class="muted" style="white-space:normal">${esc(doc.prediction_covers || "—")}</dd>
    </dl>
    ${warnings.length ? `<details id="plan-warnings-fold"><summary>Warnings (${warnings.length})</summary>
      <ul class="messages" id="plan-warnings">${warnings.map(warningItem).join("")}</ul></details>`
      : '<div class="muted">No warnings.</div>'}`;
}
