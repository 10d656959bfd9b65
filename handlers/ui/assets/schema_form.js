// A form generated from a base job template's `variables` (JSON Schema).
//
// Titles, descriptions and defaults come from the schema; enums become selects,
// numbers keep their minimum/maximum, objects become key-value editors or nested
// groups, arrays become list editors, anything else a small JSON box.  Each
// field reports `undefined` when left empty, so callers can tell "not set" from
// a value (a pool default to drop, a run override not to send).

import { h, icon, isObject, nextId } from "./dom.js";

/** Follow $ref, single-entry allOf and nullable anyOf/oneOf to the schema that matters. */
export function resolveSchema(schema, root, depth = 0) {
  if (!isObject(schema) || depth > 8) return isObject(schema) ? schema : {};
  const { $ref, allOf, anyOf, oneOf, ...rest } = schema;
  if ($ref) {
    const name = $ref.replace(/^#\/(definitions|\$defs)\//, "");
    const target = root?.definitions?.[name] ?? root?.$defs?.[name] ?? {};
    return resolveSchema({ ...target, ...rest }, root, depth + 1);
  }
  if (Array.isArray(allOf) && allOf.length === 1) return resolveSchema({ ...resolveSchema(allOf[0], root, depth + 1), ...rest }, root, depth + 1);
  const options = anyOf ?? oneOf;
  if (Array.isArray(options)) {
    const real = options.filter((o) => !(isObject(o) && o.type === "null"));
    if (real.length === 1) return resolveSchema({ ...resolveSchema(real[0], root, depth + 1), ...rest }, root, depth + 1);
    return schema;
  }
  if (Array.isArray(rest.type)) return { ...rest, type: rest.type.find((t) => t !== "null") };
  return rest;
}

function kindOf(schema) {
  if (Array.isArray(schema.enum)) return "enum";
  switch (schema.type) {
    case "boolean": return "boolean";
    case "integer": case "number": return "number";
    case "string": return "string";
    case "object":
      if (isObject(schema.properties) && Object.keys(schema.properties).length) return "group";
      if (isObject(schema.additionalProperties) && ["string", "number", "integer", "boolean"].includes(schema.additionalProperties.type)) return "map";
      if (schema.additionalProperties === true && !schema.properties) return "map";
      return "json";
    case "array": {
      const items = schema.items ?? {};
      if (["string", "number", "integer"].includes(items.type) || Array.isArray(items.enum)) return "list";
      return "json";
    }
    default: return "json";
  }
}

function shortJson(value) {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** The shell of one field: label (with required marker), hint, control, error line. */
function shell({ id, title, description, required, control, wide, extraHint, path, checkbox = false, group = false }) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const hintText = [description, extraHint].filter(Boolean).join(" ");
  const marker = required ? [h("span", { class: "req", "aria-hidden": "true" }, " *"), h("span", { class: "sr-only" }, " (required)")] : null;
  const describedBy = [hintText ? hintId : null, errorId].filter(Boolean).join(" ");
  for (const input of control.querySelectorAll?.("input, select, textarea") ?? []) {
    if (!input.getAttribute("aria-describedby")) input.setAttribute("aria-describedby", describedBy);
  }
  if (control.matches?.("input, select, textarea")) control.setAttribute("aria-describedby", describedBy);
  // Editors of several inputs (key-value, lists) are a named group, not one labelled control.
  const labelId = `${id}-label`;
  const label = checkbox
    ? h("label", { class: "check", for: id }, control, h("span", {}, title, marker))
    : group ? h("div", { class: "group-label", id: labelId }, title, marker) : h("label", { for: id }, title, marker);
  const el = h(
    "div",
    { class: `field${wide ? " span-2" : ""}`, "data-path": path, role: group ? "group" : null, "aria-labelledby": group ? labelId : null },
    label,
    hintText ? h("p", { class: "hint", id: hintId }, hintText) : null,
    checkbox ? null : control,
    error,
  );
  return {
    el,
    setError(message) {
      error.hidden = !message;
      error.textContent = message ? `${message}` : "";
      el.classList.toggle("invalid", Boolean(message));
      for (const input of el.querySelectorAll("input, select, textarea")) input.setAttribute("aria-invalid", String(Boolean(message)));
    },
  };
}

function rangeHint(schema) {
  const low = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? `more than ${schema.exclusiveMinimum}` : undefined);
  const high = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? `less than ${schema.exclusiveMaximum}` : undefined);
  if (low !== undefined && high !== undefined) return `From ${low} to ${high}.`;
  if (low !== undefined) return typeof low === "number" ? `At least ${low}.` : `${low[0].toUpperCase()}${low.slice(1)}.`;
  if (high !== undefined) return typeof high === "number" ? `At most ${high}.` : `${high[0].toUpperCase()}${high.slice(1)}.`;
  return "";
}

function scalarInput(schema, { id, value, placeholder, label }) {
  if (Array.isArray(schema.enum)) {
    const select = h("select", { id, "aria-label": label },
      h("option", { value: "" }, placeholder !== undefined ? `Default (${placeholder})` : "— not set —"),
      schema.enum.map((option, index) => h("option", { value: String(index) }, String(option))));
    const at = schema.enum.findIndex((o) => JSON.stringify(o) === JSON.stringify(value));
    select.value = at >= 0 ? String(at) : "";
    return { input: select, read: () => (select.value === "" ? undefined : schema.enum[Number(select.value)]) };
  }
  if (schema.type === "integer" || schema.type === "number") {
    const input = h("input", {
      id, type: "number", inputmode: schema.type === "integer" ? "numeric" : "decimal", "aria-label": label,
      min: schema.minimum ?? schema.exclusiveMinimum, max: schema.maximum ?? schema.exclusiveMaximum,
      step: schema.type === "integer" ? 1 : "any", placeholder: placeholder !== undefined ? String(placeholder) : null,
    });
    input.value = value === undefined || value === null ? "" : String(value);
    const read = () => (input.value.trim() === "" ? undefined : Number(input.value));
    return { input, read };
  }
  const secret = schema.format === "password" || schema.writeOnly;
  const input = h("input", {
    id, type: secret ? "password" : "text", pattern: schema.pattern, "aria-label": label, autocomplete: "off",
    spellcheck: "false", placeholder: placeholder !== undefined ? String(placeholder) : null,
  });
  input.value = value === undefined || value === null ? "" : String(value);
  return { input, read: () => (input.value === "" ? undefined : input.value) };
}

function checkScalar(input, schema, read) {
  if (!input.checkValidity()) {
    if (input.validity.patternMismatch) return `Must match the pattern ${schema.pattern}`;
    if (input.validity.badInput) return "Enter a number";
    return input.validationMessage;
  }
  const v = read();
  if (v === undefined || typeof v !== "number") return null;
  if (schema.exclusiveMinimum !== undefined && v <= schema.exclusiveMinimum) return `Must be more than ${schema.exclusiveMinimum}`;
  if (schema.exclusiveMaximum !== undefined && v >= schema.exclusiveMaximum) return `Must be less than ${schema.exclusiveMaximum}`;
  return null;
}

/** One field of any kind; returns {el, get, validate, setError, fields} (fields: nested, by path). */
function field(rawSchema, ctx) {
  const schema = resolveSchema(rawSchema, ctx.root);
  const kind = kindOf(schema);
  const id = nextId("var");
  const title = schema.title ?? ctx.key;
  const common = { id, title, description: schema.description, required: ctx.required, path: ctx.path };
  const builders = { enum: scalarField, string: scalarField, number: scalarField, boolean: booleanField, map: mapField, list: listField, group: groupField, json: jsonField };
  return builders[kind](schema, ctx, common);
}

function scalarField(schema, ctx, common) {
  const { input, read } = scalarInput(schema, { id: common.id, value: ctx.value, placeholder: ctx.placeholder });
  const extraHint = schema.type === "integer" || schema.type === "number" ? rangeHint(schema) : "";
  const s = shell({ ...common, control: input, extraHint });
  return { el: s.el, get: read, setError: s.setError, focus: () => input.focus(), validate: () => checkScalar(input, schema, read) };
}

function booleanField(schema, ctx, common) {
  const input = h("input", { id: common.id, type: "checkbox" });
  let touched = ctx.value !== undefined;
  input.checked = Boolean(ctx.value ?? (ctx.placeholder === true));
  input.addEventListener("change", () => { touched = true; });
  const extraHint = !touched && ctx.placeholder !== undefined ? `Default: ${ctx.placeholder ? "on" : "off"}.` : "";
  const s = shell({ ...common, control: input, checkbox: true, extraHint });
  return { el: s.el, get: () => (touched ? input.checked : undefined), setError: s.setError, focus: () => input.focus(), validate: () => null };
}

/** Rows of [key][value][remove] for objects of names to values (env, labels). */
function mapField(schema, ctx, common) {
  const valueSchema = isObject(schema.additionalProperties) ? schema.additionalProperties : { type: "string" };
  const rows = h("div", { class: "rows" });
  const entries = [];
  const addRow = (key = "", value = "", focus = false) => {
    const n = entries.length + 1;
    const keyInput = h("input", { type: "text", class: "kv-key", "aria-label": `${common.title}: name ${n}`, placeholder: "NAME", spellcheck: "false", autocomplete: "off" });
    keyInput.value = key;
    const { input: valueInput, read } = scalarInput(valueSchema, { id: nextId("kv"), value, label: `${common.title}: value ${n}` });
    valueInput.classList.add("kv-value");
    valueInput.placeholder = "value";
    const entry = { keyInput, valueInput, read };
    const row = h("div", { class: "row" }, keyInput, valueInput,
      h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": `Remove ${common.title} entry ${n}`, title: "Remove",
        onclick: () => { entries.splice(entries.indexOf(entry), 1); row.remove(); addButton.focus(); } }, icon("trash")));
    entries.push(entry);
    rows.append(row);
    if (focus) keyInput.focus();
  };
  const addButton = h("button", { type: "button", class: "btn btn-secondary btn-small", id: common.id, onclick: () => addRow("", "", true) }, icon("plus"), "Add entry");
  const initial = isObject(ctx.value) ? ctx.value : {};
  for (const [k, v] of Object.entries(initial)) addRow(k, v);
  const placeholderHint = isObject(ctx.placeholder) && Object.keys(ctx.placeholder).length ? `Default: ${shortJson(ctx.placeholder)}.` : "";
  const s = shell({ ...common, control: h("div", { class: "kv" }, rows, addButton), wide: true, group: true, extraHint: placeholderHint });
  return {
    el: s.el,
    setError: s.setError,
    focus: () => (entries[0]?.keyInput ?? addButton).focus(),
    get() {
      const out = {};
      for (const e of entries) if (e.keyInput.value.trim()) out[e.keyInput.value.trim()] = e.read() ?? "";
      return Object.keys(out).length ? out : undefined;
    },
    validate() {
      const names = entries.map((e) => e.keyInput.value.trim()).filter(Boolean);
      const dupe = names.find((k, i) => names.indexOf(k) !== i);
      if (dupe) return `The name ${dupe} appears twice`;
      if (entries.some((e) => !e.keyInput.value.trim() && e.valueInput.value)) return "Every value needs a name";
      return null;
    },
  };
}

/** A list of scalar items with add/remove. */
function listField(schema, ctx, common) {
  const itemSchema = resolveSchema(schema.items ?? { type: "string" }, ctx.root);
  const rows = h("div", { class: "rows" });
  const items = [];
  const addItem = (value, focus = false) => {
    const n = items.length + 1;
    const { input, read } = scalarInput(itemSchema, { id: nextId("item"), value, label: `${common.title}: item ${n}` });
    const item = { input, read };
    const row = h("div", { class: "row" }, input,
      h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": `Remove ${common.title} item ${n}`, title: "Remove",
        onclick: () => { items.splice(items.indexOf(item), 1); row.remove(); addButton.focus(); } }, icon("trash")));
    items.push(item);
    rows.append(row);
    if (focus) input.focus();
  };
  const addButton = h("button", { type: "button", class: "btn btn-secondary btn-small", id: common.id, onclick: () => addItem(undefined, true) }, icon("plus"), "Add item");
  for (const v of Array.isArray(ctx.value) ? ctx.value : []) addItem(v);
  const placeholderHint = Array.isArray(ctx.placeholder) && ctx.placeholder.length ? `Default: ${shortJson(ctx.placeholder)}.` : "";
  const s = shell({ ...common, control: h("div", { class: "kv" }, rows, addButton), wide: true, group: true, extraHint: placeholderHint });
  return {
    el: s.el,
    setError: s.setError,
    focus: () => (items[0]?.input ?? addButton).focus(),
    get() {
      const out = items.map((i) => i.read()).filter((v) => v !== undefined);
      return out.length ? out : undefined;
    },
    validate() {
      for (const i of items) {
        const problem = checkScalar(i.input, itemSchema, i.read);
        if (problem) return problem;
      }
      return null;
    },
  };
}

/** An object with declared properties: a fieldset of its own fields. */
function groupField(schema, ctx, common) {
  const required = new Set(schema.required ?? []);
  const value = isObject(ctx.value) ? ctx.value : {};
  const placeholder = isObject(ctx.placeholder) ? ctx.placeholder : {};
  const children = Object.entries(schema.properties).map(([key, sub]) => [key, field(sub, {
    key, root: ctx.root, path: `${ctx.path}.${key}`, required: required.has(key), value: value[key], placeholder: placeholder[key], registry: ctx.registry,
  })]);
  for (const [, child] of children) ctx.registry.set(child.el.dataset.path, child);
  const error = h("p", { class: "field-error", hidden: true });
  const legendMarker = ctx.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null;
  const el = h("fieldset", { class: "group span-2", "data-path": ctx.path },
    h("legend", {}, common.title, legendMarker),
    common.description ? h("p", { class: "hint" }, common.description) : null,
    h("div", { class: "form-grid" }, children.map(([, c]) => c.el)),
    error);
  return {
    el,
    focus: () => children[0]?.[1].focus(),
    setError(message) {
      error.hidden = !message;
      error.textContent = message ?? "";
    },
    get() {
      const out = {};
      for (const [key, child] of children) {
        const v = child.get();
        if (v !== undefined) out[key] = v;
      }
      return Object.keys(out).length ? out : undefined;
    },
    validate() {
      let first = null;
      for (const [, child] of children) {
        const problem = child.validate();
        child.setError(problem);
        first ??= problem;
      }
      return first ? "" : null;
    },
  };
}

/** Anything without a friendlier editor: JSON in a small monospace box. */
function jsonField(schema, ctx, common) {
  const textarea = h("textarea", { id: common.id, class: "code-input small", rows: 3, spellcheck: "false", autocapitalize: "off",
    placeholder: ctx.placeholder !== undefined ? JSON.stringify(ctx.placeholder) : "JSON" });
  textarea.value = ctx.value === undefined ? "" : JSON.stringify(ctx.value, null, 2);
  const s = shell({ ...common, control: textarea, wide: true, extraHint: "Enter JSON." });
  const read = () => (textarea.value.trim() === "" ? undefined : JSON.parse(textarea.value));
  return {
    el: s.el,
    setError: s.setError,
    focus: () => textarea.focus(),
    get() {
      try { return read(); } catch { return undefined; }
    },
    validate() {
      try { read(); return null; } catch (error) { return `Not valid JSON: ${error.message}`; }
    },
  };
}

/**
 * The whole form for a variables schema.
 * values: current values by variable; placeholders: what applies when one is left empty.
 * Returns {el, collect(), showErrors(errors) -> unmatched, focusFirstInvalid(), isEmpty}.
 */
export function schemaForm(variables, { values = {}, placeholders = {} } = {}) {
  const properties = isObject(variables?.properties) ? variables.properties : {};
  const required = new Set(variables?.required ?? []);
  const registry = new Map();
  const fields = Object.entries(properties).map(([key, schema]) => {
    const f = field(schema, { key, root: variables, path: key, required: required.has(key), value: values[key], placeholder: placeholders[key], registry });
    registry.set(key, f);
    return [key, f];
  });
  const el = fields.length
    ? h("div", { class: "form-grid schema-form" }, fields.map(([, f]) => f.el))
    : h("p", { class: "muted" }, "This template declares no variables.");

  return {
    el,
    isEmpty: fields.length === 0,
    /** {values, valid}: only the variables that are set; shows inline errors. */
    collect() {
      const out = {};
      let valid = true;
      for (const [key, f] of fields) {
        const problem = f.validate();
        f.setError(problem);
        if (problem !== null) valid = false;
        const v = f.get();
        if (v !== undefined) out[key] = v;
      }
      return { values: out, valid };
    },
    /** Put each error next to its field (the longest matching path); returns the rest. */
    showErrors(errors) {
      const unmatched = [];
      let first = null;
      for (const { path, message } of errors) {
        let candidate = path;
        while (candidate && !registry.has(candidate)) candidate = candidate.includes(".") ? candidate.slice(0, candidate.lastIndexOf(".")) : "";
        const target = registry.get(candidate);
        if (target) {
          target.setError(message);
          first ??= target;
        } else unmatched.push({ path, message });
      }
      first?.focus();
      return unmatched;
    },
    clearErrors() {
      for (const f of registry.values()) f.setError(null);
    },
    focusFirstInvalid() {
      el.querySelector(".invalid input, .invalid select, .invalid textarea, [aria-invalid='true']")?.focus();
    },
  };
}
