// One flow run: its state history, infrastructure id, its logs (followed while
// it runs), the job configuration it renders to (secrets masked by the API), and
// cancel.  Refreshes until it ends.

import { api } from "./api.js";
import { logsPanel } from "./run_logs.js";
import { duration, enc, formatTime, h, icon, maskSecrets, swap, timeAgo } from "./dom.js";
import { button, card, code, confirm, facts, pageHeader, stateBadge, toast } from "./ui.js";

const TERMINAL = new Set(["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]);

export async function runView(page) {
  const [id] = page.params;
  const load = () => Promise.all([
    api.get(`/flow_runs/${enc(id)}`, { signal: page.signal }),
    api.get(`/flow_run_states/?flow_run_id=${enc(id)}`, { signal: page.signal }),
  ]);
  let [run, states] = await load();
  const deployment = run.deployment_id ? await api.get(`/deployments/${enc(run.deployment_id)}`, { signal: page.signal }).catch(() => null) : null;

  const headRegion = h("div");
  const factsRegion = h("div");
  const historyRegion = h("div");
  const configRegion = h("div");
  const logs = logsPanel(run, page, { isActive: () => !TERMINAL.has(run.state_type) });
  page.root.replaceChildren(headRegion,
    h("div", { class: "grid-2" }, card("Details", factsRegion), card("State history", historyRegion)),
    card("Logs", logs),
    card("Job configuration", configRegion));

  const draw = () => {
    swap(headRegion, header(run, async () => {
      [run, states] = await load();
      draw();
    }));
    swap(factsRegion, runFacts(run, deployment));
    swap(historyRegion, history(states));
  };
  draw();
  await drawConfig(configRegion, run, page);

  let lastState = run.state_id;
  page.every(2000, async () => {
    if (TERMINAL.has(run.state_type) && lastState === run.state_id) return;
    [run, states] = await load();
    draw();
    if (run.state_id !== lastState) {
      lastState = run.state_id;
      await drawConfig(configRegion, run, page);
    }
  });
}

function header(run, reload) {
  const cancellable = !TERMINAL.has(run.state_type) && run.state_type !== "CANCELLING";
  const cancel = cancellable ? button("Cancel run", {
    kind: "danger-ghost", iconName: "x", "data-key": "cancel",
    onClick: async () => {
      const ok = await confirm({
        title: `Cancel ${run.name}?`,
        message: run.state_type === "SCHEDULED" ? "It has not started: it is cancelled at once." : "Its infrastructure is stopped; the run ends Cancelled.",
        confirmLabel: "Cancel run", danger: true,
      });
      if (!ok) return;
      try {
        const result = await api.post(`/flow_runs/${enc(run.id)}/set_state`, { state: { type: "CANCELLING", message: "Cancelled from the UI." } });
        if (result.status !== "ACCEPT") toast(`The run was not cancelled: ${result.details?.reason ?? result.status}`, "error");
        else toast(`Cancelling ${run.name}.`, "success");
        await reload();
      } catch (error) {
        toast(`Could not cancel ${run.name}: ${error.message}`, "error");
      }
    },
  }) : null;
  return pageHeader({
    crumbs: [["Flow runs", "#/runs"], [run.name]],
    title: run.name,
    badges: [stateBadge(run.state_type, run.state_name)],
    actions: [cancel],
  });
}

function copyable(text) {
  if (!text) return h("span", { class: "muted" }, "none yet");
  const copy = button("", { kind: "ghost", iconName: "copy", class: "btn btn-ghost btn-icon", "aria-label": "Copy the infrastructure id", title: "Copy" });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast("Copied.", "success");
    } catch {
      toast("Copying is not allowed here; select the text instead.", "error");
    }
  });
  return h("span", { class: "copyable" }, code(text), copy);
}

function runFacts(run, deployment) {
  const overrides = Object.keys(run.job_variables ?? {}).length ? h("pre", { class: "json small" }, JSON.stringify(maskSecrets(run.job_variables), null, 2)) : h("span", { class: "muted" }, "none");
  const parameters = Object.keys(run.parameters ?? {}).length ? h("pre", { class: "json small" }, JSON.stringify(maskSecrets(run.parameters), null, 2)) : h("span", { class: "muted" }, "none");
  return facts([
    ["State", h("span", {}, stateBadge(run.state_type, run.state_name), run.state.message ? h("span", { class: "muted small state-message clamp" }, run.state.message) : null)],
    ["Deployment", deployment ? h("a", { href: `#/runs?deployment=${enc(deployment.id)}` }, `${deployment.flow_name}/${deployment.name}`) : h("span", { class: "muted" }, run.deployment_id ? "deleted" : "none")],
    ["Pool / queue", h("span", {}, h("a", { href: `#/pools/${enc(run.work_pool_name)}` }, run.work_pool_name), ` / ${run.work_queue_name}`)],
    ["Infrastructure id", copyable(run.infrastructure_pid)],
    ["Scheduled", h("span", {}, formatTime(run.expected_start_time), " (", timeAgo(run.expected_start_time), ")")],
    ["Started", formatTime(run.start_time)],
    ["Ended", formatTime(run.end_time)],
    ["Duration", run.start_time ? duration(run.start_time, run.end_time) : "—"],
    ["Attempt", String(run.attempt)],
    ["Run id", code(run.id)],
    ["Job variable overrides", overrides],
    ["Parameters", parameters],
  ]);
}

function history(states) {
  return h("ol", { class: "timeline" }, [...states].reverse().map((s) => h("li", { "data-state": s.type },
    h("div", { class: "timeline-head" }, stateBadge(s.type, s.name), h("time", { datetime: s.timestamp, title: formatTime(s.timestamp) }, formatTime(s.timestamp))),
    s.message ? h("p", { class: "muted small" }, s.message) : null)));
}

async function drawConfig(region, run, page) {
  try {
    const rendered = await api.get(`/flow_runs/${enc(run.id)}/job_configuration`, { signal: page.signal });
    swap(region,
      h("p", { class: "muted small" }, "What the provider receives: the pool's current template rendered with the deployment's and this run's job variables, plus what submission injects. ",
        rendered.masked.length ? `${rendered.masked.length} secret-looking ${rendered.masked.length === 1 ? "value is" : "values are"} masked.` : "No value needed masking."),
      h("pre", { class: "json", tabindex: "0", "aria-label": "Rendered job configuration" }, highlightMasks(JSON.stringify(rendered.job_configuration, null, 2))));
  } catch (error) {
    if (error.status === -1) return;
    swap(region, h("div", { class: "alert alert-warn", role: "status" }, icon("alert"), h("p", {}, `The job configuration cannot be rendered: ${error.message}`)));
  }
}

/** Text with every masked value wrapped so it stands out. */
function highlightMasks(text) {
  const parts = text.split('"********"');
  return parts.flatMap((part, index) => (index === 0 ? [part] : [h("mark", { class: "masked", title: "Masked: the name looks secret" }, '"********"'), part]));
}
