// Small pure helpers shared by every page: escaping, number/time formatting, DOM building.

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export const isNum = (x) => typeof x === "number" && Number.isFinite(x);

/** A loss or HP value with enough digits to compare neighbours; "—" when missing or not finite. */
export function fmtNum(x, digits = 4) {
  if (!isNum(x)) return "—";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(digits - 2);
  return Number(x.toPrecision(digits)).toString();
}

export function fmtPct(x) {
  return isNum(x) ? `${(100 * x).toFixed(x < 0.01 ? 2 : 1)}%` : "—";
}

export function fmtDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  const h = Math.floor(seconds / 3600);
  return `${h} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function fmtTime(iso, { seconds = false } = {}) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    hour12: false, ...(seconds ? { second: "2-digit" } : {}) });
}

/** Compute in FLOPs, e.g. 3.2e15 → "3.2 PFLOP". */
export function fmtFlops(x) {
  if (!isNum(x)) return "—";
  const units = ["", "k", "M", "G", "T", "P", "E", "Z"];
  let i = 0;
  let v = x;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${Number(v.toPrecision(3))} ${units[i]}FLOP`;
}

/** A count (tokens, steps) in three significant digits with an SI suffix, e.g. 163840 → "164k". */
export function fmtCount(x) {
  if (!isNum(x)) return "—";
  const units = ["", "k", "M", "G", "T", "P"];
  let i = 0;
  let v = x;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** A coloured status pill; `label` overrides the text (the colour still follows `status`). */
export function badge(status, label = null) {
  const s = String(status || "unknown");
  return `<span class="badge s-${esc(s)}">${esc(label ?? s.replace(/_/g, " "))}</span>`;
}

export function progressBar(done, total) {
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const cls = total > 0 && done >= total ? "progress done" : "progress";
  return `<div class="${cls}" role="progressbar" aria-valuemin="0" aria-valuemax="${total}" aria-valuenow="${done}">`
    + `<div class="fill" style="width:${(100 * frac).toFixed(1)}%"></div></div>`;
}

/** Set `el`'s content to a state message (loading / empty / error) that says what is happening. */
export function showState(el, kind, message) {
  el.innerHTML = `<div class="state ${esc(kind)}">${esc(message)}</div>`;
}

export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`page element ${selector} is missing`);
  return el;
}
