// Deployments: where each sends its runs, on what schedule, with which job
// variables; "Run" creates a run now, with optional job-variable overrides that
// the server validates against the pool's variables schema.

import { api } from "./api.js";
import { enc, h, isObject, maskSecrets, navigate } from "./dom.js";
import { jsonEditor } from "./json_editor.js";
import { schemaForm } from "./schema_form.js";
import { button, cell, dialog, emptyState, formAlert, formField, pageHeader, tabs, toast } from "./ui.js";

function every(seconds) {
  if (seconds % 86400 === 0) return `every ${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

export function scheduleText(s) {
  const spec = s.schedule ?? {};
  const zone = spec.timezone && spec.timezone !== "UTC" ? ` (${spec.timezone})` : " (UTC)";
  const text = spec.cron ? `cron ${spec.cron}${zone}` : spec.interval ? every(spec.interval) : spec.rrule ? spec.rrule : "custom";
  return s.active === false ? `${text}, inactive` : text;
}

/** key=value pairs; objects such as env and labels are spread as env.NAME=value. */
function variableChips(variables) {
  const entries = Object.entries(maskSecrets(variables ?? {})).flatMap(([k, v]) =>
    isObject(v) && Object.keys(v).length ? Object.entries(v).map(([inner, value]) => [`${k}.${inner}`, value]) : [[k, v]]);
  if (!entries.length) return h("span", { class: "muted" }, "none");
  const shown = entries.slice(0, 4).map(([k, v]) => h("code", { class: "chip mono", title: `${k} = ${JSON.stringify(v)}` }, `${k}=${truncate(typeof v === "string" ? v : JSON.stringify(v))}`));
  const more = entries.length > 4 ? h("span", { class: "muted small" }, ` +${entries.length - 4} more`) : null;
  return h("div", { class: "chips" }, shown, more);
}

function truncate(text, n = 28) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

export async function deploymentsView(page) {
  const pool = page.query.get("pool") ?? "";
  const filter = pool ? { work_pools: { name: { any_: [pool] } } } : {};
  const [deployments, pools] = await Promise.all([
    api.post("/deployments/filter", filter, { signal: page.signal }),
    api.post("/work_pools/filter", {}, { signal: page.signal }),
  ]);
  const poolsByName = Object.fromEntries(pools.map((p) => [p.name, p]));
  const select = h("select", { id: "deployment-pool-filter" }, h("option", { value: "" }, "All pools"), pools.map((p) => h("option", { value: p.name }, p.name)));
  select.value = pool;
  select.addEventListener("change", () => {
    page.setQuery({ pool: select.value });
    page.rerender();
  });
  page.root.replaceChildren(pageHeader({ title: "Deployments" }));
  if (!deployments.length && !pool) {
    page.root.append(emptyState({
      iconName: "deployments",
      title: "No deployments yet",
      body: h("p", {}, "A deployment says what to run, in which work pool and queue, on what schedule. Create them with ", h("code", {}, "pushpool deployment apply pushpool.yaml"), " or ", h("code", {}, "POST /api/deployments/"), "."),
    }));
    return;
  }
  page.root.append(
    h("div", { class: "toolbar" }, h("div", { class: "field inline" }, h("label", { for: "deployment-pool-filter" }, "Work pool"), select),
      h("p", { class: "muted count" }, `${deployments.length} deployments`)),
    deployments.length ? h("div", { class: "table-wrap" }, h("table", { class: "table deployments-table" },
      h("caption", { class: "sr-only" }, "Deployments"),
      h("thead", {}, h("tr", {}, ["Deployment", "Pool / queue", "Schedule", "Job variables", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, deployments.map((d) => deploymentRow(d, poolsByName[d.work_pool_name])))))
      : h("p", { class: "empty-inline" }, "No deployment uses this pool."),
  );
}

function deploymentRow(d, pool) {
  const run = button("Run", { kind: "primary", iconName: "play", class: "btn btn-primary btn-small", "aria-label": `Run ${d.flow_name}/${d.name}`, onClick: () => runDialog(d, pool) });
  return h("tr", { "data-deployment": d.name },
    cell("Deployment", h("div", { class: "muted small" }, d.flow_name), h("strong", {}, d.name), d.paused ? h("span", { class: "chip" }, "schedule paused") : null,
      d.command ? h("div", { class: "small" }, h("code", { class: "mono" }, truncate(d.command, 48))) : null),
    cell("Pool / queue", h("a", { href: `#/pools/${enc(d.work_pool_name)}` }, d.work_pool_name), h("div", { class: "muted small" }, d.work_queue_name)),
    cell("Schedule", d.schedules.length ? h("ul", { class: "plain" }, d.schedules.map((s) => h("li", {}, scheduleText(s)))) : h("span", { class: "muted" }, "none"),
      d.late_runs ? h("div", { class: "muted small", "data-late-runs": "" }, `late runs: ${d.late_runs}`) : null),
    cell("Job variables", variableChips(d.job_variables)),
    h("td", { class: "row-actions" }, run, h("a", { class: "btn btn-secondary btn-small", href: `#/runs?deployment=${enc(d.id)}`, "aria-label": `Runs of ${d.flow_name}/${d.name}` }, "Runs")));
}

/** Effective values a run gets when it overrides nothing (pool defaults < deployment), secrets masked. */
function effectiveValues(pool, deployment) {
  const properties = pool?.base_job_template?.variables?.properties ?? {};
  const defaults = Object.fromEntries(Object.entries(properties).filter(([, s]) => isObject(s) && s.default !== undefined).map(([k, s]) => [k, s.default]));
  return maskSecrets({ ...defaults, ...deployment.job_variables });
}

function runDialog(deployment, pool) {
  return dialog({
    title: `Run ${deployment.flow_name}/${deployment.name}`,
    wide: true,
    body: (close) => {
      const alert = formAlert();
      const nameField = formField({ label: "Run name", input: h("input", { type: "text", id: "run-name", autocomplete: "off", placeholder: "Generated (e.g. brave-otter)" }) });
      const variables = pool?.base_job_template?.variables ?? {};
      const form = schemaForm(variables, { placeholders: effectiveValues(pool, deployment) });
      const editor = jsonEditor({ label: "Job variable overrides (JSON)", text: "{}", rows: 8, validate: (v) => (isObject(v) ? [] : [{ path: "", message: "Overrides must be a JSON object" }]) });
      let active = "form";
      const t = tabs([{ id: "form", label: "Form" }, { id: "json", label: "JSON" }], {
        active, label: "Job variable overrides",
        onSelect: (id) => {
          if (id === "json") editor.setText(JSON.stringify(form.collect().values, null, 2));
          active = id;
          t.panel.replaceChildren(id === "form" ? formPanel : editor.el);
        },
      });
      const formPanel = h("div", {}, h("p", { class: "hint" }, "Leave a field empty to keep the value shown (the pool's default or the deployment's). Overrides are checked against the pool's variables."), form.el);
      t.panel.append(formPanel);
      const submit = button("Run now", { kind: "primary", type: "submit", iconName: "play" });
      return h("form", {
        class: "dialog-body", novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          alert.show([]);
          form.clearErrors();
          let overrides;
          if (active === "form") {
            const { values, valid } = form.collect();
            if (!valid) return form.focusFirstInvalid();
            overrides = values;
          } else {
            const parsed = editor.parse();
            if (!parsed.ok || editor.check().length) return editor.textarea.focus();
            overrides = parsed.value;
          }
          const body = { job_variables: overrides };
          if (nameField.input.value.trim()) body.name = nameField.input.value.trim();
          submit.disabled = true;
          try {
            const run = await api.post(`/deployments/${enc(deployment.id)}/create_flow_run`, body);
            toast(`Created the run ${run.name}.`, "success");
            close(run);
            navigate(`/runs/${enc(run.id)}`);
          } catch (error) {
            const errors = error.fields.length ? error.fields : [{ path: "", message: error.message }];
            const relative = errors.map(({ path, message }) => ({ path: path.replace(/^job_variables\.?/, ""), message }));
            if (active === "form") alert.show(form.showErrors(relative.filter((e) => e.path)).map((e) => `${e.path}: ${e.message}`).concat(relative.filter((e) => !e.path).map((e) => e.message)));
            else {
              editor.showErrors(relative.filter((e) => e.path));
              alert.show(relative.filter((e) => !e.path).map((e) => e.message));
            }
          } finally {
            submit.disabled = false;
          }
        },
      },
      alert.el,
      h("p", { class: "muted" }, "The run is scheduled now in ", h("strong", {}, deployment.work_pool_name), " / ", h("strong", {}, deployment.work_queue_name), "."),
      nameField.el,
      h("h3", { class: "small-title" }, "Job variable overrides"),
      t.list, t.panel,
      h("footer", { class: "dialog-actions" }, button("Cancel", { onClick: () => close(undefined) }), submit));
    },
  });
}
