// The work pools list: status, limits and slots at a glance; sort and filter.

import { api, poolTypes } from "./api.js";
import { enc, h, icon, swap } from "./dom.js";
import { cell, emptyState, modeBadge, pageHeader, slotsBar, statusBadge, toast, toggle } from "./ui.js";

const SORTS = {
  name: ["Name (A–Z)", (a, b) => a.name.localeCompare(b.name)],
  "-name": ["Name (Z–A)", (a, b) => b.name.localeCompare(a.name)],
  type: ["Type", (a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name)],
  status: ["Status", (a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || a.name.localeCompare(b.name)],
  slots: ["Slots in use", (a, b) => b.active_slots - a.active_slots || a.name.localeCompare(b.name)],
};
const STATUS_ORDER = { READY: 0, NOT_READY: 1, PAUSED: 2 };

export const WHAT_IS_A_POOL =
  "A work pool is where flow runs wait to be run. Its type says which infrastructure runs them (a local process, " +
  "a Docker container, an ECS task, a Cloud Run job…), its base job template says how, and its concurrency limit " +
  "how many may run at once. Deployments send runs to the pool's queues; push pools submit them to your cloud " +
  "directly, pull pools are served by a worker.";

export async function poolsView(page) {
  const [pools, types] = await Promise.all([api.post("/work_pools/filter", {}, { signal: page.signal }), poolTypes()]);
  const typeInfo = Object.fromEntries(types.map((t) => [t.type, t]));
  const create = h("a", { class: "btn btn-primary", href: "#/pools/new", "aria-label": "Create a work pool" }, icon("plus"), "Work pool");
  page.root.replaceChildren(pageHeader({ title: "Work pools", actions: [create] }));

  if (!pools.length) {
    page.root.append(emptyState({
      title: "No work pools yet",
      body: h("p", {}, WHAT_IS_A_POOL),
      action: h("a", { class: "btn btn-primary", href: "#/pools/new" }, icon("plus"), "Create your first work pool"),
    }));
    page.every(5000, async () => {
      const again = await api.post("/work_pools/filter", {}, { signal: page.signal });
      if (again.length) page.rerender();
    });
    return;
  }

  const state = { q: page.query.get("q") ?? "", type: page.query.get("type") ?? "", sort: page.query.get("sort") ?? "name", pools };
  const search = h("input", { id: "pool-search", type: "search", placeholder: "Filter by name", autocomplete: "off", value: state.q });
  const typeSelect = h("select", { id: "pool-type-filter" }, h("option", { value: "" }, "All types"),
    [...new Set(pools.map((p) => p.type))].sort().map((t) => h("option", { value: t }, typeInfo[t]?.title ?? t)));
  typeSelect.value = state.type;
  const sortSelect = h("select", { id: "pool-sort" }, Object.entries(SORTS).map(([k, [label]]) => h("option", { value: k }, label)));
  sortSelect.value = SORTS[state.sort] ? state.sort : "name";
  const count = h("p", { class: "muted count", "aria-live": "polite" });
  const region = h("div", { class: "table-wrap" });

  const toolbar = h("div", { class: "toolbar", role: "search", "aria-label": "Filter work pools" },
    h("div", { class: "field inline" }, h("label", { for: "pool-search" }, "Name"), search),
    h("div", { class: "field inline" }, h("label", { for: "pool-type-filter" }, "Type"), typeSelect),
    h("div", { class: "field inline" }, h("label", { for: "pool-sort" }, "Sort by"), sortSelect),
    count);
  page.root.append(toolbar, region);

  const draw = () => {
    const q = state.q.trim().toLowerCase();
    const shown = state.pools
      .filter((p) => !q || p.name.toLowerCase().includes(q))
      .filter((p) => !state.type || p.type === state.type)
      .sort(SORTS[state.sort]?.[1] ?? SORTS.name[1]);
    count.textContent = `${shown.length} of ${state.pools.length} work pools`;
    swap(region, shown.length ? poolTable(shown, typeInfo, page) : h("p", { class: "empty-inline" }, "No work pool matches these filters."));
  };
  const changed = () => {
    state.q = search.value;
    state.type = typeSelect.value;
    state.sort = sortSelect.value;
    page.setQuery({ q: state.q, type: state.type, sort: state.sort === "name" ? "" : state.sort });
    draw();
  };
  search.addEventListener("input", changed);
  typeSelect.addEventListener("change", changed);
  sortSelect.addEventListener("change", changed);
  draw();

  page.every(4000, async () => {
    state.pools = await api.post("/work_pools/filter", {}, { signal: page.signal });
    draw();
  });
}

function poolTable(pools, typeInfo, page) {
  return h("table", { class: "table pools-table" },
    h("caption", { class: "sr-only" }, "Work pools"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Status"),
      h("th", { scope: "col" }, "Concurrency"), h("th", { scope: "col" }, "Active"))),
    h("tbody", {}, pools.map((pool) => poolRow(pool, typeInfo[pool.type], page))));
}

function poolRow(pool, info, page) {
  const active = toggle({
    checked: !pool.is_paused,
    label: `${pool.is_paused ? "Resume" : "Pause"} ${pool.name}`,
    key: `toggle-${pool.name}`,
    onChange: async (on) => {
      try {
        await api.patch(`/work_pools/${enc(pool.name)}`, { is_paused: !on });
        toast(`${pool.name} ${on ? "resumed" : "paused"}.`, "success");
        page.rerender();
      } catch (error) {
        toast(`Could not ${on ? "resume" : "pause"} ${pool.name}: ${error.message}`, "error");
        throw error;
      }
    },
  });
  return h("tr", { "data-pool": pool.name },
    cell("Name",
      h("a", { class: "strong-link", href: `#/pools/${enc(pool.name)}`, "data-key": `pool-${pool.name}` }, pool.name),
      pool.is_paused ? h("span", { class: "paused-marker", title: "Paused: no runs are released" }, icon("pause", { size: 12 }), "Paused") : null,
      pool.description ? h("div", { class: "muted small clamp" }, pool.description) : null),
    cell("Type", h("div", {}, info?.title ?? pool.type), h("div", { class: "type-line" }, h("code", { class: "muted small" }, pool.type), info ? modeBadge(info.mode) : null)),
    cell("Status", statusBadge(pool.status),
      pool.status === "NOT_READY" && pool.status_reason ? h("div", { class: "muted small clamp", "data-status-reason": "", title: pool.status_reason }, pool.status_reason) : null),
    cell("Concurrency", slotsBar(pool.active_slots, pool.concurrency_limit, { label: `Slots in use in ${pool.name}` })),
    cell("Active", active));
}
