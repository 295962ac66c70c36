// The trial table: sortable by any column, filterable by status/parametrization/width/text, one page of rows
// at a time. The server sorts, filters and pages (GET .../trials?sort=&order=&status=&...&limit=&offset=), so
// the page holds 50 rows whether the sweep has 50 trials or 50,000.

import { badge, esc, fmtDuration, fmtNum } from "./format.js";
import { paramLabel } from "./plots.js";

const PAGE = 50;

/** The columns (`key`: the API's sort key); `hp` columns are added per swept hyperparameter. An imported
 * study's runs (`imported`) were trained elsewhere: a width the file did not give is stored as 0 and shown
 * as "—", and there are no steps to count. */
function columns(hps, imported = false) {
  const unknownWidth = '<span class="muted" title="the imported file has no width for this run">—</span>';
  return [
    { key: "id", label: "ID", num: true, value: (t) => t.id },
    { key: "parametrization", label: "Param.", value: (t) => t.parametrization, html: (t) => esc(paramLabel(t.parametrization)) },
    { key: "width", label: "Width", num: true, value: (t) => t.width,
      html: (t) => (imported && !t.width ? unknownWidth : esc(t.width ?? "—")) },
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
    { key: "steps_done", label: "Steps", num: true, value: (t) => t.steps_done,
      html: (t) => (imported && !t.steps_done ? "—" : esc(t.steps_done ?? "—")) },
    { key: "duration_s", label: "Time", num: true, value: (t) => t.duration_s, html: (t) => fmtDuration(t.duration_s) },
  ];
}

export class TrialTable {
  /**
   * root: the card body; fetchPage(query): the API's page for a URLSearchParams query ({items, total});
   * onCurve(trial): open the trial's loss curve.
   */
  constructor(root, { hps = ["lr"], fetchPage, onCurve }) {
    this.root = root;
    this.fetchPage = fetchPage;
    this.onCurve = onCurve;
    this.rows = [];
    this.total = 0; // trials matching the filters
    this.sweepTotal = 0; // trials of the sweep (set by the page from its progress counts)
    this.sort = { key: "final_val_loss", dir: 1 };
    this.page = 0;
    this.seq = 0;
    this.imported = false;
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
    const reload = (page) => { this.page = page; this.show(); };
    for (const id of ["tf-status", "tf-param", "tf-width"]) {
      root.querySelector(`#${id}`).addEventListener("change", () => reload(0));
    }
    let debounce;
    root.querySelector("#tf-text").addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => reload(0), 200);
    });
    root.querySelector("#tf-prev").addEventListener("click", () => reload(this.page - 1));
    root.querySelector("#tf-next").addEventListener("click", () => reload(this.page + 1));
    root.querySelector("thead").addEventListener("click", (ev) => {
      const th = ev.target.closest("th[data-key]");
      if (!th) return;
      const key = th.dataset.key;
      this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : 1 };
      reload(0);
    });
    root.querySelector("tbody").addEventListener("click", (ev) => {
      const link = ev.target.closest("a[data-curve]");
      if (!link) return;
      ev.preventDefault();
      const trial = this.rows.find((t) => String(t.id) === link.dataset.curve);
      if (trial) this.onCurve(trial);
    });
    this.renderHead();
  }

  setHps(hps) {
    this.hps = hps;
    this.cols = columns(hps, this.imported);
    if (this.root.querySelector("thead")) this.renderHead();
  }

  /** An imported study's runs: no per-step metrics (so no loss curve) and widths the file may not give. */
  setImported(imported) {
    if (this.imported === imported) return;
    this.imported = imported;
    this.setHps(this.hps);
    if (this.rows.length) this.render();
  }

  /** What the filters offer and the sweep's trial count: from the sweep (progress counts, spec), not the rows. */
  setChoices({ total, statuses, parametrizations, widths }) {
    this.sweepTotal = total;
    this.fillOptions("#tf-status", statuses);
    this.fillOptions("#tf-param", parametrizations, paramLabel);
    this.fillOptions("#tf-width", widths);
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

  /** The API query of the current page: filters, sort and window. */
  query() {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(this.page * PAGE), sort: this.sort.key,
      order: this.sort.dir > 0 ? "asc" : "desc" });
    const filters = { status: "#tf-status", parametrization: "#tf-param", width: "#tf-width" };
    for (const [name, selector] of Object.entries(filters)) {
      const value = this.root.querySelector(selector).value;
      if (value) q.set(name, value);
    }
    const text = this.root.querySelector("#tf-text").value.trim();
    if (text) q.set("q", text);
    return q;
  }

  filtering() {
    const q = this.query();
    return ["status", "parametrization", "width", "q"].some((k) => q.has(k));
  }

  /** Fetch and draw the current page (the poll calls this; errors go to the caller). A response that a
   * newer request overtook is dropped, so fast clicks never show an older page. */
  async refresh() {
    this.page = Math.max(this.page, 0);
    const seq = ++this.seq;
    let page = await this.fetchPage(this.query());
    if (seq !== this.seq) return;
    const pages = Math.max(1, Math.ceil((page.total || 0) / PAGE));
    if (this.page > pages - 1) { // the rows shrank under the page (or a filter narrowed them): show the last
      this.page = pages - 1;
      page = await this.fetchPage(this.query());
      if (seq !== this.seq) return;
    }
    this.rows = page.items || [];
    this.total = page.total || 0;
    this.render();
  }

  /** `refresh` for a click or a filter: a failure is shown in the table, not thrown into the void. */
  async show() {
    try {
      await this.refresh();
    } catch (err) {
      this.root.querySelector("tbody").innerHTML = `<tr><td colspan="${this.cols.length + 1}"><div class="state error">`
        + `Could not load the trials: ${esc(err.message || err)}</div></td></tr>`;
    }
  }

  renderHead() {
    const head = this.cols.map((c) => {
      const sort = c.key === this.sort.key ? (this.sort.dir > 0 ? "ascending" : "descending") : "none";
      return `<th class="sortable${c.num ? " num" : ""}" data-key="${esc(c.key)}" aria-sort="${sort}"${c.title ? ` title="${esc(c.title)}"` : ""}>${esc(c.label)}</th>`;
    }).join("");
    this.root.querySelector("thead").innerHTML = `<tr>${head}<th>Loss curve</th></tr>`;
  }

  render() {
    this.renderHead();
    const pages = Math.max(1, Math.ceil(this.total / PAGE));
    const body = this.rows.map((t) => `<tr data-trial-id="${esc(t.id)}" title="${esc(t.trial_key || "")}${t.error ? `: ${esc(t.error)}` : ""}">${
      this.cols.map((c) => `<td class="${c.num ? "num" : ""}">${c.html ? c.html(t) : esc(c.value(t) ?? "—")}</td>`).join("")}
      <td>${t.steps_done > 0 ? `<a href="#" data-curve="${esc(t.id)}">loss curve</a>` : this.imported
        ? '<span class="muted" title="the file gives each run\'s final loss only">imported: no per-step metrics</span>'
        : '<span class="muted">no steps yet</span>'}</td></tr>`).join("");
    const all = this.filtering() ? Math.max(this.sweepTotal, this.total) : this.total;
    const empty = all ? "No trial matches these filters."
      : this.imported ? "This imported study has no runs." : "No trials yet: they appear as the sweep starts them.";
    this.root.querySelector("tbody").innerHTML = body || `<tr><td colspan="${this.cols.length + 1}"><div class="state">${empty}</div></td></tr>`;
    this.root.querySelector("#tf-count").textContent = `${this.total} of ${all} trials`;
    this.root.querySelector("#tf-page").textContent = `page ${this.page + 1} of ${pages}`;
    this.root.querySelector("#tf-prev").disabled = this.page === 0;
    this.root.querySelector("#tf-next").disabled = this.page >= pages - 1;
  }
}
