// The shell: hash router, the token dialog, the "waiting for the API" notice.
//
// Pages are hash routes (#/pools/x) so `/` is the only document the server
// serves.  Each view gets a `page` object: its root element, route params and
// query, an AbortSignal that fires when the user leaves, and `every()` for
// live refresh that pauses while the tab is hidden or a dialog is open.

import { ApiError, token } from "./api.js";
import { h, icon } from "./dom.js";
import { deploymentsView } from "./deployments.js";
import { createPoolView, editPoolView } from "./pool_form.js";
import { poolView } from "./pool_page.js";
import { poolsView } from "./pools.js";
import { runView } from "./run_page.js";
import { runsView } from "./runs.js";
import { button, dialog, errorPanel, spinner } from "./ui.js";

const ROUTES = [
  [/^\/pools$/, poolsView, "pools"],
  [/^\/pools\/new$/, createPoolView, "pools"],
  [/^\/pools\/([^/]+)\/edit$/, editPoolView, "pools"],
  [/^\/pools\/([^/]+)$/, poolView, "pools"],
  [/^\/deployments$/, deploymentsView, "deployments"],
  [/^\/runs$/, runsView, "runs"],
  [/^\/runs\/([^/]+)$/, runView, "runs"],
];

const main = document.getElementById("main");
let current = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/pools";
  const [path, search = ""] = raw.split("?");
  return { path: path || "/pools", query: new URLSearchParams(search) };
}

/** A live-refresh loop: skips while hidden, while a dialog is open, or while a pass runs. */
function every(controller, ms, fn) {
  let running = false;
  const id = setInterval(async () => {
    if (running || document.hidden || document.querySelector("dialog[open]")) return;
    running = true;
    try {
      await fn();
      refreshFailed(null);
    } catch (error) {
      if (error instanceof ApiError && error.status === -1) return;
      refreshFailed(error);
    } finally {
      running = false;
    }
  }, ms);
  controller.signal.addEventListener("abort", () => clearInterval(id));
}

function refreshFailed(error) {
  const notice = document.getElementById("refresh-notice");
  if (!error) {
    notice?.remove();
    return;
  }
  const text = `Live refresh failed: ${error.message} Retrying…`;
  if (notice) notice.lastChild.textContent = text;
  else main.prepend(h("div", { id: "refresh-notice", class: "alert alert-warn", role: "status" }, icon("alert"), h("span", {}, text)));
}

async function render({ focus = true } = {}) {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const { path, query } = parseHash();
  const match = ROUTES.map(([pattern, view, section]) => [pattern.exec(path), view, section]).find(([m]) => m);
  for (const link of document.querySelectorAll(".nav a")) {
    if (match && link.dataset.section === match[2]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = h("div", { class: "page" });
  main.replaceChildren(root);
  if (!match) {
    location.replace("#/pools");
    return;
  }
  const [m, view] = match;
  const page = {
    root,
    params: m.slice(1).map(decodeURIComponent),
    query,
    signal: controller.signal,
    every: (ms, fn) => every(controller, ms, fn),
    /** Change the query string without re-rendering (filters, tabs). */
    setQuery(values) {
      const next = new URLSearchParams(query);
      for (const [k, v] of Object.entries(values)) {
        if (v === undefined || v === null || v === "") next.delete(k);
        else next.set(k, v);
      }
      const qs = next.toString();
      history.replaceState(null, "", `#${path}${qs ? `?${qs}` : ""}`);
      page.query = next;
    },
    rerender: () => render({ focus: false }),
  };
  root.append(spinner());
  const slowNote = setTimeout(() => root.firstChild?.append?.(h("span", { class: "muted" }, " — the API is slow to answer")), 3000);
  try {
    await view(page);
    clearTimeout(slowNote);
    if (controller.signal.aborted) return;
    document.title = `${root.querySelector("h1")?.textContent ?? "pushpool"} · pushpool`;
    if (focus) root.querySelector("h1")?.focus({ preventScroll: true });
  } catch (error) {
    clearTimeout(slowNote);
    if (controller.signal.aborted || (error instanceof ApiError && error.status === -1)) return;
    showLoadError(root, error);
  }
}

function showLoadError(root, error) {
  if (!(error instanceof ApiError)) console.warn(error); // a bug in the UI: keep the page usable
  const heading = h("h1", { tabindex: "-1" }, error?.unauthorized ? "An API token is needed" : "This page could not load");
  const help = error?.unauthorized
    ? h("div", { class: "stack" }, h("p", {}, "This server requires an API token. Create one with ", h("code", {}, "pushpool token create --scope admin"), " and enter it here."), button("Enter API token", { kind: "primary", iconName: "key", onClick: () => askForToken() }))
    : errorPanel(error, () => render({ focus: false }));
  root.replaceChildren(h("header", { class: "page-head" }, heading), help);
  document.title = "pushpool";
}

// -- the token ------------------------------------------------------------------------

let asking = null;

/** Ask for the API token (once at a time); re-render the page after a change. */
function askForToken(reason) {
  asking ??= dialog({
    title: "API token",
    body: (close) => {
      const input = h("input", { id: "token-input", type: "password", autocomplete: "off", spellcheck: "false", autofocus: true, "aria-describedby": "token-hint" });
      input.value = token.get();
      return h("form", {
        class: "dialog-body",
        onsubmit: (event) => {
          event.preventDefault();
          close({ value: input.value.trim() });
        },
      },
      reason ? h("p", { class: "alert alert-warn", role: "alert" }, reason) : null,
      h("div", { class: "field" },
        h("label", { for: "token-input" }, "Bearer token"),
        input,
        h("p", { class: "hint", id: "token-hint" }, "Create one with ", h("code", {}, "pushpool token create --scope admin"), ". It is kept in this tab's session storage and sent only to this server. A local server started without ", h("code", {}, "--auth"), " needs none.")),
      h("footer", { class: "dialog-actions" },
        token.get() ? button("Forget token", { kind: "ghost", onClick: () => close({ value: "" }) }) : null,
        button("Cancel", { onClick: () => close(undefined) }),
        button("Save", { kind: "primary", type: "submit" })));
    },
  }).then((result) => {
    asking = null;
    if (result) {
      token.set(result.value);
      render({ focus: false });
    }
  });
  return asking;
}

function showTokenState() {
  const el = document.getElementById("token-button");
  el.replaceChildren(icon("key"), token.get() ? "Token set" : "API token");
  el.setAttribute("aria-label", token.get() ? "API token (set); change or forget it" : "API token (none); enter one");
}

// -- wiring -------------------------------------------------------------------------

window.addEventListener("hashchange", () => render());
window.addEventListener("pushpool:token", showTokenState);
window.addEventListener("pushpool:unauthorized", (event) => {
  const reason = token.get() ? `The API refused the token: ${event.detail.message}` : "This server requires an API token.";
  askForToken(reason);
});
window.addEventListener("pushpool:slow", (event) => {
  const bar = document.getElementById("netstatus");
  if (event.detail) bar.replaceChildren(h("span", { class: "spin", "aria-hidden": "true" }), "Waiting for the API…");
  else bar.replaceChildren();
  bar.classList.toggle("visible", Boolean(event.detail));
});
document.getElementById("token-button").addEventListener("click", () => askForToken());
document.getElementById("skip-link").addEventListener("click", () => (main.querySelector("h1") ?? main).focus());

showTokenState();
render({ focus: false });
