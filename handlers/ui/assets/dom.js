// Small DOM helpers: an element builder, icons, time formatting, focus-keeping swaps.
// No framework: pages are rebuilt from API data, and `swap` keeps keyboard focus
// where it was when a live refresh replaces a region.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Build an element: h("a", {href: "#/x", class: "link"}, "text", child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "indeterminate") {
      el[key] = value;
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Stroke icons on a 24-unit grid (drawn for this UI; Feather-like shapes).
const ICONS = {
  check: ["M20 6 9 17l-5-5"],
  ready: ["M22 11.1V12a10 10 0 1 1-5.9-9.1", "M22 4 12 14l-3-3"],
  "not-ready": ["M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Z", "M12 8v4", "M12 16h.01"],
  paused: ["M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Z", "M10 15V9", "M14 15V9"],
  pause: ["M8 5v14", "M16 5v14"],
  play: ["M7 4v16l13-8Z"],
  plus: ["M12 5v14", "M5 12h14"],
  edit: ["M12 20h9", "M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4Z"],
  trash: ["M3 6h18", "M8 6V4h8v2", "M19 6l-1 14H6L5 6", "M10 11v6", "M14 11v6"],
  up: ["M12 19V5", "M5 12l7-7 7 7"],
  down: ["M12 5v14", "M19 12l-7 7-7-7"],
  x: ["M18 6 6 18", "M6 6l12 12"],
  key: ["M21 2l-2 2", "M15.5 7.5l3 3L22 7l-3-3", "M11.4 12.6a5.5 5.5 0 1 1-7.8 7.8 5.5 5.5 0 0 1 7.8-7.8Z", "M11.4 12.6 19 5"],
  refresh: ["M21 12a9 9 0 1 1-2.6-6.4", "M21 3v6h-6"],
  pools: ["M3 5h18v5H3Z", "M3 14h18v5H3Z", "M7 7.5h.01", "M7 16.5h.01"],
  deployments: ["M12 2 3 7l9 5 9-5Z", "M3 12l9 5 9-5", "M3 17l9 5 9-5"],
  runs: ["M13 2 4 14h7l-1 8 9-12h-7Z"],
  push: ["M5 12h14", "M13 6l6 6-6 6"],
  pull: ["M19 12H5", "M11 6l-6 6 6 6"],
  managed: ["M12 2 4 6v6c0 5 3.4 8.7 8 10 4.6-1.3 8-5 8-10V6Z"],
  clock: ["M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Z", "M12 6v6l4 2"],
  alert: ["M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0Z", "M12 9v4", "M12 17h.01"],
  copy: ["M9 9h11v11H9Z", "M5 15H4V4h11v1"],
  worker: ["M4 4h16v12H4Z", "M8 20h8", "M12 16v4"],
  queue: ["M8 6h13", "M8 12h13", "M8 18h13", "M3 6h.01", "M3 12h.01", "M3 18h.01"],
  back: ["M19 12H5", "M12 19l-7-7 7-7"],
};

/** An inline SVG icon, hidden from assistive technology (the text next to it speaks). */
export function icon(name, { size = 16, cls = "" } = {}) {
  const svg = document.createElementNS(SVG_NS, "svg");
  for (const [k, v] of Object.entries({
    viewBox: "0 0 24 24", width: size, height: size, fill: "none", stroke: "currentColor",
    "stroke-width": 2, "stroke-linecap": "round", "stroke-linejoin": "round",
    "aria-hidden": "true", focusable: "false", class: `icon ${cls}`.trim(),
  })) svg.setAttribute(k, String(v));
  for (const d of ICONS[name] ?? ICONS.alert) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
const ABSOLUTE = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** "Nov 28, 2026, 18:39:17" in the reader's time zone; "—" for nothing. */
export function formatTime(iso) {
  return iso ? ABSOLUTE.format(new Date(iso)) : "—";
}

/** "12 sec. ago", "in 3 min." relative to now. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 5) return "just now";
  if (abs < 60) return RELATIVE.format(seconds, "second");
  if (abs < 3600) return RELATIVE.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return RELATIVE.format(Math.round(seconds / 3600), "hour");
  return RELATIVE.format(Math.round(seconds / 86400), "day");
}

/** A <time> showing relative time, with the absolute time as its tooltip. */
export function timeAgo(iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  return h("time", { datetime: iso, title: formatTime(iso) }, relativeTime(iso));
}

/** "1 h 2 min", "4.2 s" between two instants. */
export function duration(startIso, endIso) {
  if (!startIso) return "—";
  const ms = (endIso ? new Date(endIso) : new Date()) - new Date(startIso);
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Replace a region's children; if focus was inside, put it back on the element
 * with the same data-key (a live refresh must not throw keyboard users out).
 */
export function swap(region, ...children) {
  const active = document.activeElement;
  const key = region.contains(active) ? active?.closest("[data-key]")?.dataset.key : null;
  region.replaceChildren();
  append(region, children);
  if (key) region.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

/** Go to a hash route ("/pools/x"). */
export function navigate(path) {
  location.hash = path;
}

/** encodeURIComponent for path segments of both hash routes and API paths. */
export const enc = encodeURIComponent;

export function deepCopy(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// Mirrors core/services/job_view.py: values whose names or shapes look secret are hidden.
const SECRET_NAME = new RegExp(
  "secret|token|passw(or)?d|passphrase|pwd|credential|private|signature|cookie|session" +
  "|auth|api[_-]?key|access[_-]?key|(^|[_.-])key$|^key|dsn$|connection[_-]?string" +
  "|jwt|bearer|hmac|salt|webhook" +
  "|(database|db|redis|mongo(db)?|postgres(ql)?|mysql|amqp|broker|celery|smtp)[_-]?ur[il]",
  "i",
);
const SECRET_VALUE = new RegExp(
  "[a-z][a-z0-9+.-]*://[^/\\s:@]*:[^/\\s@]+@" +
  "|[a-z][a-z0-9+.-]*://[^/\\s:@]{16,}@" +
  "|^\\s*(bearer|basic|token)\\s+\\S{8,}" +
  "|^eyJ[\\w-]{8,}\\.[\\w-]{8,}\\.[\\w-]*$" +
  "|-----BEGIN [A-Z ]*PRIVATE KEY-----" +
  "|^(AKIA|ASIA)[0-9A-Z]{16}$" +
  "|^(ghp|gho|ghs|ghu|github_pat|glpat|xox[abposr]|sk|sk_live|rk_live)[_-][\\w-]{16,}" +
  "|^(?=[\\w+=-]*\\d)(?=[\\w+=-]*[a-z])[\\w+=-]{32,}$",
  "i",
);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MASK = "********";

function valueLooksSecret(value) {
  return typeof value === "string" && !UUID.test(value) && SECRET_VALUE.test(value);
}

/** A copy of `value` with secret-looking entries masked (for display only). */
export function maskSecrets(value) {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (!isObject(value)) return valueLooksSecret(value) ? MASK : value;
  const pair = typeof value.name === "string" && "value" in value && SECRET_NAME.test(value.name);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => {
    const hide = (pair && k === "value") || SECRET_NAME.test(k) || valueLooksSecret(v);
    const scalar = v === null || typeof v !== "object";
    return [k, hide && scalar && v !== null && v !== "" ? MASK : maskSecrets(v)];
  }));
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}
