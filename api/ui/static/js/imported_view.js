// An imported study on the sweep page: runs a team already had, uploaded as a file (POST /api/v1/imports,
// docs/import.md) and stored as a sweep in the `imported` state. Its trials are the file's rows (finished,
// never trained here), its spec is a view with the import's record under `imported` (source, axes, HPs,
// counts, size axis), and its plan carries `plan.imported`. Nothing was trained, so there is no coordinate
// check, no target run, no budget and no per-step metrics; this module says so and reads the rest.

import { esc, fmtCount, isNum } from "./format.js";

/** The import's record in a stored spec (null for a trained sweep). */
export function importedOf(spec) {
  return spec?.imported || null;
}

/** The size axis a study's plan fits along: "width", or "n_params" for an imported file without widths. */
export function sizeAxisOf(spec, plan) {
  const meta = importedOf(spec);
  if (!meta) return "width";
  const doc = plan?.plan || plan;
  return meta.scale || doc?.imported?.scale || "width";
}

/** One size as a reader names it: "width 128" or "n_params 12.6M". */
export function sizeLabel(axis, value) {
  return axis === "n_params" ? `n_params ${fmtCount(value)}` : `width ${value}`;
}

/** The sizes the plan fitted and its target's size, on the study's size axis (from the plan when it has
 * one, else from the spec's view): {sizes, target}. */
export function studySizes(spec, plan) {
  const doc = plan?.plan || plan || {};
  const axis = sizeAxisOf(spec, plan);
  const sizes = doc.proxy?.widths?.length ? doc.proxy.widths : spec?.proxy?.widths || [];
  const target = axis === "n_params" ? doc.target?.params ?? importedOf(spec)?.target?.n_params
    : doc.target?.width ?? spec?.target?.width;
  return { sizes, target: isNum(target) ? target : null };
}

/** The header's line under the title: where the runs came from, how many, their axes and swept HPs. */
export function importedHeaderHtml(meta) {
  const list = (xs) => (xs?.length ? xs.map((x) => `<code>${esc(x)}</code>`).join(", ") : "—");
  const runs = meta.n_runs ?? 0;
  const diverged = meta.n_diverged ?? 0;
  const cells = isNum(meta.n_cells) ? ` in ${meta.n_cells} cell${meta.n_cells === 1 ? "" : "s"}` : "";
  const ignored = meta.ignored_columns?.length ? `<span>ignored columns ${list(meta.ignored_columns)}</span>` : "";
  const skipped = meta.n_skipped ? `<span>${esc(meta.n_skipped)} skipped</span>` : "";
  return `<b>Imported study</b>
    <span>from <b id="imported-source">${esc(meta.source || "—")}</b></span>
    <span id="imported-counts"><b>${esc(runs)}</b> run${runs === 1 ? "" : "s"} (<b>${esc(diverged)}</b> diverged)${cells}</span>
    ${skipped}
    <span>axes ${list(meta.axes)}</span>
    <span>swept HPs ${list(meta.hps)}</span>
    <span>sized by <b>${esc(meta.scale === "n_params" ? "n_params" : "width")}</b></span>
    ${ignored}
    <span class="muted" id="imported-nothing">imported runs: nothing to train or launch</span>`;
}

/** What the coordinate-check and target-run panels say for an imported study. */
export const NOT_APPLICABLE = {
  coord: "Not applicable to an imported study: its runs were trained elsewhere, so no coordinate check ran.",
  target: "Not applicable to an imported study (imported runs: nothing to train or launch). Train the target "
    + "yourself with the plan's transferred values; its prediction is on the plan card.",
};

const budgetKey = (g) => `${g.tokens ?? ""}|${g.batch_size ?? ""}`;

/**
 * The groups of the trial summary (GET .../trials/summary) that the μTransfer plot draws for an imported
 * study. A trained sweep's token or batch scans are marked by their own budget; an imported file's runs all
 * carry their tokens and batch, so a size's curve is drawn at its base budget: where one size ran several
 * budgets, the one nearest the plan's base tokens (a "tokens" budget unit), then the budget most sizes ran,
 * then the one with most runs. {groups, left: how many groups were not drawn}.
 */
export function baseBudgetGroups(groups, plan) {
  const doc = plan?.plan || plan || {};
  const baseTokens = doc.proxy?.budget_unit === "tokens" && isNum(doc.proxy?.base_budget) ? doc.proxy.base_budget : null;
  const cover = new Map();
  for (const g of groups) {
    const key = budgetKey(g);
    if (!cover.has(key)) cover.set(key, new Set());
    cover.get(key).add(`${g.parametrization}|${g.width}`);
  }
  const runs = (g) => Object.values(g.points || {})[0]?.reduce((n, q) => n + (q.count || 0) + (q.diverged || 0), 0) || 0;
  const distance = (g) => (baseTokens && isNum(g.tokens) && g.tokens > 0 ? Math.abs(Math.log(g.tokens / baseTokens)) : 0);
  const cells = new Map();
  for (const g of groups) {
    const cell = `${g.parametrization}|${g.width}|${g.depth}`;
    if (!cells.has(cell)) cells.set(cell, []);
    cells.get(cell).push(g);
  }
  const kept = [];
  for (const members of cells.values()) {
    const best = [...members].sort((a, b) => distance(a) - distance(b)
      || cover.get(budgetKey(b)).size - cover.get(budgetKey(a)).size || runs(b) - runs(a))[0];
    kept.push(best);
  }
  return { groups: groups.filter((g) => kept.includes(g)), left: groups.length - kept.length };
}

/** The rows of a CSV text (RFC 4180: quoted cells may hold commas, quotes and line breaks). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') cell += c;
      else if (text[i + 1] === '"') { cell += '"'; i += 1; } else quoted = false;
    } else if (c === '"') {
      quoted = true;
    } else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else {
      cell += c;
    }
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0].trim() !== "");
}

/**
 * The μTransfer plot's groups of an n_params study, from its runs in the import format (GET .../runs): the
 * trial summary groups runs by width, which such a file does not have (stored as 0), so every size would fall
 * into one "width 0" curve. Here a group is (parametrization, n_params, depth, tokens, batch size), in the
 * summary's shape with `width` holding n_params; per HP value the best loss over the other HPs' values, the
 * mean and standard error of the finished runs, and the diverged count. null when the file has no n_params.
 */
export function sizeGroupsFromRuns(text, hps) {
  const [header, ...rows] = parseCsv(text);
  const col = Object.fromEntries((header || []).map((name, i) => [name.trim(), i]));
  if (col.n_params === undefined || col.loss === undefined) return null;
  const num = (row, name) => {
    if (col[name] === undefined) return null;
    const raw = (row[col[name]] ?? "").trim().toLowerCase();
    if (!raw) return null;
    if (["inf", "+inf", "infinity", "nan", "-inf"].includes(raw)) return Infinity;
    const v = Number(raw);
    return Number.isNaN(v) ? null : v;
  };
  const groups = new Map();
  for (const row of rows) {
    const size = num(row, "n_params");
    if (!isNum(size)) continue;
    const p = (row[col.parametrization] ?? "").trim() || "sp";
    const depth = num(row, "depth");
    const tokens = num(row, "tokens");
    const batch = num(row, "batch_size");
    const key = [p, size, depth, tokens, batch].join("|");
    if (!groups.has(key)) {
      groups.set(key, { parametrization: p, width: size, depth, tokens, batch_size: batch,
        acc: Object.fromEntries(hps.map((hp) => [hp, new Map()])) });
    }
    const loss = num(row, "loss");
    const diverged = !isNum(loss);
    for (const hp of hps) {
      const value = num(row, hp);
      if (!isNum(value)) continue;
      const at = groups.get(key).acc[hp];
      const id = value.toPrecision(10);
      if (!at.has(id)) at.set(id, { value, losses: [], diverged: 0 });
      if (diverged) at.get(id).diverged += 1;
      else at.get(id).losses.push(loss);
    }
  }
  return [...groups.values()].map(({ acc, ...g }) => ({
    ...g,
    points: Object.fromEntries(Object.entries(acc).map(([hp, at]) => [hp, [...at.values()]
      .sort((a, b) => a.value - b.value).map(({ value, losses, diverged }) => pointOf(value, losses, diverged))])),
  }));
}

function pointOf(value, losses, diverged) {
  const n = losses.length;
  const mean = n ? losses.reduce((a, x) => a + x, 0) / n : null;
  const sd = n > 1 ? Math.sqrt(losses.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : null;
  return { value, low: null, high: null, best: n ? Math.min(...losses) : null, mean, sem: sd === null ? null : sd / Math.sqrt(n),
    count: n, diverged };
}
