// One pool: its details and slots, pause/resume/edit/delete, and tabs for its
// queues, upcoming runs (with why each waits), workers and template.

import { api, poolType } from "./api.js";
import { enc, formatTime, h, icon, navigate, swap, timeAgo } from "./dom.js";
import { queuesTable } from "./queues.js";
import { button, card, cell, code, confirm, emptyState, facts, modeBadge, pageHeader, slotsBar, stateBadge, statusBadge, tabs, toast } from "./ui.js";

const TABS = [
  { id: "queues", label: "Queues" },
  { id: "upcoming", label: "Upcoming runs" },
  { id: "workers", label: "Workers" },
  { id: "template", label: "Template" },
];

const WAIT_REASONS = {
  "pool paused": "Waits: the pool is paused",
  "queue paused": "Waits: its queue is paused",
  "queue not found": "Waits: its queue no longer exists",
  "not yet due": "Waits: not due yet",
  "queue full": "Waits: its queue's concurrency limit is reached",
  "pool full": "Waits: the pool's concurrency limit is reached",
};

function statusHelp(pool, info) {
  if (pool.status === "PAUSED") return "Paused: no runs are released until you resume it. Schedules keep creating runs; they wait.";
  const pull = (info?.mode ?? "pull") === "pull";
  if (pool.status === "READY") return pull ? "A worker is online and polling this pool." : "Ready: pushpool's dispatcher submits this pool's runs as they come due; no worker is needed.";
  if (pull) return h("span", {}, "No worker has sent a heartbeat recently. Start one: ", code(`pushpool worker start --pool ${pool.name}`), ".");
  return h("span", { "data-status-reason": "" }, `Not ready: ${pool.status_reason ?? "the dispatcher reported a problem"}.`);
}

export async function poolView(page) {
  const [name] = page.params;
  const path = `/work_pools/${enc(name)}`;
  const load = async () => {
    const [pool, queues, slots] = await Promise.all([
      api.get(path, { signal: page.signal }),
      api.post(`${path}/queues/filter`, {}, { signal: page.signal }),
      api.post(`${path}/concurrency_status`, {}, { signal: page.signal }),
    ]);
    return { pool, queues, slots };
  };
  let data = await load();
  const info = await poolType(data.pool.type);
  let active = TABS.some((t) => t.id === page.query.get("tab")) ? page.query.get("tab") : "queues";

  const headRegion = h("div");
  const detailsRegion = h("div", { class: "grid-2" });
  const t = tabs(TABS, { active, label: `${name} sections`, onSelect: (id) => { active = id; page.setQuery({ tab: id === "queues" ? "" : id }); drawTab(); } });
  page.root.replaceChildren(headRegion, detailsRegion, h("section", { class: "card tabs-card" }, t.list, t.panel));

  const refresh = async () => {
    data = await load();
    draw();
    return data.queues;
  };
  const tabDrawers = {
    queues: async () => queuesTable(data.pool, data.queues, refresh),
    upcoming: () => upcomingPanel(data.pool, page),
    workers: () => workersPanel(data.pool, info, page),
    template: async () => templatePanel(data.pool),
  };
  let tabToken = 0;
  async function drawTab({ quiet = false } = {}) {
    const mine = ++tabToken;
    if (!quiet) t.panel.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const content = await tabDrawers[active]();
      if (mine === tabToken) swap(t.panel, content);
    } catch (error) {
      if (mine === tabToken && error.status !== -1) swap(t.panel, h("p", { class: "alert alert-error", role: "alert" }, `Could not load: ${error.message}`));
    }
  }

  function draw() {
    swap(headRegion, header(data.pool, info, refresh));
    swap(detailsRegion, detailsCard(data.pool, info), slotsCard(data.slots));
  }
  draw();
  await drawTab();
  page.every(4000, async () => {
    data = await load();
    draw();
    if (active !== "template") await drawTab({ quiet: true });
  });
}

function header(pool, info, refresh) {
  const paused = pool.is_paused;
  const pauseButton = button(paused ? "Resume" : "Pause", {
    iconName: paused ? "play" : "pause", "data-key": "pause-resume",
    onClick: async () => {
      try {
        await api.patch(`/work_pools/${enc(pool.name)}`, { is_paused: !paused });
        toast(`${pool.name} ${paused ? "resumed" : "paused"}.`, "success");
        await refresh();
      } catch (error) {
        toast(`Could not ${paused ? "resume" : "pause"} ${pool.name}: ${error.message}`, "error");
      }
    },
  });
  const edit = h("a", { class: "btn btn-secondary", href: `#/pools/${enc(pool.name)}/edit`, "data-key": "edit" }, icon("edit"), "Edit");
  const remove = button("Delete", {
    kind: "danger-ghost", iconName: "trash", "data-key": "delete",
    onClick: async () => {
      const ok = await confirm({
        title: `Delete the work pool ${pool.name}?`,
        message: "Its queues, workers and scheduled runs are deleted with it. Runs already started keep running but are no longer tracked by this pool.",
        confirmLabel: "Delete work pool", danger: true, typeToConfirm: pool.name,
      });
      if (!ok) return;
      try {
        await api.del(`/work_pools/${enc(pool.name)}`);
        toast(`Deleted the work pool ${pool.name}.`, "success");
        navigate("/pools");
      } catch (error) {
        toast(`Could not delete ${pool.name}: ${error.message}`, "error");
      }
    },
  });
  return pageHeader({
    crumbs: [["Work pools", "#/pools"], [pool.name]],
    title: pool.name,
    badges: [statusBadge(pool.status), info ? modeBadge(info.mode) : null],
    actions: [pauseButton, edit, remove],
  });
}

function detailsCard(pool, info) {
  return card("Details", facts([
    ["Type", h("span", {}, info?.title ?? pool.type, " ", code(pool.type))],
    ["Status", h("span", { class: "stack-tight" }, statusBadge(pool.status), h("span", { class: "muted small" }, statusHelp(pool, info)))],
    ["Concurrency", slotsBar(pool.active_slots, pool.concurrency_limit, { label: `Slots in use in ${pool.name}` })],
    ["Description", pool.description || h("span", { class: "muted" }, "No description")],
    ["Late runs", h("span", { "data-late-runs": "" }, pool.late_runs ?? "run", pool.late_runs ? null : h("span", { class: "muted" }, " (default: run every late run)"))],
    ["Created", formatTime(pool.created)],
    ["Updated", timeAgo(pool.updated)],
  ]));
}

function slotsCard(slots) {
  const queues = [...slots.queues].sort((a, b) => a.priority - b.priority);
  return card("Slots in use per queue",
    h("p", { class: "muted small" }, `${slots.active_slots} of ${slots.concurrency_limit ?? "∞"} pool slots in use.`),
    h("ul", { class: "slot-list" }, queues.map((q) => h("li", {},
      h("div", { class: "slot-row" }, h("span", {}, h("span", { class: "prio" }, String(q.priority)), q.queue_name, q.is_paused ? h("span", { class: "paused-marker" }, icon("pause", { size: 12 }), "Paused") : null),
        slotsBar(q.active_slots, q.concurrency_limit, { label: `Slots in use in queue ${q.queue_name}` })),
      q.flow_runs.length ? h("div", { class: "holders" }, q.flow_runs.map((r) => h("a", { href: `#/runs/${enc(r.id)}`, class: "holder" }, stateBadge(r.state_type, r.state_name), r.name))) : null))));
}

async function upcomingPanel(pool, page) {
  const hours = Number(page.query.get("hours") ?? 24);
  const items = await api.post(`/work_pools/${enc(pool.name)}/preview`, { hours }, { signal: page.signal });
  items.sort((a, b) => a.flow_run.expected_start_time.localeCompare(b.flow_run.expected_start_time));
  const select = h("select", { id: "preview-hours", "data-key": "preview-hours" }, [[1, "1 hour"], [6, "6 hours"], [24, "24 hours"], [168, "7 days"]].map(([v, label]) => h("option", { value: v }, label)));
  select.value = String(hours);
  select.addEventListener("change", () => {
    page.setQuery({ hours: select.value });
    page.rerender();
  });
  const controls = h("div", { class: "panel-head" },
    h("p", { class: "muted" }, "Scheduled runs due soon, earliest first: released now, or why each waits."),
    h("div", { class: "field inline" }, h("label", { for: "preview-hours" }, "Due within"), select));
  if (!items.length) return h("div", {}, controls, h("p", { class: "empty-inline" }, `No runs are scheduled in the next ${select.selectedOptions[0].textContent}.`));
  return h("div", {}, controls, h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("caption", { class: "sr-only" }, "Upcoming runs"),
    h("thead", {}, h("tr", {}, ["Run", "Queue", "Scheduled", "State", "Admission"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, items.map(({ flow_run: run, late, released, reason }) => h("tr", { class: late ? "is-late" : "", "data-run": run.name },
      cell("Run", h("a", { href: `#/runs/${enc(run.id)}`, "data-key": `run-${run.id}` }, run.name)),
      cell("Queue", run.work_queue_name),
      cell("Scheduled", timeAgo(run.expected_start_time)),
      cell("State", late ? h("span", { class: "badge state state-late" }, icon("clock", { size: 13 }), "Late") : stateBadge(run.state_type, run.state_name)),
      cell("Admission", released ? h("span", { class: "ok-text" }, "Released now") : h("span", { class: reason === "not yet due" ? "muted" : "wait-reason" }, WAIT_REASONS[reason] ?? reason ?? "Waiting"))))))));
}

async function workersPanel(pool, info, page) {
  const workers = await api.post(`/work_pools/${enc(pool.name)}/workers/filter`, {}, { signal: page.signal });
  if (!workers.length) {
    const pull = (info?.mode ?? "pull") === "pull";
    return emptyState({
      iconName: "worker",
      title: pull ? "No workers yet" : "No workers needed",
      body: pull
        ? h("p", {}, "A worker polls this pool and runs what it is given. Start one with ", code(`pushpool worker start --pool ${pool.name}`), " (or run ", code("pushpool server --with-worker"), " for process pools).")
        : h("p", {}, "This is a ", info.mode, " pool: pushpool's dispatcher submits its runs directly, so no worker has to run."),
    });
  }
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("caption", { class: "sr-only" }, "Workers"),
    h("thead", {}, h("tr", {}, ["Name", "Status", "Last heartbeat", "Heartbeat interval"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, workers.map((w) => h("tr", {},
      cell("Name", h("strong", {}, w.name)),
      cell("Status", statusBadge(w.status)),
      cell("Last heartbeat", timeAgo(w.last_heartbeat_time)),
      cell("Interval", w.heartbeat_interval_seconds ? `${w.heartbeat_interval_seconds} s` : "30 s (default)"))))));
}

function templatePanel(pool) {
  const variables = pool.base_job_template?.variables ?? {};
  const required = new Set(variables.required ?? []);
  const rows = Object.entries(variables.properties ?? {}).map(([key, schema]) => h("tr", {},
    cell("Variable", code(key), required.has(key) ? h("span", { class: "req" }, " *") : null),
    cell("Title", schema.title ?? ""),
    cell("Type", schema.type ?? (schema.enum ? "enum" : schema.allOf || schema.$ref ? "object" : "any")),
    cell("Default", schema.default === undefined ? h("span", { class: "muted" }, "—") : code(JSON.stringify(schema.default)))));
  return h("div", { class: "stack" },
    h("div", { class: "panel-head" },
      h("p", { class: "muted" }, "What deployments and runs may set (variables), and what is sent to the infrastructure (job configuration)."),
      h("a", { class: "btn btn-secondary", href: `#/pools/${enc(pool.name)}/edit?tab=advanced` }, icon("edit"), "Edit template")),
    rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("caption", { class: "sr-only" }, "Template variables"),
      h("thead", {}, h("tr", {}, ["Variable", "Title", "Type", "Default"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))) : h("p", { class: "muted" }, "No variables."),
    h("details", { class: "json-details" }, h("summary", {}, "Job configuration (JSON)"),
      h("pre", { class: "json" }, JSON.stringify(pool.base_job_template?.job_configuration ?? {}, null, 2))));
}

