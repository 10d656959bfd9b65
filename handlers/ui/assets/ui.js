// Shared pieces of every page: badges, slot bars, dialogs, toasts, tabs, panels.

import { h, icon, nextId } from "./dom.js";

const STATUS = {
  READY: { cls: "ok", icon: "ready", text: "Ready" },
  NOT_READY: { cls: "bad", icon: "not-ready", text: "Not ready" },
  PAUSED: { cls: "paused", icon: "paused", text: "Paused" },
  ONLINE: { cls: "ok", icon: "ready", text: "Online" },
  OFFLINE: { cls: "bad", icon: "not-ready", text: "Offline" },
};

/** A pool, queue or worker status: colour, icon and words (never colour alone). */
export function statusBadge(status) {
  const s = STATUS[status] ?? { cls: "neutral", icon: "alert", text: status };
  return h("span", { class: `badge status-${s.cls}`, "data-status": status }, icon(s.icon, { size: 14 }), s.text);
}

/** A flow-run state: its type's colour, its name ("Late", "Completed"). */
export function stateBadge(type, name) {
  return h("span", { class: `badge state state-${(type ?? "").toLowerCase()}`, "data-state": type }, name ?? type);
}

export function modeBadge(mode) {
  const label = { push: "Push", pull: "Pull", managed: "Managed" }[mode] ?? mode;
  return h("span", { class: `badge mode mode-${mode}` }, icon(mode, { size: 13 }), label);
}

/** Slots in use against a limit: a bar and "2 / 5" (or "2 / ∞" with no limit). */
export function slotsBar(active, limit, { label = "Slots in use" } = {}) {
  const unlimited = limit === null || limit === undefined;
  const ratio = unlimited ? 0 : limit === 0 ? 1 : Math.min(1, active / limit);
  const fill = h("span", { class: "slots-fill" });
  fill.style.width = `${Math.round(ratio * 100)}%`;
  const level = unlimited ? "free" : ratio >= 1 ? "full" : ratio >= 0.75 ? "high" : "free";
  return h(
    "span",
    {
      class: `slots slots-${level}${unlimited ? " slots-unlimited" : ""}`,
      role: "meter",
      "aria-label": label,
      "aria-valuemin": 0,
      "aria-valuemax": unlimited ? active : limit,
      "aria-valuenow": active,
      "aria-valuetext": unlimited ? `${active} in use, no limit` : `${active} of ${limit} in use`,
    },
    h("span", { class: "slots-track" }, fill),
    h("span", { class: "slots-text" }, `${active} / ${unlimited ? "∞" : limit}`),
  );
}

export function button(label, { kind = "secondary", iconName, onClick, type = "button", ...rest } = {}) {
  return h("button", { type, class: `btn btn-${kind}`, onclick: onClick, ...rest }, iconName ? icon(iconName) : null, label);
}

export function iconButton(iconName, label, { onClick, kind = "ghost", ...rest } = {}) {
  return h("button", { type: "button", class: `btn btn-${kind} btn-icon`, "aria-label": label, title: label, onclick: onClick, ...rest }, icon(iconName));
}

export function spinner(text = "Loading…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spin", "aria-hidden": "true" }), text);
}

/** A failed load: what went wrong and a way to try again (never a blank page). */
export function errorPanel(error, retry) {
  return h(
    "div",
    { class: "alert alert-error", role: "alert" },
    icon("alert"),
    h("div", {}, h("strong", {}, error?.status === 0 ? "The API is unreachable" : "Something went wrong"), h("p", {}, error?.message ?? String(error))),
    retry ? button("Retry", { iconName: "refresh", onClick: retry }) : null,
  );
}

export function emptyState({ title, body, action, iconName = "pools" }) {
  return h("div", { class: "empty" }, h("div", { class: "empty-icon" }, icon(iconName, { size: 32 })), h("h2", {}, title), body, action);
}

export function card(title, ...content) {
  return h("section", { class: "card" }, title ? h("h2", { class: "card-title" }, title) : null, ...content);
}

/** A definition list from [term, value] pairs. */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

export function code(text) {
  return h("code", { class: "mono" }, text);
}

// -- toasts -------------------------------------------------------------------------

export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  region.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 5000);
}

// -- dialogs --------------------------------------------------------------------------

/**
 * A modal <dialog> (native focus trap, Escape closes).  `body(close)` builds the
 * content; returns a promise of whatever `close(value)` is called with.
 */
export function dialog({ title, body, wide = false }) {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const opener = document.activeElement;
    const el = h("dialog", { class: `dialog${wide ? " dialog-wide" : ""}`, "aria-labelledby": titleId });
    let settled = false;
    const close = (value) => {
      if (settled) return;
      settled = true;
      el.close();
      el.remove();
      opener?.focus?.();
      resolve(value);
    };
    el.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(undefined);
    });
    el.append(
      h("header", { class: "dialog-head" }, h("h2", { id: titleId }, title), iconButton("x", "Close", { onClick: () => close(undefined) })),
      body(close),
    );
    document.body.append(el);
    el.showModal();
    (el.querySelector("[autofocus]") ?? el.querySelector("input, select, textarea, button.btn-primary"))?.focus();
  });
}

/** Ask before something destructive; with `typeToConfirm`, the user types that text. */
export function confirm({ title, message, confirmLabel = "Confirm", danger = false, typeToConfirm }) {
  return dialog({
    title,
    body: (close) => {
      const inputId = nextId("confirm");
      const input = typeToConfirm ? h("input", { id: inputId, type: "text", autocomplete: "off", spellcheck: "false" }) : null;
      const ok = button(confirmLabel, { kind: danger ? "danger" : "primary", type: "submit", disabled: Boolean(typeToConfirm) });
      input?.addEventListener("input", () => {
        ok.disabled = input.value !== typeToConfirm;
      });
      return h(
        "form",
        {
          class: "dialog-body",
          onsubmit: (event) => {
            event.preventDefault();
            if (!typeToConfirm || input.value === typeToConfirm) close(true);
          },
        },
        h("p", {}, message),
        input ? h("div", { class: "field" }, h("label", { for: inputId }, "Type ", h("strong", {}, typeToConfirm), " to confirm"), input) : null,
        h("footer", { class: "dialog-actions" }, button("Cancel", { onClick: () => close(false) }), ok),
      );
    },
  }).then(Boolean);
}

// -- tabs -------------------------------------------------------------------------------

/**
 * Accessible tabs (arrow keys move between them).  `tabs` are {id, label}; `onSelect`
 * gets the id.  Returns {list, panel, select(id)}.
 */
export function tabs(items, { active, onSelect, label }) {
  const panelId = nextId("panel");
  const buttons = items.map((item) =>
    h("button", {
      type: "button", role: "tab", id: `tab-${item.id}`, class: "tab", "aria-controls": panelId,
      "data-tab": item.id, onclick: () => select(item.id, true),
    }, item.label),
  );
  const list = h("div", { class: "tabs", role: "tablist", "aria-label": label }, buttons);
  const panel = h("div", { class: "tab-panel", role: "tabpanel", id: panelId, tabindex: "-1" });
  list.addEventListener("keydown", (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (event.key === "Home" || event.key === "End" || step) {
      event.preventDefault();
      const next = event.key === "Home" ? 0 : event.key === "End" ? buttons.length - 1 : (index + step + buttons.length) % buttons.length;
      buttons[next].focus();
      select(items[next].id, true);
    }
  });
  function select(id, fromUser = false) {
    for (const b of buttons) {
      const on = b.dataset.tab === id;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      if (on) panel.setAttribute("aria-labelledby", b.id);
    }
    if (fromUser) onSelect?.(id);
  }
  select(active ?? items[0].id);
  return { list, panel, select };
}

/** A page heading with breadcrumbs and actions; the h1 takes focus after navigation. */
export function pageHeader({ crumbs = [], title, badges = [], actions = [] }) {
  return h(
    "header",
    { class: "page-head" },
    crumbs.length
      ? h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("ol", {}, crumbs.map(([text, href]) => h("li", {}, href ? h("a", { href }, text) : text))))
      : null,
    h("div", { class: "page-title-row" }, h("h1", { tabindex: "-1" }, title), h("div", { class: "badges" }, badges), h("div", { class: "actions" }, actions)),
  );
}

/** A table cell that stacks as "label: content" on narrow screens. */
export function cell(label, ...children) {
  return h("td", { "data-label": label }, h("div", { class: "cell" }, children));
}

/** A switch (role=switch) for on/off settings such as "active" (= not paused). */
export function toggle({ checked, label, onChange, key }) {
  const el = h("button", {
    type: "button", role: "switch", class: "switch", "aria-checked": String(checked), "aria-label": label,
    title: label, "data-key": key,
  }, h("span", { class: "switch-knob" }));
  el.addEventListener("click", async () => {
    const next = el.getAttribute("aria-checked") !== "true";
    el.disabled = true;
    try {
      await onChange(next);
      el.setAttribute("aria-checked", String(next));
    } catch {
      // onChange reported the failure; the switch keeps its old position
    } finally {
      el.disabled = false;
    }
  });
  return el;
}

/**
 * A labelled control with a hint and an error line wired by aria-describedby.
 * Returns {el, input, setError(message|null)}.
 */
export function formField({ label, input, hint, required = false, wide = false, checkbox = false }) {
  const id = input.id || nextId("field");
  input.id = id;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  input.setAttribute("aria-describedby", [hint ? hintId : null, errorId].filter(Boolean).join(" "));
  if (required) input.setAttribute("aria-required", "true");
  const marker = required ? [h("span", { class: "req", "aria-hidden": "true" }, " *"), h("span", { class: "sr-only" }, " (required)")] : null;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const labelEl = checkbox ? h("label", { class: "check", for: id }, input, h("span", {}, label, marker)) : h("label", { for: id }, label, marker);
  const el = h("div", { class: `field${wide ? " span-2" : ""}` }, labelEl, hint ? h("p", { class: "hint", id: hintId }, hint) : null, checkbox ? null : input, error);
  return {
    el,
    input,
    setError(message) {
      error.hidden = !message;
      error.textContent = message ?? "";
      el.classList.toggle("invalid", Boolean(message));
      input.setAttribute("aria-invalid", String(Boolean(message)));
    },
  };
}

/** A form-level error list (errors no field claims). */
export function formAlert() {
  const el = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  return {
    el,
    show(messages) {
      const list = [messages].flat().filter(Boolean);
      el.hidden = list.length === 0;
      el.replaceChildren(icon("alert"), h("div", {}, list.length > 1 ? h("ul", {}, list.map((m) => h("li", {}, m))) : h("p", {}, list[0] ?? "")));
      if (list.length) el.scrollIntoView({ block: "nearest" });
    },
  };
}

/** "" -> null (no limit); otherwise a non-negative integer, or NaN when it is not one. */
export function parseLimit(text) {
  const value = text.trim();
  if (value === "") return null;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}
