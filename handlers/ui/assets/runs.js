// Flow runs: state badges, filters (pool, queue, deployment, state) kept in the
// URL, refreshed live every few seconds.

import { api } from "./api.js";
import { duration, enc, h, swap, timeAgo } from "./dom.js";
import { cell, emptyState, pageHeader, stateBadge } from "./ui.js";

export const STATE_TYPES = ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED", "CANCELLING", "CANCELLED", "PAUSED"];
const LIMIT = 100;
const LIVE_MS = 2500;

function runFilter({ pool, queue, deployment, state }) {
  const body = { limit: LIMIT };
  if (pool) body.work_pools = { name: { any_: [pool] } };
  if (queue) body.work_pool_queues = { name: { any_: [queue] } };
  if (deployment) body.deployments = { id: { any_: [deployment] } };
  if (state) body.flow_runs = { state: { type: { any_: [state] } } };
  return body;
}

function select(id, label, options, value, { disabled = false, hint } = {}) {
  const el = h("select", { id, disabled }, options.map(([v, text]) => h("option", { value: v }, text)));
  el.value = value;
  return { el, field: h("div", { class: "field inline" }, h("label", { for: id }, label), el, hint ? h("span", { class: "sr-only" }, hint) : null) };
}

export async function runsView(page) {
  const f = Object.fromEntries(["pool", "queue", "deployment", "state"].map((k) => [k, page.query.get(k) ?? ""]));
  const [pools, deployments, queues] = await Promise.all([
    api.post("/work_pools/filter", {}, { signal: page.signal }),
    api.post("/deployments/filter", {}, { signal: page.signal }),
    f.pool ? api.post(`/work_pools/${enc(f.pool)}/queues/filter`, {}, { signal: page.signal }).catch(() => []) : Promise.resolve([]),
  ]);
  const deploymentNames = Object.fromEntries(deployments.map((d) => [d.id, `${d.flow_name}/${d.name}`]));
  const poolSel = select("run-filter-pool", "Pool", [["", "All pools"], ...pools.map((p) => [p.name, p.name])], f.pool);
  const queueSel = select("run-filter-queue", "Queue", [["", f.pool ? "All queues" : "Pick a pool first"], ...queues.map((q) => [q.name, q.name])], f.queue, { disabled: !f.pool });
  const deploymentSel = select("run-filter-deployment", "Deployment", [["", "All deployments"], ...deployments.map((d) => [d.id, `${d.flow_name}/${d.name}`])], f.deployment);
  const stateSel = select("run-filter-state", "State", [["", "All states"], ...STATE_TYPES.map((s) => [s, s[0] + s.slice(1).toLowerCase()])], f.state);
  const live = h("input", { type: "checkbox", id: "run-live", checked: true });
  const liveField = h("label", { class: "check live-toggle", for: "run-live" }, live, h("span", { class: "live-dot", "aria-hidden": "true" }), "Live");

  const changed = (key, value, reset = {}) => {
    page.setQuery({ [key]: value, ...reset });
    page.rerender();
  };
  poolSel.el.addEventListener("change", () => changed("pool", poolSel.el.value, { queue: "" }));
  queueSel.el.addEventListener("change", () => changed("queue", queueSel.el.value));
  deploymentSel.el.addEventListener("change", () => changed("deployment", deploymentSel.el.value));
  stateSel.el.addEventListener("change", () => changed("state", stateSel.el.value));

  const region = h("div", { class: "table-wrap", "aria-live": "off" });
  const count = h("p", { class: "muted count" });
  page.root.replaceChildren(
    pageHeader({ title: "Flow runs" }),
    h("div", { class: "toolbar", role: "search", "aria-label": "Filter flow runs" }, poolSel.field, queueSel.field, deploymentSel.field, stateSel.field, liveField, count),
    region,
  );

  const draw = (runs) => {
    const filtered = Object.values(f).some(Boolean);
    count.textContent = runs.length >= LIMIT ? `Newest ${LIMIT} runs` : `${runs.length} runs`;
    if (!runs.length) {
      swap(region, filtered
        ? h("p", { class: "empty-inline" }, "No flow run matches these filters.")
        : emptyState({ iconName: "runs", title: "No flow runs yet", body: h("p", {}, "Runs appear here when a deployment's schedule creates them or when you run a deployment from the Deployments page.") }));
      return;
    }
    swap(region, h("table", { class: "table runs-table" },
      h("caption", { class: "sr-only" }, "Flow runs"),
      h("thead", {}, h("tr", {}, ["Run", "State", "Deployment", "Pool / queue", "Scheduled", "Duration"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, runs.map((r) => h("tr", { "data-run": r.name, "data-state": r.state_type },
        cell("Run", h("a", { class: "strong-link", href: `#/runs/${enc(r.id)}`, "data-key": `run-${r.id}` }, r.name)),
        cell("State", stateBadge(r.state_type, r.state_name)),
        cell("Deployment", deploymentNames[r.deployment_id] ?? h("span", { class: "muted" }, "—")),
        cell("Pool / queue", h("a", { href: `#/pools/${enc(r.work_pool_name)}` }, r.work_pool_name), h("span", { class: "muted" }, ` / ${r.work_queue_name}`)),
        cell("Scheduled", timeAgo(r.expected_start_time)),
        cell("Duration", r.start_time ? duration(r.start_time, r.end_time) : h("span", { class: "muted" }, "—")))))));
  };

  const fetchRuns = () => api.post("/flow_runs/filter", runFilter(f), { signal: page.signal });
  draw(await fetchRuns());
  page.every(LIVE_MS, async () => {
    if (live.checked) draw(await fetchRuns());
  });
}
