// The sweeps page: the table of sweeps (status, progress, best loss, created), filters, and the
// "new sweep" YAML editor. The YAML text goes to the server as it is: the server's validation is the one
// source of truth, and its messages are shown next to the editor.

import { ApiError, get, itemsOf, request } from "./api.js";
import { $, badge, esc, fmtNum, fmtTime, progressBar, showState } from "./format.js";
import { renderShell } from "./shell.js";
import { loadStatuses } from "./statuses.js";

const POLL_MS = 2000;
let TERMINAL = new Set();  // from the status table (statuses.js), set by `init`
const PAGE_SIZE = 50;

const state = { offset: 0, timer: null, inFlight: null };

/** done/total of a sweep row, whichever way the API spells the progress counts. */
export function progressOf(sweep) {
  const p = sweep.progress || {};
  const total = p.total ?? sweep.total_trials ?? 0;
  const done = p.done ?? sweep.done_trials ?? 0;
  return { done, total };
}

function queryString() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
  const status = $("#filter-status").value;
  const name = $("#filter-name").value.trim();
  if (status) params.set("status", status);
  if (name) params.set("name", name);
  return params.toString();
}

/** An imported study's row (runs a team already had, trained elsewhere): its run counts, not a progress bar. */
function importedProgress(s, total) {
  const diverged = s.progress?.counts?.diverged ?? 0;
  return `<span class="progress-label imported-runs" title="runs imported from a file: nothing to train or launch">`
    + `${total} run${total === 1 ? "" : "s"} imported${diverged ? ` (${diverged} diverged)` : ""}</span>`;
}

function rowHtml(s) {
  const { done, total } = progressOf(s);
  const best = s.best_loss ?? s.progress?.best_loss;
  const tags = (s.tags || []).map((t) => `<span class="badge tag">${esc(t)}</span>`).join(" ");
  const isImported = s.status === "imported";
  return `<tr data-sweep-id="${esc(s.id)}"${isImported ? ' class="imported"' : ""}>
    <td class="num">${esc(s.id)}</td>
    <td><a href="/sweeps/${encodeURIComponent(s.id)}">${esc(s.name)}</a> ${tags}</td>
    <td class="status">${badge(s.status)}</td>
    <td style="min-width:200px"><div class="filters">${isImported ? importedProgress(s, total) : `${progressBar(done, total)}
      <span class="progress-label">${done} / ${total}</span>`}</div></td>
    <td class="num best-loss">${fmtNum(best)}</td>
    <td>${fmtTime(s.created_at)}</td></tr>`;
}

async function refresh() {
  const body = $("#sweeps-body");
  state.inFlight?.abort();
  const controller = new AbortController();
  state.inFlight = controller;
  let page;
  try {
    page = await get(`sweeps?${queryString()}`, { signal: controller.signal });
  } catch (err) {
    if (err.name === "AbortError") return;
    $("#list-error").classList.remove("hidden");
    $("#list-error").textContent = err.message;
    schedule();
    return;
  }
  $("#list-error").classList.add("hidden");
  const sweeps = itemsOf(page, "sweeps");
  const total = typeof page?.total === "number" ? page.total : sweeps.length;
  if (sweeps.length === 0) {
    const filtered = $("#filter-status").value || $("#filter-name").value.trim();
    body.innerHTML = `<tr><td colspan="6"><div class="state">${
      filtered ? "No sweep matches these filters." : "No sweeps yet. Create one with “New sweep”."}</div></td></tr>`;
  } else {
    body.innerHTML = sweeps.map(rowHtml).join("");
  }
  const last = Math.min(state.offset + sweeps.length, total);
  $("#pager-label").textContent = total ? `${state.offset + 1}–${last} of ${total}` : "";
  $("#pager-prev").disabled = state.offset === 0;
  $("#pager-next").disabled = last >= total;
  schedule(sweeps.some((s) => !TERMINAL.has(s.status)));
}

function schedule(active = true) {
  clearTimeout(state.timer);
  // Poll fast while something runs; slowly otherwise, so new sweeps from the CLI still appear.
  state.timer = setTimeout(refresh, active ? POLL_MS : 5 * POLL_MS);
}

function showMessages(kind, title, messages) {
  const box = $("#form-messages");
  box.className = `banner ${kind}`;
  box.innerHTML = `<b>${esc(title)}</b>${messages.length ? `<ul class="messages">${messages
    .map((m) => `<li>${esc(m)}</li>`).join("")}</ul>` : ""}`;
}

/** Validate the YAML on the server (a dry run: problems come back as a report, not as a failed request),
 * then submit it. */
async function submitSweep(ev) {
  ev.preventDefault();
  const text = $("#spec-yaml").value;
  const button = $("#spec-submit");
  if (!text.trim()) {
    showMessages("error", "The spec is empty.", ["Paste a sweep spec in YAML, or load the starter."]);
    return;
  }
  button.disabled = true;
  showMessages("info", "Validating…", []);
  try {
    const report = await request("POST", "sweeps/validate", { body: text, contentType: "application/yaml" });
    if (!report.valid) {
      showMessages("error", "The spec is not valid:", report.errors);
      return;
    }
    showMessages("info", `Valid: ${report.total_trials} proxy trials. Submitting…`, []);
    const created = await request("POST", "sweeps", { body: text, contentType: "application/yaml" });
    window.location.assign(`/sweeps/${encodeURIComponent(created.id)}`);
  } catch (err) {
    const messages = err instanceof ApiError ? err.messages : [String(err)];
    const title = err.status === 422 ? "The spec is not valid:" : `The server refused the sweep (HTTP ${err.status}):`;
    showMessages("error", title, messages);
  } finally {
    button.disabled = false;
  }
}

async function loadStarter() {
  const response = await fetch("/ui/static/starter.yaml");
  $("#spec-yaml").value = await response.text();
}

async function init() {
  renderShell(refresh);
  showState($("#sweeps-body-state"), "loading", "Loading sweeps…");
  $("#filter-status").addEventListener("change", () => { state.offset = 0; refresh(); });
  let debounce;
  $("#filter-name").addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.offset = 0; refresh(); }, 250);
  });
  $("#pager-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); refresh(); });
  $("#pager-next").addEventListener("click", () => { state.offset += PAGE_SIZE; refresh(); });
  $("#new-sweep-toggle").addEventListener("click", async () => {
    const panel = $("#new-sweep");
    panel.classList.toggle("hidden");
    if (!panel.classList.contains("hidden") && !$("#spec-yaml").value) await loadStarter();
  });
  $("#spec-starter").addEventListener("click", loadStarter);
  $("#spec-form").addEventListener("submit", submitSweep);
  try {
    ({ terminal: TERMINAL } = await loadStatuses());
  } catch {
    // unreachable or not yet authorized: refresh() shows why; polling continues while TERMINAL is empty
  }
  refresh().finally(() => $("#sweeps-body-state").remove());
}

init();
