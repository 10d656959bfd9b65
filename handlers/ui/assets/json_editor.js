// A JSON editor for base job templates: a textarea with line numbers, a parser
// that knows the line of every key (so errors, ours or the server's, point at
// a line), and the template checks the server makes, run as the user types.

import { h, isObject, nextId } from "./dom.js";

export class JsonSyntaxError extends Error {
  constructor(message, offset, text) {
    const before = text.slice(0, offset).split("\n");
    super(message);
    this.line = before.length;
    this.column = before.at(-1).length + 1;
  }
}

/**
 * Parse JSON and note the line each value starts on, by path
 * ("variables.properties.cpu.default", "a.b[0]").  Throws JsonSyntaxError.
 */
export function parseJson(text) {
  let i = 0;
  const lines = new Map();
  const lineAt = (offset) => text.slice(0, offset).split("\n").length;
  const fail = (message) => {
    throw new JsonSyntaxError(message, Math.min(i, text.length), text);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i += 1;
  };
  const describe = () => (i >= text.length ? "the end of the text" : `'${text[i]}'`);

  function value(path) {
    ws();
    lines.set(path, lineAt(i));
    const c = text[i];
    if (c === "{") return object(path);
    if (c === "[") return array(path);
    if (c === '"') return string();
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    for (const [word, result] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return result;
      }
    }
    return fail(`Expected a value but found ${describe()}`);
  }

  function object(path) {
    const out = {};
    i += 1;
    ws();
    if (text[i] === "}") {
      i += 1;
      return out;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') fail(`Expected a quoted key but found ${describe()}`);
      const keyStart = i;
      const key = string();
      const child = path ? `${path}.${key}` : key;
      ws();
      if (text[i] !== ":") fail(`Expected ':' after the key "${key}" but found ${describe()}`);
      i += 1;
      if (Object.hasOwn(out, key)) {
        i = keyStart;
        fail(`The key "${key}" appears twice`);
      }
      out[key] = value(child);
      ws();
      if (text[i] === ",") {
        i += 1;
        ws();
        if (text[i] === "}") fail("A trailing comma is not allowed before '}'");
        continue;
      }
      if (text[i] === "}") {
        i += 1;
        return out;
      }
      fail(`Expected ',' or '}' but found ${describe()}`);
    }
  }

  function array(path) {
    const out = [];
    i += 1;
    ws();
    if (text[i] === "]") {
      i += 1;
      return out;
    }
    for (;;) {
      out.push(value(`${path}[${out.length}]`));
      ws();
      if (text[i] === ",") {
        i += 1;
        ws();
        if (text[i] === "]") fail("A trailing comma is not allowed before ']'");
        continue;
      }
      if (text[i] === "]") {
        i += 1;
        return out;
      }
      fail(`Expected ',' or ']' but found ${describe()}`);
    }
  }

  function string() {
    const start = i;
    i += 1;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\n") fail("A string may not span lines (use \\n)");
      i += text[i] === "\\" ? 2 : 1;
    }
    if (i >= text.length) {
      i = start;
      fail("This string is never closed");
    }
    i += 1;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      i = start;
      return fail("This string has an invalid escape sequence");
    }
  }

  function number() {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!match) fail(`Expected a number but found ${describe()}`);
    i += match[0].length;
    return Number(match[0]);
  }

  const result = value("");
  ws();
  if (i < text.length) fail(`Unexpected ${describe()} after the end of the JSON value`);
  return { value: result, lines };
}

const PLACEHOLDER = /\{\{\s*([\w.\-[\]$]+)\s*\}\}/g;

/** The checks the server makes on a template that need no JSON Schema engine. */
export function templateProblems(template) {
  if (!isObject(template)) return [{ path: "", message: "The template must be a JSON object with job_configuration and variables" }];
  if (Object.keys(template).length === 0) return [];
  const problems = [];
  const extra = Object.keys(template).filter((k) => k !== "job_configuration" && k !== "variables");
  for (const key of extra) problems.push({ path: key, message: `Unknown key "${key}": a template has only job_configuration and variables` });
  if (!isObject(template.job_configuration)) problems.push({ path: "job_configuration", message: "job_configuration must be an object" });
  const variables = template.variables;
  if (!isObject(variables)) {
    problems.push({ path: "variables", message: "variables must be a JSON Schema object" });
    return problems;
  }
  if (variables.type !== undefined && variables.type !== "object") problems.push({ path: "variables.type", message: 'variables.type must be "object"' });
  const properties = variables.properties ?? {};
  if (!isObject(properties)) {
    problems.push({ path: "variables.properties", message: "variables.properties must be an object" });
    return problems;
  }
  for (const [key, schema] of Object.entries(properties)) {
    if (!isObject(schema) && typeof schema !== "boolean") problems.push({ path: `variables.properties.${key}`, message: `The variable "${key}" must be a JSON Schema object` });
  }
  for (const name of variables.required ?? []) {
    if (!(name in properties)) problems.push({ path: "variables.required", message: `"${name}" is required but not declared in variables.properties` });
  }
  walkStrings(template.job_configuration, "job_configuration", (text, path) => {
    for (const [, name] of text.matchAll(PLACEHOLDER)) {
      const root = name.split(/[.[]/)[0];
      if (!(root in properties)) problems.push({ path, message: `{{ ${name} }} uses the undeclared variable "${root}"; declare it in variables.properties` });
    }
  });
  return problems;
}

function walkStrings(value, path, visit) {
  if (typeof value === "string") visit(value, path);
  else if (Array.isArray(value)) value.forEach((item, index) => walkStrings(item, `${path}[${index}]`, visit));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) walkStrings(v, `${path}.${k}`, visit);
}

/** The line of the longest known prefix of `path` (server paths may go deeper than the text). */
function lineOf(lines, path) {
  let candidate = path;
  while (candidate) {
    if (lines.has(candidate)) return lines.get(candidate);
    const cut = Math.max(candidate.lastIndexOf("."), candidate.lastIndexOf("["));
    candidate = cut > 0 ? candidate.slice(0, cut) : "";
  }
  return 1;
}

/**
 * The editor.  `validate(value)` returns [{path, message}] for a parsed value.
 * Returns {el, textarea, getText, setText, parse, showErrors}.
 */
export function jsonEditor({ label, hint, text = "", validate = () => [], rows = 22, okText = "✓ Valid JSON" }) {
  const id = nextId("json");
  const statusId = `${id}-status`;
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const textarea = h("textarea", {
    id, rows, spellcheck: "false", autocapitalize: "off", autocomplete: "off", wrap: "off",
    class: "code-input", "aria-describedby": statusId,
  });
  textarea.value = text;
  const status = h("div", { class: "editor-status", id: statusId, "aria-live": "polite" });
  const frame = h("div", { class: "code-editor" }, gutter, textarea);
  const el = h("div", { class: "field field-editor" }, h("label", { for: id }, label), hint ? h("p", { class: "hint" }, hint) : null, frame, status);
  let serverErrors = [];
  let timer = null;

  textarea.addEventListener("scroll", () => {
    gutter.scrollTop = textarea.scrollTop;
  });
  textarea.addEventListener("input", () => {
    serverErrors = [];
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });

  function parse() {
    try {
      const { value, lines } = parseJson(textarea.value);
      return { ok: true, value, lines };
    } catch (error) {
      if (!(error instanceof JsonSyntaxError)) throw error;
      return { ok: false, error };
    }
  }

  /** Re-check the text; returns the problems ([] if fine). */
  function check() {
    const parsed = parse();
    let problems;
    if (!parsed.ok) {
      problems = [{ line: parsed.error.line, message: `${parsed.error.message} (line ${parsed.error.line}, column ${parsed.error.column})` }];
    } else {
      const found = [...validate(parsed.value), ...serverErrors];
      problems = found.map((p) => ({ line: lineOf(parsed.lines, p.path), message: p.path ? `${p.path}: ${p.message}` : p.message }));
    }
    render(problems);
    return problems;
  }

  function render(problems) {
    const bad = new Set(problems.map((p) => p.line));
    const count = textarea.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: count }, (_, n) => h("div", { class: bad.has(n + 1) ? "ln ln-error" : "ln" }, String(n + 1))));
    gutter.scrollTop = textarea.scrollTop;
    frame.classList.toggle("has-error", problems.length > 0);
    textarea.setAttribute("aria-invalid", String(problems.length > 0));
    if (!problems.length) {
      status.replaceChildren(h("span", { class: "ok-text" }, okText));
      return;
    }
    status.replaceChildren(
      h("ul", { class: "editor-errors", role: "list" }, problems.map((p) =>
        h("li", {}, h("button", { type: "button", class: "link-button", onclick: () => goToLine(p.line) }, `Line ${p.line}`), ": ", p.message),
      )),
    );
  }

  function goToLine(line) {
    const lines = textarea.value.split("\n");
    const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    textarea.focus();
    textarea.setSelectionRange(offset, offset + (lines[line - 1]?.length ?? 0));
    const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  render([]);
  queueMicrotask(check);
  return {
    el,
    textarea,
    getText: () => textarea.value,
    setText(value) {
      textarea.value = value;
      serverErrors = [];
      check();
    },
    parse,
    check,
    /** Errors from the server, with paths relative to the template. */
    showErrors(errors) {
      serverErrors = errors;
      const problems = check();
      const first = problems[0];
      if (first) goToLine(first.line);
    },
  };
}
