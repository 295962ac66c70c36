// The sweep page: polls the API every 2 s (no reload) and redraws what changed: the header (status,
// progress, ETA, cancel), the μTransfer plot and the trial table (when trial counts move), the
// coordinate check, plan, scaling-law and optimum plots (when the sweep reaches a new stage), and the
// target run's loss curve (while it runs). It never holds every trial: the μTransfer plot reads the
// server's aggregates (.../trials/summary) and the table one page of trials at a time, so the page costs
// the same at 200 trials as at 20,000. An imported study (runs a team already had, imported_view.js) is
// shown the same way, marked as imported, without the coordinate-check and target-run stages it never had.

import { ApiError, get, itemsOf, post } from "./api.js";
import { $, badge, esc, fmtCount, fmtDuration, fmtNum, fmtTime, isNum, showState } from "./format.js";
import {
  NOT_APPLICABLE, baseBudgetGroups, importedHeaderHtml, importedOf, sizeAxisOf, sizeGroupsFromRuns, sizeLabel, studySizes,
} from "./imported_view.js";
import {
  budgetFits, coordView, optimumFits, planCardHtml, scalingFits, targetPrediction, transferOptima,
} from "./plan_view.js";
import { drawsSettled, showFigure, showMessage } from "./figure_view.js";
import { coordFigure, lossCurveFigure, optimumFigure, paramLabel, scalingFigure, transferFigure } from "./plots.js";
import { renderShell } from "./shell.js";
import { loadStatuses } from "./statuses.js";
import { TrialTable } from "./trial_table.js";

const POLL_MS = 2000;
// The status table's groups (statuses.js, from the API): final sweep states, those a target may be launched
// from, and target states still training. Set by `init`.
let TERMINAL = new Set();
let LAUNCHABLE = new Set();
let TARGET_ACTIVE = new Set();

const match = window.location.pathname.match(/\/sweeps\/([^/]+)/);
const sweepId = match ? decodeURIComponent(match[1]) : "";
const base = `sweeps/${encodeURIComponent(sweepId)}`;

const state = {
  sweep: null,
  summary: null, // GET .../trials/summary: per group and HP value, what the μTransfer plot draws
  trialsKey: "",
  plan: null,
  coord: null,
  target: null,
  targetMetrics: [],
  outputsKey: "",
  sizeGroups: undefined, // an n_params study's μTransfer groups keyed by n_params (null: not readable)
  lastEventId: null,
  timer: null,
  polls: 0,
  cancelArmed: false,
};

let table;

/** Page-level error (e.g. the server went away): shown once, cleared when a poll succeeds. */
function pageError(message) {
  const el = $("#page-error");
  el.textContent = message;
  el.classList.toggle("hidden", !message);
}

function spec() {
  return state.sweep?.spec || {};
}

/** The import's record when this sweep is an imported study (its runs were trained elsewhere), else null. */
function imported() {
  return importedOf(spec()) || (state.sweep?.status === "imported" ? {} : null);
}

/** The size axis of the plots keyed by size: "width", or "n_params" for an imported file without widths. */
function sizeAxis() {
  return sizeAxisOf(spec(), state.plan);
}

const bySize = () => sizeAxis() === "n_params";

function sweptHps() {
  const space = spec().search?.space || {};
  const keys = Object.keys(space);
  return keys.length ? keys : ["lr"];
}

/** Whether `hp` was searched on a log scale (then it is plotted in log2). */
function hpIsLog(hp) {
  const param = spec().search?.space?.[hp];
  if (!param) return true;
  if (param.scale === "choice") return (param.choices || []).every((c) => c > 0);
  return param.scale === "log";
}

/** The searched interval of `hp` in plot units, padded a little (null when not a low/high range). */
function searchedRange(hp) {
  const param = spec().search?.space?.[hp];
  if (!param || !Number.isFinite(param.low) || !Number.isFinite(param.high)) return null;
  const log = hpIsLog(hp);
  const [lo, hi] = log ? [Math.log2(param.low), Math.log2(param.high)] : [param.low, param.high];
  const pad = 0.05 * (hi - lo);
  return [lo - pad, hi + pad];
}

/** The optimum-vs-size plot's x axis: width, or n_params for an imported study sized so. */
function optimumOptions() {
  return bySize() ? { axisName: "n_params", xTitle: "non-embedding parameters N (n_params)",
    xaxis: { dtick: "D2", tickformat: "~s" } } : {};
}

/** One optimum-vs-width panel per swept HP that the plan fitted. */
function optimumPanels() {
  // a fit with nothing to draw (no optimum, no law: every run at that HP diverged) would draw an empty panel
  const drawable = (f) => f.points.some((p) => isNum(p.value)) || f.line.length || f.target;
  return sweptHps().map((hp) => ({ hp, fits: optimumFits(state.plan, hp, hpIsLog(hp)).filter(drawable) }))
    .filter((q) => q.fits.length);
}

/** The budget axes the planner may fit laws along: plan key, plot and card ids, and the plot's x axis. */
const BUDGET_PLOTS = [
  { key: "horizon_transfer", plot: "#plot-horizon", card: "#horizon-card",
    options: { axisName: "tokens", xaxis: { dtick: "D2", tickformat: "~s" }, observedName: "optimum per token budget",
      targetName: "at the target's tokens" } },
  { key: "batch_transfer", plot: "#plot-batch", card: "#batch-card",
    options: { axisName: "batch size", observedName: "optimum per batch size", targetName: "at the target's batch size" } },
];

/**
 * The optimum-vs-tokens and optimum-vs-batch-size plots, each shown only when the plan fitted that law (a
 * sweep without token or batch scans has nothing to draw there, and an empty card would read as missing).
 */
function renderBudgetPlots() {
  let any = false;
  for (const { key, plot, card, options } of BUDGET_PLOTS) {
    const panels = sweptHps().map((hp) => ({ hp, fits: budgetFits(state.plan, key, hp, hpIsLog(hp)) }))
      .filter((q) => q.fits.length);
    $(card).classList.toggle("hidden", !panels.length);
    any ||= panels.length > 0;
    if (!panels.length) continue;
    // The laws are fitted at one proxy width: on the axis title when all share it, else in each fit's legend.
    const fits = panels.flatMap((q) => q.fits);
    const widths = [...new Set(fits.map((f) => f.fitWidth))];
    if (widths.length > 1) for (const f of fits) f.note = `(at width ${f.fitWidth})`;
    const xTitle = widths.length === 1 ? `${options.axisName} (proxies at width ${widths[0]})` : options.axisName;
    showFigure($(plot), optimumFigure(panels, { ...options, xTitle }));
  }
  $("#budget-plots").classList.toggle("hidden", !any);
}

// header ------------------------------------------------------------------------------------------
function renderHeader() {
  const s = state.sweep;
  const p = s.progress || {};
  const done = p.done ?? 0;
  const total = p.total ?? s.total_trials ?? 0;
  document.title = `${s.name} · mutransfer`;
  $("#sweep-name").textContent = `${s.name}`;
  const meta = imported();
  $("#sweep-status").innerHTML = badge(s.status);
  document.body.classList.toggle("imported-study", Boolean(meta));
  const counts = p.counts || {};
  const countText = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(", ");
  const eta = !["preflight", "running"].includes(s.status) ? "" : p.eta_s !== undefined && p.eta_s !== null ? fmtDuration(p.eta_s) : "estimating…";
  const sp = spec();
  const { sizes, target } = studySizes(sp, state.plan);
  const sizeText = bySize() ? `<span>sizes (n_params) <b>${esc(sizes.map(fmtCount).join(", ") || "—")}</b> → target
    <b>${esc(isNum(target) ? fmtCount(target) : "—")}</b></span>`
    : `<span>widths <b>${esc(sizes.join(", "))}</b> → target <b>${esc(target ?? "—")}</b></span>`;
  $("#sweep-meta").innerHTML = [
    `<span>${meta ? "study" : "sweep"} <b>#${esc(s.id)}</b></span>`,
    `<span>parametrizations <b>${esc((sp.parametrizations || []).map(paramLabel).join(", "))}</b></span>`,
    sizeText,
    `<span>${meta ? "imported" : "created"} <b>${esc(fmtTime(s.created_at))}</b></span>`,
    s.finished_at && !meta ? `<span>finished <b>${esc(fmtTime(s.finished_at))}</b></span>` : "",
  ].join("");
  const line = $("#sweep-imported");
  line.classList.toggle("hidden", !meta);
  if (meta) line.innerHTML = importedHeaderHtml(meta);
  const bar = $("#sweep-progress");
  bar.classList.toggle("done", total > 0 && done >= total);
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuenow", String(done));
  bar.setAttribute("aria-valuemax", String(total));
  bar.querySelector(".fill").style.width = `${total ? (100 * Math.min(done, total)) / total : 0}%`;
  $("#progress-label").textContent = meta ? `${total} imported runs${countText ? ` (${countText})` : ""}`
    : `${done} / ${total} trials${countText ? ` (${countText})` : ""}${eta ? ` · ETA ${eta}` : ""}`;
  renderBudget(s.budget);
  const cancel = $("#cancel-button");
  cancel.classList.toggle("hidden", TERMINAL.has(s.status));
  if (!state.cancelArmed) cancel.textContent = s.cancel_requested ? "Cancelling…" : "Cancel sweep";
  cancel.disabled = Boolean(s.cancel_requested);
  const err = $("#sweep-error");
  err.textContent = s.error ? `Error: ${s.error}` : "";
  err.classList.toggle("hidden", !s.error);
}

// The proxies' budget: each limit with its use, and which one stopped the proxies.
function renderBudget(budget) {
  const el = $("#sweep-budget");
  el.classList.toggle("hidden", !budget);
  if (!budget) return;
  const units = { max_wall_time: ["wall time", (v) => fmtDuration(v), "wall_time"],
    max_trial_hours: ["trial time", (v) => `${fmtNum(v)} h`, "trial_hours"],
    max_proxy_flops: ["proxy FLOPs", (v) => fmtNum(v), "proxy_flops"] };
  const parts = Object.entries(units)
    .filter(([key]) => budget.limits[key] !== null && budget.limits[key] !== undefined)
    .map(([key, [label, fmt, used]]) => `${label} ${fmt(budget.used[used])} of ${fmt(budget.limits[key])}`);
  el.textContent = `budget: ${parts.join(" · ")}${budget.reached ? ` — reached: ${budget.reached}` : ""}`;
  el.classList.toggle("warn", Boolean(budget.reached));
}

// μTransfer plot and trials -------------------------------------------------------------------------
/** How many trials the sweep has (any status), from the progress counts the header already has. */
function trialCount() {
  return Object.values(state.sweep?.progress?.counts || {}).reduce((a, n) => a + n, 0);
}

/**
 * The groups the μTransfer plot draws, and a note on what it left out. A trained sweep: only the width sweep's
 * groups (a token or batch scan's trial at the same width trained on another budget, so its loss would bend that
 * width's curve; the scans are read on the optimum-vs-budget plots). An imported study: every run carries its
 * budget, so each size is drawn at its base budget (imported_view.js), keyed by n_params when the file had no
 * widths. null: nothing can be drawn per size (the message says why).
 */
function transferGroups() {
  const groups = state.summary?.groups || [];
  if (!imported()) return { groups: groups.filter((g) => g.tokens == null && g.batch_size == null), note: "" };
  if (bySize()) {
    if (!state.sizeGroups) return null;
    return leftOut(baseBudgetGroups(state.sizeGroups, state.plan));
  }
  return leftOut(baseBudgetGroups(groups, state.plan));
}

function leftOut({ groups, left }) {
  const note = left === 1 ? "1 group of runs at another budget is not drawn"
    : left ? `${left} groups of runs at other budgets are not drawn` : "";
  return { groups, note };
}

function renderTransfer() {
  const el = $("#plot-transfer");
  const sp = spec();
  const chosen = transferGroups();
  const byParams = bySize();
  $("#transfer-size").textContent = byParams ? "size (n_params)" : "width";
  $("#transfer-imported-note").textContent = imported() ? `imported runs, each size at its base budget${
    chosen?.note ? `; ${chosen.note}` : ""}` : "";
  if (!chosen) {
    showMessage(el, "", "Per-size loss curves need the runs' sizes: this file gives sizes as n_params only (no width "
      + "column) and its runs could not be read back by size. The plots below use n_params; add a width column to see "
      + "one curve per width.");
    return;
  }
  const widthSweep = chosen.groups;
  const withLoss = widthSweep.some((g) => Object.values(g.points).some((pts) => pts.some((q) => q.count || q.diverged)));
  if (!withLoss && imported()) {
    showMessage(el, "", "None of the imported runs has a loss to draw.");
    return;
  }
  if (!withLoss) {
    showMessage(el, TERMINAL.has(state.sweep.status) ? "" : "loading",
      trialCount() ? "Waiting for the first trials to finish…" : "No trials yet: the sweep has not started its proxies.");
    return;
  }
  const single = sweptHps().length === 1 || sp.search?.algorithm === "grid";
  const hps = sweptHps().map((name) => ({ name, log: hpIsLog(name), range: searchedRange(name) }));
  el.classList.toggle("rows", hps.length > 1);
  showFigure(el, transferFigure(widthSweep, {
    hps, parametrizations: sp.parametrizations, widths: byParams ? studySizes(sp, state.plan).sizes : sp.proxy?.widths,
    connect: single, sizeLabel: (w) => sizeLabel(sizeAxis(), w),
    optima: Object.fromEntries(hps.map(({ name }) => [name, transferOptima(state.plan, name)])),
  }));
}

/** The μTransfer plot's aggregates and the table's current page: two bounded requests, whatever the size. */
async function refreshTrials() {
  const counts = state.sweep.progress?.counts || {};
  table.setChoices({
    total: trialCount(),
    statuses: Object.keys(counts).filter((k) => counts[k] > 0).sort(),
    parametrizations: spec().parametrizations || [],
    widths: spec().proxy?.widths || [],
  });
  const [summary] = await Promise.all([get(`${base}/trials/summary`), table.refresh(), loadSizeGroups()]);
  state.summary = summary;
  renderTransfer();
}

/**
 * An n_params study's runs by size, read once (an imported study never changes): the trial summary groups by
 * width, which the file did not have, so the page reads the runs back in the import format (GET .../runs, as
 * large as the uploaded file at most). Left null when they cannot be read: the plot then says why.
 */
async function loadSizeGroups() {
  if (state.sizeGroups !== undefined || !imported() || !bySize()) return;
  try {
    state.sizeGroups = sizeGroupsFromRuns(await get(`${base}/runs`), sweptHps());
  } catch {
    state.sizeGroups = null;
  }
}

// loss curve of one trial (modal) -------------------------------------------------------------------
// `trial`: the row it was opened from; while that trial runs, each poll reads it again for its status.
const curve = { trial: null, metrics: [], timer: null };

/** Every metric row after step `since` (null: from the start), following the API's `has_more` pages. */
async function fetchMetrics(path, since) {
  const rows = [];
  let last = since;
  for (let guard = 0; guard < 1000; guard += 1) {
    const page = await get(last === null || last === undefined ? path : `${path}?since_step=${last}`);
    const items = itemsOf(page, "metrics");
    rows.push(...items);
    if (!items.length || !page.has_more) break;
    last = page.next_since_step ?? items[items.length - 1].step;
  }
  return rows;
}

async function openCurve(trial) {
  clearTimeout(curve.timer);
  curve.trial = trial;
  curve.metrics = [];
  $("#curve-title").textContent = `Trial ${trial.id}: ${paramLabel(trial.parametrization)}, width ${trial.width}`
    + ` (${trial.trial_key || ""})`;
  $("#curve-modal").classList.remove("hidden");
  const el = $("#plot-curve");
  showMessage(el, "loading", "Loading the loss curve…");
  await pollCurve();
}

async function pollCurve() {
  const trial = curve.trial;
  if (!trial) return;
  const el = $("#plot-curve");
  try {
    const last = curve.metrics.length ? curve.metrics[curve.metrics.length - 1].step : null;
    curve.metrics.push(...(await fetchMetrics(`${base}/trials/${trial.id}/metrics`, last)));
  } catch (err) {
    showMessage(el, "error", `Could not load the loss curve: ${err.message}`);
    return;
  }
  if (curve.trial !== trial) return;
  if (!curve.metrics.length) {
    showMessage(el, "", "This trial has reported no steps yet.");
  } else {
    showFigure(el, lossCurveFigure(curve.metrics));
  }
  if (!["running", "pending"].includes(trial.status)) return;
  let current = trial;
  try {
    current = await get(`${base}/trials/${trial.id}`);
  } catch {
    // keep polling with what we knew: the next poll asks again
  }
  if (curve.trial !== trial) return;
  curve.trial = current;
  if (["running", "pending"].includes(current.status)) curve.timer = setTimeout(pollCurve, POLL_MS);
}

function closeCurve() {
  clearTimeout(curve.timer);
  curve.trial = null;
  $("#curve-modal").classList.add("hidden");
}

// stage data: coordinate check, plan, target run ----------------------------------------------------
function renderCoord() {
  const el = $("#plot-coord");
  // The change since step 0 by default: the statistic every parametrization makes its sharpest claims about.
  const view = coordView(state.coord, $("#coord-stat").value || "delta_rms");
  const verdict = $("#coord-verdict");
  const box = $("#coord-select-box");
  el.classList.toggle("na", Boolean(imported()));
  if (imported()) {
    box.classList.add("hidden");
    verdict.innerHTML = "";
    showMessage(el, "", NOT_APPLICABLE.coord);
    return;
  }
  if (!view.length) {
    box.classList.add("hidden");
    verdict.innerHTML = "";
    const skipped = spec().preflight === "off";
    const message = skipped ? "No coordinate check for this sweep (preflight off)."
      : ["queued", "preflight"].includes(state.sweep.status) ? "The coordinate check runs before the proxies…"
        : "No coordinate check result is stored for this sweep.";
    showMessage(el, state.sweep.status === "preflight" ? "loading" : "", message);
    return;
  }
  const select = $("#coord-select");
  const names = view.map((v) => v.parametrization);
  if (select.dataset.values !== names.join("|")) {
    select.dataset.values = names.join("|");
    select.innerHTML = names.map((n) => `<option value="${esc(n)}">${esc(paramLabel(n))}</option>`).join("");
  }
  const chosen = view.find((v) => v.parametrization === select.value) || view[0];
  const statSelect = $("#coord-stat");
  if (statSelect.dataset.values !== chosen.stats.join("|")) {
    statSelect.dataset.values = chosen.stats.join("|");
    statSelect.innerHTML = chosen.stats.map((n) => `<option>${esc(n)}</option>`).join("");
  }
  statSelect.value = chosen.check.stat;
  box.classList.remove("hidden");
  verdict.innerHTML = `${badge(chosen.passed ? "passed" : "failed")} ${esc(paramLabel(chosen.parametrization))}`
    + (chosen.failing.length ? ` <span class="muted">off its predicted slope: ${esc(chosen.failing.join(", "))}</span>`
      : ` <span class="muted">every judged slope on its prediction</span>`);
  const item = state.coord.items.find((i) => i.parametrization === chosen.parametrization);
  showFigure(el, coordFigure({ ...chosen.check, slopes: coordSlopes(item, chosen.check.stat) }));
}

/** The API's per-module slope rows of one check, for one statistic: {module: {predicted, measured}}. */
function coordSlopes(item, stat) {
  const out = {};
  for (const row of item?.slopes || []) if (row.stat === stat) out[row.module] = row;
  return out;
}

function renderPlan() {
  const card = $("#plan-card");
  const sp = spec();
  const status = state.sweep.status;
  $("#plan-version").textContent = state.plan?.version ? `version ${state.plan.version}` : "";
  if (!state.plan) {
    const msg = imported() ? "No plan was made for this imported study: none of its runs could be used (every one "
      + "diverged, or too few sizes). Imported runs: nothing to train or launch."
      : status === "planning" ? "Fitting the optima and the scaling law…"
      : TERMINAL.has(status) ? "No plan was made for this sweep." : "The plan is made once the proxies finish.";
    showState(card, status === "planning" ? "loading" : "", msg);
  } else {
    card.innerHTML = planCardHtml(state.plan, sp);
  }
  // An imported study's runs were trained elsewhere: nothing to launch (its plan's target_choice is null).
  const launchable = !imported() && Boolean(state.plan) && LAUNCHABLE.has(status)
    && (sp.target?.auto_launch === false || status === "awaiting_approval")
    && (!state.target || !TARGET_ACTIVE.has(state.target.status));
  const button = $("#launch-button");
  button.classList.toggle("hidden", !launchable);
  button.textContent = state.target ? "Relaunch target run" : "Launch target run";
  const byParams = bySize();
  $("#optimum-title").textContent = byParams ? "Optimum against size (n_params)" : "Optimum against width";
  $("#optimum-note").innerHTML = byParams ? "one panel per swept hyperparameter: η*(N) ∝ N<sup>γ</sup>; μP promises γ ≈ 0"
    : "one panel per swept hyperparameter: η*(w) ∝ w<sup>γ</sup>; μP promises γ ≈ 0";
  $("#scaling-note").textContent = `best loss per ${byParams ? "size" : "width"}, fitted law to the target, band`;
  const sizeOptions = { sizeName: byParams ? "size" : "width", sizeLabel: (w) => sizeLabel(sizeAxis(), w) };
  const noPlan = !imported() ? "" : state.plan ? "The plan fitted nothing here: too few of the imported runs have a loss."
    : "No plan was made for this imported study.";
  for (const [id, fits, figure, empty] of [
    ["#plot-scaling", scalingFits(state.plan), (f) => scalingFigure(f, sizeOptions),
      noPlan || "The scaling-law fit appears with the plan."],
    ["#plot-optimum", optimumPanels(), (f) => optimumFigure(f, optimumOptions()),
      noPlan || `The optimum-vs-${byParams ? "size" : "width"} fit appears with the plan.`],
  ]) {
    const el = $(id);
    if (!fits.length) {
      showMessage(el, status === "planning" ? "loading" : "", empty);
    } else {
      showFigure(el, figure(fits));
    }
  }
  renderBudgetPlots();
}

function renderTarget() {
  const el = $("#plot-target");
  const t = state.target;
  $("#target-status").innerHTML = t ? badge(t.status) : "";
  el.classList.toggle("na", Boolean(imported()) && !t);
  if (!t && imported()) {
    $("#target-note").textContent = "";
    showMessage(el, "", NOT_APPLICABLE.target);
    return;
  }
  if (!t) {
    $("#target-note").textContent = "";
    const auto = spec().target?.auto_launch !== false;
    const msg = state.plan ? (auto ? "The target run starts automatically from the plan…" : "Waiting for approval: press “Launch target run”.")
      : "The target run is trained with the plan's values once the plan exists.";
    showMessage(el, "", msg);
    return;
  }
  const pred = targetPrediction(t, state.plan);
  const parts = [`width ${spec().target?.width ?? "—"}`, `predicted ${fmtNum(pred.loss)}`
    + (Number.isFinite(pred.low) ? ` [${fmtNum(pred.low)}, ${fmtNum(pred.high)}]` : "")];
  if (Number.isFinite(t.realized_loss)) {
    parts.push(`realized ${fmtNum(t.realized_loss)}${t.within_interval === true ? " (inside the interval)"
      : t.within_interval === false ? " (outside the interval)" : ""}`);
  }
  if (t.error) parts.push(`error: ${t.error}`);
  $("#target-note").textContent = parts.join(" · ");
  if (!state.targetMetrics.length) {
    showMessage(el, TARGET_ACTIVE.has(t.status) ? "loading" : "", TARGET_ACTIVE.has(t.status)
      ? "The target run is starting; its loss appears here as it trains…" : "The target run reported no steps.");
    return;
  }
  showFigure(el, lossCurveFigure(state.targetMetrics, { predicted: pred, logY: false }));
}

/** Fetch the later-stage documents that exist (per `outputs`), only when they changed since last time. */
async function refreshStage() {
  const out = await get(`${base}/outputs`);
  const key = JSON.stringify(out);
  if (key === state.outputsKey) return;
  const [coord, plan, target] = await Promise.all([
    out.coord_checks ? get(`${base}/coord-check`) : null,
    out.plan_version ? get(`${base}/plan`) : null,
    out.target_run ? get(`${base}/target-run`) : null,
  ]);
  if (target?.id !== state.target?.id) state.targetMetrics = [];
  Object.assign(state, { coord, plan, target, outputsKey: key });
  if (imported()) {
    renderHeader(); // an imported study's sizes and target are the plan's (n_params ones are not in the spec)
    await loadSizeGroups();
  }
  renderCoord();
  renderPlan();
  renderTransfer();
}

async function refreshTarget() {
  const finished = !TARGET_ACTIVE.has(state.target.status);
  if (finished && state.targetMetrics.length && state.targetMetricsDone === state.target.id) return;
  const last = state.targetMetrics.length ? state.targetMetrics[state.targetMetrics.length - 1].step : null;
  const rows = await fetchMetrics(`${base}/target-run/metrics`, last);
  state.targetMetrics.push(...rows);
  if (finished) state.targetMetricsDone = state.target.id;
  renderTarget();
}

// events ------------------------------------------------------------------------------------------------
async function refreshEvents() {
  const query = state.lastEventId === null ? "" : `?after_id=${state.lastEventId}`;
  const page = await get(`${base}/events${query}`);
  const events = itemsOf(page, "events");
  if (!events.length) {
    if (state.lastEventId === null) $("#events").innerHTML = '<li class="muted">No events yet.</li>';
    return;
  }
  const list = $("#events");
  if (state.lastEventId === null) list.innerHTML = "";
  list.insertAdjacentHTML("beforeend", events.map((e) => `<li><span class="muted">${esc(fmtTime(e.ts, { seconds: true }))}</span>
    <span class="lvl-${esc(e.level)}">${esc(e.level)}</span><span>${esc(e.message)}</span></li>`).join(""));
  state.lastEventId = page.next_after_id ?? events[events.length - 1].id;
  list.scrollTop = list.scrollHeight;
}

// the poll loop -----------------------------------------------------------------------------------------
async function tick() {
  clearTimeout(state.timer);
  try {
    state.sweep = await get(base);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      $("#sweep-name").textContent = `Sweep ${sweepId} not found`;
      pageError(`There is no sweep ${sweepId} (or it belongs to another project). Go back to the sweeps list.`);
      return;
    }
    pageError(err.message);
    state.timer = setTimeout(tick, POLL_MS);
    return;
  }
  pageError("");
  if (!state.polls) setUpHps();
  renderHeader();
  const s = state.sweep;
  const p = s.progress || {};
  const jobs = [];
  const trialsKey = JSON.stringify([s.status, p.counts, p.done]);
  // Trials change when counts move; while some run, refresh them every few polls for their step counts.
  if (trialsKey !== state.trialsKey || ((p.counts?.running ?? 0) > 0 && state.polls % 3 === 0)) {
    jobs.push(refreshTrials().then(() => { state.trialsKey = trialsKey; }));
  }
  // Outputs appear while the sweep is active (and after a re-plan or relaunch): one cheap index per poll.
  jobs.push(refreshStage().then(() => (state.target ? refreshTarget() : renderTarget())));
  jobs.push(refreshEvents());
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) pageError(`Some parts could not be refreshed: ${failed.reason?.message || failed.reason}`);
  state.polls += 1;
  if (!document.body.dataset.rendered) {
    await drawsSettled();
    // First complete render (header, plots, table): read by browser tests and bench/ui_render.py.
    document.body.dataset.rendered = "1";
    window.firstRenderMs = performance.now();
  }
  const idle = TERMINAL.has(s.status) && !(state.target && TARGET_ACTIVE.has(state.target.status));
  // A finished sweep changes only when someone re-plans or relaunches: poll slowly then.
  state.timer = setTimeout(tick, idle ? 5 * POLL_MS : POLL_MS);
}

async function cancelSweep() {
  const button = $("#cancel-button");
  if (!state.cancelArmed) {
    state.cancelArmed = true;
    button.textContent = "Click again to cancel";
    setTimeout(() => { state.cancelArmed = false; if (state.sweep) renderHeader(); }, 4000);
    return;
  }
  state.cancelArmed = false;
  button.disabled = true;
  button.textContent = "Cancelling…";
  try {
    await post(`${base}/cancel`);
  } catch (err) {
    pageError(`Cancel failed: ${err.message}`);
    button.disabled = false;
  }
  tick();
}

async function launchTarget() {
  const button = $("#launch-button");
  button.disabled = true;
  try {
    state.target = await post(`${base}/target-run`);
    state.targetMetrics = [];
    state.outputsKey = "";
  } catch (err) {
    pageError(`Launching the target run failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
  tick();
}

async function init() {
  renderShell(tick);
  if (!sweepId) {
    pageError("No sweep id in the address: open a sweep from the sweeps list.");
    return;
  }
  for (const id of ["#plot-transfer", "#plot-coord", "#plot-scaling", "#plot-optimum", "#plot-target"]) {
    showMessage($(id), "loading", "Loading…");
  }
  table = new TrialTable($("#trial-table-root"), {
    hps: [], onCurve: openCurve, fetchPage: (query) => get(`${base}/trials?${query}`),
  });
  $("#cancel-button").addEventListener("click", cancelSweep);
  $("#launch-button").addEventListener("click", launchTarget);
  $("#curve-close").addEventListener("click", closeCurve);
  $("#curve-modal").addEventListener("click", (ev) => { if (ev.target.id === "curve-modal") closeCurve(); });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeCurve(); });
  $("#coord-select").addEventListener("change", renderCoord);
  $("#coord-stat").addEventListener("change", renderCoord);
  try {
    ({ terminal: TERMINAL, launchable: LAUNCHABLE, targetUnfinished: TARGET_ACTIVE } = await loadStatuses());
  } catch (err) {
    pageError(err instanceof ApiError ? err.messages.join(" ") : String(err));
    return;
  }
  tick();
}

/** Once the spec is known: one table column per swept hyperparameter. */
function setUpHps() {
  table.setHps(sweptHps());
  table.setImported(Boolean(imported()));
}

init();
