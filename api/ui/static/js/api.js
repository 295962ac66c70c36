// The one HTTP client of the UI: every call goes through `request`, which adds the bearer token
// (kept in sessionStorage, so it is forgotten when the tab closes) and turns error bodies into
// `ApiError`s whose messages the pages show as they are.

const TOKEN_KEY = "mutransfer.token";
export const API = "/api/v1";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  /** status: HTTP status (0 when the server could not be reached); messages: readable lines. */
  constructor(status, messages) {
    super(messages.join("; "));
    this.status = status;
    this.messages = messages;
  }
}

/** Readable lines from an error body: the API's `errors` (one line per invalid field), else `detail`
 * (a string, or FastAPI's list of pydantic errors). */
export function errorMessages(body, fallback) {
  if (body && Array.isArray(body.errors) && body.errors.length) return body.errors.map(String);
  const detail = body && body.detail !== undefined ? body.detail : body;
  if (typeof detail === "string") return [detail];
  if (Array.isArray(detail)) {
    return detail.map((item) => {
      if (typeof item === "string") return item;
      const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
      const msg = item.msg || item.message || JSON.stringify(item);
      return loc ? `${loc}: ${msg}` : msg;
    });
  }
  if (detail && typeof detail === "object") {
    if (Array.isArray(detail.errors)) return errorMessages({ detail: detail.errors }, fallback);
    if (detail.message) return [String(detail.message)];
  }
  return [fallback];
}

/** fetch + JSON + errors. `body` is sent as JSON unless `contentType` says otherwise (YAML text). */
export async function request(method, path, { body, contentType, signal } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    payload = contentType ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, { method, headers, body: payload, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, ["The server cannot be reached; it may be stopped or restarting. Retrying…"]);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const fallback = `${method} ${path} failed with HTTP ${response.status}`;
    let messages = errorMessages(data, fallback);
    if (response.status === 401) {
      messages = [`${messages[0]} — paste an API token with “API token” at the top right.`];
    }
    throw new ApiError(response.status, messages);
  }
  return data;
}

export const get = (path, opts) => request("GET", path, opts);
export const post = (path, body, opts = {}) => request("POST", path, { ...opts, body });
export const del = (path, opts) => request("DELETE", path, opts);

/** The items of a paginated list endpoint, whatever envelope it uses (`items`, `trials`, a bare list). */
export function itemsOf(page, key) {
  if (Array.isArray(page)) return page;
  if (!page) return [];
  for (const k of [key, "items", "data", "results"]) {
    if (k && Array.isArray(page[k])) return page[k];
  }
  return [];
}
