// Create a pool (pick a type, then fill a form generated from its template) and
// edit one (description, limit, template).  The template has two views of the
// same object: "Defaults" (a form over its variables' defaults) and "Advanced"
// (the whole base job template as JSON); switching tabs carries the edits over.

import { api, poolType, poolTypes } from "./api.js";
import { deepCopy, enc, h, isObject, navigate } from "./dom.js";
import { jsonEditor, templateProblems } from "./json_editor.js";
import { WHAT_IS_A_POOL } from "./pools.js";
import { schemaForm } from "./schema_form.js";
import { button, formAlert, formField, modeBadge, pageHeader, parseLimit, tabs, toast } from "./ui.js";

const MODES = [["", "All"], ["push", "Push"], ["pull", "Pull"], ["managed", "Managed"]];
const MODE_HELP = {
  push: "pushpool submits runs to your cloud itself: no worker to run.",
  pull: "A worker polls the pool and runs what it is given.",
  managed: "Runs on the ECS Fargate cluster the pushpool stack creates.",
};

export async function createPoolView(page) {
  const type = page.query.get("type");
  if (!type) return typePicker(page);
  const info = await poolType(type);
  if (!info) {
    page.root.replaceChildren(pageHeader({ crumbs: [["Work pools", "#/pools"], ["New"]], title: "Unknown pool type" }),
      h("p", { class: "alert alert-error", role: "alert" }, `There is no work pool type "${type}". `, h("a", { href: "#/pools/new" }, "Choose a type")));
    return;
  }
  poolForm(page, { info, template: deepCopy(info.default_base_job_template) });
}

export async function editPoolView(page) {
  const [name] = page.params;
  const pool = await api.get(`/work_pools/${enc(name)}`, { signal: page.signal });
  const info = (await poolType(pool.type)) ?? { type: pool.type, title: pool.type, description: "", mode: "pull" };
  poolForm(page, { info, pool, template: deepCopy(pool.base_job_template) });
}

async function typePicker(page) {
  const types = await poolTypes();
  let mode = page.query.get("mode") ?? "";
  const grid = h("div", { class: "type-grid", role: "list" });
  const draw = () => grid.replaceChildren(...types.filter((t) => !mode || t.mode === mode).map(typeCard));
  const filter = h("fieldset", { class: "segmented" }, h("legend", { class: "sr-only" }, "Show types by mode"),
    MODES.map(([value, label]) => {
      const input = h("input", { type: "radio", name: "mode", value, id: `mode-${value || "all"}`, checked: value === mode });
      input.addEventListener("change", () => {
        mode = value;
        page.setQuery({ mode });
        draw();
      });
      return h("label", { for: input.id }, input, h("span", {}, label));
    }));
  page.root.replaceChildren(
    pageHeader({ crumbs: [["Work pools", "#/pools"], ["New"]], title: "Create a work pool" }),
    h("p", { class: "lede" }, WHAT_IS_A_POOL),
    h("h2", { class: "section-title" }, "1. Choose the infrastructure type"),
    h("div", { class: "stack-tight" }, filter,
      h("ul", { class: "mode-legend" }, Object.entries(MODE_HELP).map(([m, text]) => h("li", {}, modeBadge(m), text)))),
    grid,
  );
  draw();
}

function typeCard(info) {
  return h("a", { class: "type-card", role: "listitem", href: `#/pools/new?type=${enc(info.type)}`, "data-type": info.type },
    h("div", { class: "type-card-head" }, h("strong", {}, info.title), modeBadge(info.mode)),
    h("p", {}, info.description),
    h("div", { class: "type-card-foot" }, h("code", {}, info.type)));
}

/** Set each variable's default from the form's values; unset values drop the default. */
function withDefaults(template, values) {
  const next = deepCopy(template);
  const properties = next?.variables?.properties;
  if (!isObject(properties)) return next;
  for (const [key, schema] of Object.entries(properties)) {
    if (!isObject(schema)) continue;
    if (values[key] === undefined) delete schema.default;
    else schema.default = values[key];
  }
  return next;
}

function defaultsOf(template) {
  const properties = template?.variables?.properties ?? {};
  return Object.fromEntries(Object.entries(properties).filter(([, s]) => isObject(s) && s.default !== undefined).map(([k, s]) => [k, s.default]));
}

function detailsFields(pool) {
  const nameInput = h("input", { type: "text", id: "pool-name", autocomplete: "off", spellcheck: "false", required: true, disabled: Boolean(pool), value: pool?.name ?? "" });
  const fields = {
    name: formField({ label: "Name", input: nameInput, required: !pool, hint: pool ? "A pool's name and type are fixed." : "Unique. Not / % & > <, and not starting with \"prefect\"." }),
    description: formField({ label: "Description", input: h("textarea", { id: "pool-description", rows: 2, value: pool?.description ?? "" }), wide: true }),
    concurrency_limit: formField({
      label: "Concurrency limit",
      input: h("input", { type: "number", id: "pool-limit", min: 0, step: 1, inputmode: "numeric", placeholder: "Unlimited", value: pool?.concurrency_limit ?? "" }),
      hint: "How many runs may hold a slot at once, across all queues. Empty: no limit; 0 releases nothing.",
    }),
  };
  if (!pool) {
    fields.is_paused = formField({ label: "Create paused", input: h("input", { type: "checkbox", id: "pool-paused" }), checkbox: true, hint: "Runs wait until you resume the pool." });
  }
  return fields;
}

function poolForm(page, { info, pool, template: initial }) {
  const editing = Boolean(pool);
  let template = initial;
  let form = schemaForm(template.variables, { values: defaultsOf(template) });
  let active = page.query.get("tab") === "advanced" ? "advanced" : "defaults";
  const fields = detailsFields(pool);
  const alert = formAlert();
  const editor = jsonEditor({
    label: "Base job template JSON",
    hint: "The whole template: job_configuration (what is sent to the infrastructure, with {{ placeholders }}) and variables (a JSON Schema: what deployments and runs may set). {} uses the type's default.",
    validate: templateProblems,
    okText: "✓ Valid template JSON",
  });
  const formHolder = h("div", {}, form.el);
  const t = tabs([{ id: "defaults", label: "Defaults" }, { id: "advanced", label: "Advanced" }], { active, label: "Base job template", onSelect: switchTo });

  function switchTo(next) {
    if (next === active) return;
    if (next === "advanced") {
      const { values, valid } = form.collect();
      if (!valid) {
        t.select("defaults");
        form.focusFirstInvalid();
        return;
      }
      template = withDefaults(template, values);
      editor.setText(JSON.stringify(template, null, 2));
    } else {
      const parsed = editor.parse();
      const problems = editor.check();
      if (!parsed.ok || problems.length) {
        t.select("advanced");
        alert.show("Fix the template's JSON before going back to the form.");
        editor.textarea.focus();
        return;
      }
      template = Object.keys(parsed.value).length ? parsed.value : deepCopy(info.default_base_job_template ?? {});
      form = schemaForm(template.variables, { values: defaultsOf(template) });
      formHolder.replaceChildren(form.el);
    }
    alert.show([]);
    active = next;
    page.setQuery({ tab: next === "advanced" ? "advanced" : "" });
    drawTab();
  }

  function drawTab() {
    t.panel.replaceChildren(active === "defaults"
      ? h("div", {}, h("p", { class: "hint tab-intro" }, "Defaults for every run in this pool. Deployments and runs may override them, within these variables' rules."), formHolder)
      : editor.el);
  }

  if (active === "advanced") editor.setText(JSON.stringify(template, null, 2));
  drawTab();

  const submit = button(editing ? "Save changes" : "Create work pool", { kind: "primary", type: "submit", id: "pool-submit" });
  const formEl = h("form", { class: "pool-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); save(); } },
    alert.el,
    h("section", { class: "card" }, h("h2", { class: "card-title" }, editing ? "Details" : "2. Name and limits"),
      h("div", { class: "form-grid" }, Object.values(fields).map((f) => f.el))),
    h("section", { class: "card" }, h("h2", { class: "card-title" }, `${editing ? "" : "3. "}Base job template`), t.list, t.panel),
    h("div", { class: "form-actions" }, h("a", { class: "btn btn-secondary", href: editing ? `#/pools/${enc(pool.name)}` : "#/pools/new" }, editing ? "Cancel" : "Back"), submit));

  const title = editing ? `Edit ${pool.name}` : `New ${info.title} pool`;
  const crumbs = editing ? [["Work pools", "#/pools"], [pool.name, `#/pools/${enc(pool.name)}`], ["Edit"]] : [["Work pools", "#/pools"], ["New", "#/pools/new"], [info.title]];
  page.root.replaceChildren(
    pageHeader({ crumbs, title }),
    h("div", { class: "type-summary" },
      h("div", { class: "type-summary-head" }, h("strong", {}, info.title), modeBadge(info.mode), h("code", {}, info.type),
        editing ? null : h("a", { href: "#/pools/new", class: "small" }, "Change type")),
      h("p", { class: "muted" }, info.description)),
    formEl);

  function currentTemplate() {
    if (active === "advanced") {
      const parsed = editor.parse();
      const problems = editor.check();
      if (!parsed.ok || problems.length) {
        editor.textarea.focus();
        return null;
      }
      return parsed.value;
    }
    const { values, valid } = form.collect();
    if (!valid) {
      form.focusFirstInvalid();
      return null;
    }
    return withDefaults(template, values);
  }

  function detailsBody() {
    for (const f of Object.values(fields)) f.setError(null);
    const body = {};
    const limit = parseLimit(fields.concurrency_limit.input.value);
    if (Number.isNaN(limit)) {
      fields.concurrency_limit.setError("Enter a whole number of 0 or more, or leave it empty for no limit.");
      return null;
    }
    if (!editing) {
      body.name = fields.name.input.value.trim();
      if (!body.name) {
        fields.name.setError("A work pool needs a name.");
        fields.name.input.focus();
        return null;
      }
      body.type = info.type;
      body.is_paused = fields.is_paused.input.checked;
    }
    body.description = fields.description.input.value;
    body.concurrency_limit = limit;
    return body;
  }

  async function save() {
    alert.show([]);
    form.clearErrors();
    const body = detailsBody();
    const chosen = body ? currentTemplate() : null;
    if (!body || !chosen) return;
    body.base_job_template = chosen;
    submit.disabled = true;
    try {
      if (editing) {
        await api.patch(`/work_pools/${enc(pool.name)}`, body);
        toast(`Saved ${pool.name}.`, "success");
        navigate(`/pools/${enc(pool.name)}`);
      } else {
        const created = await api.post("/work_pools/", body);
        toast(`Created the work pool ${created.name}.`, "success");
        navigate(`/pools/${enc(created.name)}`);
      }
    } catch (error) {
      showServerErrors(error);
    } finally {
      submit.disabled = false;
    }
  }

  /** Put each server error next to what it concerns: a detail field, a variable, or a line. */
  function showServerErrors(error) {
    const rest = [];
    const templateErrors = [];
    const errors = error.fields?.length ? error.fields : [{ path: error.status === 409 && !editing ? "name" : "", message: error.message }];
    for (const { path, message } of errors) {
      const deeper = /\(at (base_job_template[^\s;)]*)\)/.exec(message)?.[1];
      const where = deeper ?? path;
      if (fields[where]) fields[where].setError(message);
      else if (where.startsWith("base_job_template")) templateErrors.push({ path: where.replace(/^base_job_template\.?/, ""), message });
      else rest.push(path ? `${path}: ${message}` : message);
    }
    if (templateErrors.length) showTemplateErrors(templateErrors);
    alert.show(rest);
    const firstInvalid = Object.values(fields).find((f) => f.el.classList.contains("invalid"));
    if (firstInvalid && !templateErrors.length) firstInvalid.input.focus();
  }

  function showTemplateErrors(errors) {
    if (active === "defaults") {
      const mapped = errors.map(({ path, message }) => {
        const m = /^variables\.properties\.([^.]+)(\.default)?(.*)$/.exec(path);
        return m ? { path: m[1] + (m[3] ?? ""), message } : { path, message };
      });
      if (!form.showErrors(mapped).length) return;
      switchTo("advanced");
      t.select("advanced");
    }
    editor.showErrors(errors);
  }
}

