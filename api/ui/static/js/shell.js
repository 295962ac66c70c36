// The frame around every page: the top bar with navigation and the API-token box.
// With auth off no token is needed; with auth on, the pasted token is kept for this tab only.

import { get, getToken, setToken } from "./api.js";
import { esc } from "./format.js";

export function renderShell(onTokenChange) {
  const bar = document.createElement("header");
  bar.className = "topbar";
  bar.innerHTML = `
    <a class="brand" href="/">mu<span>transfer</span></a>
    <nav><a href="/">Sweeps</a><a href="/docs">API docs</a></nav>
    <div class="auth" id="auth-box"></div>`;
  document.body.prepend(bar);
  const box = bar.querySelector("#auth-box");

  function draw() {
    const token = getToken();
    if (token) {
      box.innerHTML = `<span id="token-info" title="kept in this tab's session storage">API token …${esc(token.slice(-4))}</span>
        <button type="button" id="token-clear">Forget</button>`;
      // Say what the token grants (or that the server rejects it) before the pages use it.
      get("auth/whoami").then((who) => {
        const scope = who.project ? `project ${who.project}` : "every project";
        box.querySelector("#token-info").textContent = `token …${token.slice(-4)}: ${scope}${who.read_only ? ", read-only" : ""}`;
      }).catch((err) => {
        box.querySelector("#token-info").textContent = `token …${token.slice(-4)} rejected (HTTP ${err.status})`;
      });
      box.querySelector("#token-clear").addEventListener("click", () => {
        setToken("");
        draw();
        onTokenChange?.();
      });
    } else {
      box.innerHTML = `<form id="token-form" class="filters">
          <input id="token-input" type="password" placeholder="API token (if the server needs one)" size="28"
            autocomplete="off" aria-label="API token">
          <button type="submit">Use token</button></form>`;
      box.querySelector("#token-form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        const value = box.querySelector("#token-input").value.trim();
        if (!value) return;
        setToken(value);
        draw();
        onTokenChange?.();
      });
    }
  }
  draw();
}
