// A pool's queues: the table, create/edit dialogs that preview the resulting
// priority order, move up/down, pause and delete.
//
// The preview mirrors core/rules/queues.py `place`: a taken priority p puts the queue
// before the queue holding p, and the ones after shift down only as far as
// needed to stay unique (gaps are kept).

import { api } from "./api.js";
import { enc, h, timeAgo } from "./dom.js";
import { button, cell, confirm, dialog, formAlert, formField, iconButton, parseLimit, slotsBar, statusBadge, toast, toggle } from "./ui.js";

export function firstFreePriority(taken) {
  const used = new Set(taken);
  let candidate = 1;
  while (used.has(candidate)) candidate += 1;
  return candidate;
}

/** The pool's queues in order after giving `target` the priority `priority` (null: keep / first free). */
export function resultingOrder(queues, target, priority) {
  const existing = queues.find((q) => q.id === target.id);
  const others = queues.filter((q) => q.id !== target.id).map((q) => ({ ...q, from: q.priority })).sort((a, b) => a.priority - b.priority);
  let wanted = priority;
  if (wanted === null || wanted === undefined) wanted = existing ? existing.priority : firstFreePriority(others.map((q) => q.priority));
  let floor = wanted;
  for (const other of others) {
    if (other.priority < wanted) continue;
    if (other.priority > floor) break;
    floor += 1;
    other.priority = floor;
  }
  const moved = { ...(existing ?? {}), ...target, priority: wanted, from: existing?.priority ?? null, target: true };
  return [...others, moved].sort((a, b) => a.priority - b.priority);
}

function orderList(order) {
  return h("ol", { class: "order-preview", "aria-label": "Resulting order" }, order.map((q) =>
    h("li", { class: q.target ? "is-target" : "", "data-queue": q.name, "data-priority": q.priority },
      h("span", { class: "prio" }, String(q.priority)),
      h("span", {}, q.name || "(this queue)"),
      q.from !== null && q.from !== q.priority ? h("span", { class: "muted small" }, ` was ${q.from}`) : null,
      q.target && q.from === null ? h("span", { class: "muted small" }, " new") : null)));
}

/** Create (queue undefined) or edit a queue; resolves true when saved. */
export function queueDialog(pool, queues, queue) {
  const editing = Boolean(queue);
  return dialog({
    title: editing ? `Edit queue ${queue.name}` : "Create a work queue",
    body: (close) => {
      const f = {
        name: formField({ label: "Name", required: true, input: h("input", { type: "text", id: "queue-name", autocomplete: "off", spellcheck: "false", value: queue?.name ?? "", autofocus: true }) }),
        description: formField({ label: "Description", input: h("input", { type: "text", id: "queue-description", value: queue?.description ?? "" }) }),
        priority: formField({
          label: "Priority",
          input: h("input", { type: "number", id: "queue-priority", min: 1, step: 1, inputmode: "numeric", value: queue?.priority ?? "", placeholder: `${firstFreePriority(queues.map((q) => q.priority))} (first free)` }),
          hint: "1 is the highest. A taken priority puts this queue before the one holding it.",
        }),
        concurrency_limit: formField({ label: "Concurrency limit", input: h("input", { type: "number", id: "queue-limit", min: 0, step: 1, inputmode: "numeric", placeholder: "Unlimited", value: queue?.concurrency_limit ?? "" }), hint: "Empty: no limit of its own (the pool's limit still applies)." }),
        is_paused: formField({ label: "Paused", checkbox: true, input: h("input", { type: "checkbox", id: "queue-paused", checked: Boolean(queue?.is_paused) }), hint: "A paused queue releases nothing; its runs wait." }),
      };
      const alert = formAlert();
      const preview = h("div", { class: "preview-box", "aria-live": "polite" });
      const target = () => ({ id: queue?.id ?? "__new__", name: f.name.input.value.trim() });
      const drawPreview = () => {
        const raw = f.priority.input.value.trim();
        const priority = raw === "" ? null : Number(raw);
        if (priority !== null && !(Number.isInteger(priority) && priority >= 1)) {
          preview.replaceChildren(h("p", { class: "muted" }, "Enter a whole number of 1 or more to see the resulting order."));
          return;
        }
        preview.replaceChildren(h("h3", { class: "small-title" }, "Resulting order"), orderList(resultingOrder(queues, target(), priority)));
      };
      f.priority.input.addEventListener("input", drawPreview);
      f.name.input.addEventListener("input", drawPreview);
      drawPreview();
      const save = button(editing ? "Save queue" : "Create queue", { kind: "primary", type: "submit" });
      return h("form", {
        class: "dialog-body", novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          const body = collect(f, queue);
          if (!body) return;
          save.disabled = true;
          try {
            if (editing) await api.patch(`/work_pools/${enc(pool.name)}/queues/${enc(queue.name)}`, body);
            else await api.post(`/work_pools/${enc(pool.name)}/queues`, body);
            toast(editing ? `Saved the queue ${body.name ?? queue.name}.` : `Created the queue ${body.name}.`, "success");
            close(true);
          } catch (error) {
            const rest = [];
            const errors = error.fields.length ? error.fields : [{ path: error.status === 409 ? "name" : "", message: error.message }];
            for (const { path, message } of errors) (f[path] ? f[path].setError(message) : rest.push(message));
            alert.show(rest);
          } finally {
            save.disabled = false;
          }
        },
      },
      alert.el,
      h("div", { class: "form-grid" }, f.name.el, f.priority.el, f.concurrency_limit.el, f.description.el, f.is_paused.el),
      preview,
      h("footer", { class: "dialog-actions" }, button("Cancel", { onClick: () => close(false) }), save));
    },
  }).then(Boolean);
}

function collect(f, queue) {
  for (const field of Object.values(f)) field.setError(null);
  const name = f.name.input.value.trim();
  if (!name) {
    f.name.setError("A queue needs a name.");
    f.name.input.focus();
    return null;
  }
  const limit = parseLimit(f.concurrency_limit.input.value);
  if (Number.isNaN(limit)) {
    f.concurrency_limit.setError("Enter a whole number of 0 or more, or leave it empty.");
    return null;
  }
  const rawPriority = f.priority.input.value.trim();
  const priority = rawPriority === "" ? null : Number(rawPriority);
  if (priority !== null && !(Number.isInteger(priority) && priority >= 1)) {
    f.priority.setError("Enter a whole number of 1 or more (1 is the highest).");
    return null;
  }
  const body = { description: f.description.input.value, concurrency_limit: limit, is_paused: f.is_paused.input.checked };
  if (!queue || name !== queue.name) body.name = name;
  if (priority !== null && priority !== queue?.priority) body.priority = priority;
  return body;
}

async function move(pool, ordered, index, step, refresh) {
  const [mover, other] = step < 0 ? [ordered[index], ordered[index - 1]] : [ordered[index + 1], ordered[index]];
  try {
    await api.patch(`/work_pools/${enc(pool.name)}/queues/${enc(mover.name)}`, { priority: other.priority });
    const after = await refresh();
    const order = [...after].sort((a, b) => a.priority - b.priority).map((q) => `${q.priority} ${q.name}`).join(", ");
    toast(`Queue order: ${order}.`, "success");
  } catch (error) {
    toast(`Could not reorder: ${error.message}`, "error");
  }
}

/** The queues table; `refresh()` reloads the pool page's data and resolves to the new queues. */
export function queuesTable(pool, queues, refresh) {
  const ordered = [...queues].sort((a, b) => a.priority - b.priority);
  const rows = ordered.map((q, index) => {
    const isDefault = q.id === pool.default_queue_id;
    return h("tr", { "data-queue": q.name },
      cell("Priority", h("div", { class: "prio-cell" },
        h("span", { class: "prio" }, String(q.priority)),
        iconButton("up", `Move ${q.name} up`, { disabled: index === 0, "data-key": `up-${q.name}`, onClick: () => move(pool, ordered, index, -1, refresh) }),
        iconButton("down", `Move ${q.name} down`, { disabled: index === ordered.length - 1, "data-key": `down-${q.name}`, onClick: () => move(pool, ordered, index, 1, refresh) }))),
      cell("Name", h("strong", {}, q.name), isDefault ? h("span", { class: "chip" }, "default") : null, q.description ? h("div", { class: "muted small" }, q.description) : null),
      cell("Status", statusBadge(q.status)),
      cell("Slots / limit", slotsBar(q.active_slots, q.concurrency_limit, { label: `Slots in use in queue ${q.name}` })),
      cell("Active", toggle({
        checked: !q.is_paused, label: `${q.is_paused ? "Resume" : "Pause"} queue ${q.name}`, key: `toggle-${q.name}`,
        onChange: async (on) => {
          try {
            await api.patch(`/work_pools/${enc(pool.name)}/queues/${enc(q.name)}`, { is_paused: !on });
            toast(`Queue ${q.name} ${on ? "resumed" : "paused"}.`, "success");
            await refresh();
          } catch (error) {
            toast(`Could not change ${q.name}: ${error.message}`, "error");
            throw error;
          }
        },
      })),
      cell("Last polled", timeAgo(q.last_polled)),
      h("td", { "data-label": "Actions", class: "row-actions" },
        iconButton("edit", `Edit queue ${q.name}`, { "data-key": `edit-${q.name}`, onClick: async () => { if (await queueDialog(pool, queues, q)) await refresh(); } }),
        iconButton("trash", isDefault ? `Delete queue ${q.name}: the default queue cannot be deleted` : `Delete queue ${q.name}`, {
          disabled: isDefault, "data-key": `delete-${q.name}`,
          onClick: async () => {
            const ok = await confirm({ title: `Delete the queue ${q.name}?`, message: `Its scheduled runs are deleted with it. Runs already started are not affected.`, confirmLabel: "Delete queue", danger: true });
            if (!ok) return;
            try {
              await api.del(`/work_pools/${enc(pool.name)}/queues/${enc(q.name)}`);
              toast(`Deleted the queue ${q.name}.`, "success");
              await refresh();
            } catch (error) {
              toast(`Could not delete ${q.name}: ${error.message}`, "error");
            }
          },
        })));
  });
  return h("div", { class: "stack" },
    h("div", { class: "panel-head" },
      h("p", { class: "muted" }, "Runs are released to queues in priority order (1 first); a queue held back by its own limit passes the pool's spare slots down."),
      button("Create queue", { kind: "primary", iconName: "plus", "data-key": "create-queue", onClick: async () => { if (await queueDialog(pool, queues)) await refresh(); } })),
    h("div", { class: "table-wrap" }, h("table", { class: "table queues-table" },
      h("caption", { class: "sr-only" }, `Work queues of ${pool.name}`),
      h("thead", {}, h("tr", {}, ["Priority", "Name", "Status", "Slots / limit", "Active", "Last polled", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))));
}
