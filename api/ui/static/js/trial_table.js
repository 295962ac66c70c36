// The trial table: sortable by any column, filterable by status/parametrization/width/text, paginated so
// that a sweep with thousands of trials renders one page of rows at a time.

import { badge, esc, fmtDuration, fmtNum } from "./format.js";
import { paramLabel } from "./plots.js";

const PAGE = 50;

/** The columns; `hp` columns are added per swept hyperparameter. */
function columns(hps) {
  return [
    { key: "id", label: "ID", num: true, value: (t) => t.id },
    { key: "parametrization", label: "Param.", value: (t) => t.parametrization, html: (t) => esc(paramLabel(t.parametrization)) },
    { key: "width", label: "Width", num: true, value: (t) => t.width },
    { key: "depth", label: "Depth", num: true, value: (t) => t.depth },
    { key: "seed", label: "Seed", num: true, value: (t) => t.seed },
    ...hps.map((hp) => ({ key: `hp:${hp}`, label: hp, num: true, value: (t) => t.hparams?.[hp], html: (t) => fmtNum(t.hparams?.[hp]) })),
    { key: "status", label: "Status", value: (t) => t.status,
      html: (t) => badge(t.status) + (t.reused_from_sweep ? ` <span class="reused" title="this result is trial ${esc(t.reused_from_trial)}'s: the same trial ran in sweep ${esc(t.reused_from_sweep)}, so it was not trained again">reused from sweep ${esc(t.reused_from_sweep)}</span>` : "") },
    { key: "final_val_loss", label: "Val loss (final)", title: "validation loss after the last step: the planner's objective",
      num: true, value: (t) => t.final_val_loss, html: (t) => fmtNum(t.final_val_loss) },
    { key: "best_loss", label: "Val loss (best)", title: "lowest validation loss at any evaluation during the run",
      num: true, value: (t) => t.best_loss, html: (t) => fmtNum(t.best_loss) },
    { key: "final_loss", label: "Train loss (last step)", title: "training loss of the last step's batch",
      num: true, value: (t) => t.final_loss, html: (t) => fmtNum(t.final_loss) },
    { key: "steps_done", label: "Steps", num: true, value: (t) => t.steps_done },
    { key: "duration_s", label: "Time", num: true, value: (t) => t.duration_s, html: (t) => fmtDuration(t.duration_s) },
  ];
}

/** Missing values sort last in both directions, so the top of a sorted column is always informative. */
export function compareBy(col, dir) {
  return (a, b) => {
    const va = col.value(a);
    const vb = col.value(b);
    const ma = va === null || va === undefined || (typeof va === "number" && !Number.isFinite(va));
    const mb = vb === null || vb === undefined || (typeof vb === "number" && !Number.isFinite(vb));
    if (ma || mb) return ma === mb ? a.id - b.id : ma ? 1 : -1;
    const c = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
    return (c || a.id - b.id) * dir;
  };
}

export class TrialTable {
  /** root: the card body; onCurve(trial): open the trial's loss curve. */
  constructor(root, { hps = ["lr"], onCurve }) {
    this.root = root;
    this.onCurve = onCurve;
    this.trials = [];
    this.sort = { key: "final_val_loss", dir: 1 };
    this.page = 0;
    this.setHps(hps);
    root.innerHTML = `
      <div class="filters row-gap">
        <label for="tf-status">Status</label><select id="tf-status"><option value="">any</option></select>
        <label for="tf-param">Parametrization</label><select id="tf-param"><option value="">any</option></select>
        <label for="tf-width">Width</label><select id="tf-width"><option value="">any</option></select>
        <input id="tf-text" type="search" placeholder="search trial key or error" size="24">
        <span class="muted" id="tf-count"></span>
      </div>
      <div class="table-scroll"><table class="data" id="trial-table"><thead></thead><tbody></tbody></table></div>
      <div class="pager"><span id="tf-page"></span><button type="button" id="tf-prev">Previous</button>
        <button type="button" id="tf-next">Next</button></div>`;
    for (const id of ["tf-status", "tf-param", "tf-width"]) {
      root.querySelector(`#${id}`).addEventListener("change", () => { this.page = 0; this.render(); });
    }
    let debounce;
    root.querySelector("#tf-text").addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { this.page = 0; this.render(); }, 200);
    });
    root.querySelector("#tf-prev").addEventListener("click", () => { this.page -= 1; this.render(); });
    root.querySelector("#tf-next").addEventListener("click", () => { this.page += 1; this.render(); });
    root.querySelector("thead").addEventListener("click", (ev) => {
      const th = ev.target.closest("th[data-key]");
      if (!th) return;
      const key = th.dataset.key;
      this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : 1 };
      this.page = 0;
      this.render();
    });
    root.querySelector("tbody").addEventListener("click", (ev) => {
      const link = ev.target.closest("a[data-curve]");
      if (!link) return;
      ev.preventDefault();
      const trial = this.trials.find((t) => String(t.id) === link.dataset.curve);
      if (trial) this.onCurve(trial);
    });
  }

  setHps(hps) {
    this.cols = columns(hps);
  }

  setTrials(trials) {
    this.trials = trials;
    this.fillOptions("#tf-status", [...new Set(trials.map((t) => t.status))].sort());
    this.fillOptions("#tf-param", [...new Set(trials.map((t) => t.parametrization))].sort(), paramLabel);
    this.fillOptions("#tf-width", [...new Set(trials.map((t) => t.width))].sort((a, b) => a - b));
    this.render();
  }

  fillOptions(selector, values, label = String) {
    const select = this.root.querySelector(selector);
    const current = select.value;
    const key = values.join("|");
    if (select.dataset.values === key) return;
    select.dataset.values = key;
    select.innerHTML = `<option value="">any</option>${values.map((v) => `<option value="${esc(v)}">${esc(label(v))}</option>`).join("")}`;
    select.value = values.map(String).includes(current) ? current : "";
  }

  filtered() {
    const status = this.root.querySelector("#tf-status").value;
    const param = this.root.querySelector("#tf-param").value;
    const width = this.root.querySelector("#tf-width").value;
    const text = this.root.querySelector("#tf-text").value.trim().toLowerCase();
    return this.trials.filter((t) => (!status || t.status === status) && (!param || t.parametrization === param)
      && (!width || String(t.width) === width)
      && (!text || `${t.trial_key || ""} ${t.error || ""}`.toLowerCase().includes(text)));
  }

  render() {
    const rows = this.filtered();
    const col = this.cols.find((c) => c.key === this.sort.key) || this.cols[0];
    rows.sort(compareBy(col, this.sort.dir));
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const shown = rows.slice(this.page * PAGE, (this.page + 1) * PAGE);
    const head = this.cols.map((c) => {
      const sort = c.key === col.key ? (this.sort.dir > 0 ? "ascending" : "descending") : "none";
      return `<th class="sortable${c.num ? " num" : ""}" data-key="${esc(c.key)}" aria-sort="${sort}"${c.title ? ` title="${esc(c.title)}"` : ""}>${esc(c.label)}</th>`;
    }).join("");
    this.root.querySelector("thead").innerHTML = `<tr>${head}<th>Loss curve</th></tr>`;
    const body = shown.map((t) => `<tr data-trial-id="${esc(t.id)}" title="${esc(t.trial_key || "")}${t.error ? `: ${esc(t.error)}` : ""}">${
      this.cols.map((c) => `<td class="${c.num ? "num" : ""}">${c.html ? c.html(t) : esc(c.value(t) ?? "—")}</td>`).join("")}
      <td>${t.steps_done > 0 ? `<a href="#" data-curve="${esc(t.id)}">loss curve</a>` : '<span class="muted">no steps yet</span>'}</td></tr>`).join("");
    const empty = this.trials.length ? "No trial matches these filters." : "No trials yet: they appear as the sweep starts them.";
    this.root.querySelector("tbody").innerHTML = body || `<tr><td colspan="${this.cols.length + 1}"><div class="state">${empty}</div></td></tr>`;
    this.root.querySelector("#tf-count").textContent = `${rows.length} of ${this.trials.length} trials`;
    this.root.querySelector("#tf-page").textContent = `page ${this.page + 1} of ${pages}`;
    this.root.querySelector("#tf-prev").disabled = this.page === 0;
    this.root.querySelector("#tf-next").disabled = this.page >= pages - 1;
  }
}
