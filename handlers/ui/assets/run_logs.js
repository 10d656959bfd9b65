// A flow run's log lines: read after the last line's key (the API's cursor, so
// nothing is shown twice or skipped), followed while the run is active and for
// a few seconds after it ends (its worker ships the last lines just after).

import { api } from "./api.js";
import { h, swap } from "./dom.js";

const PAGE = 1000;
const SETTLE_MS = 4000;
const LEVELS = { 10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL" };

export function logsPanel(run, page, { isActive }) {
  const lines = h("ol", { class: "log-lines" });
  const status = h("p", { class: "muted small", role: "status" }, "Reading the run's logs…");
  const box = h("div", { class: "log-box", tabindex: "0", role: "log", "aria-label": "Run logs", "aria-live": "polite" }, lines);
  const region = h("div", {}, status, box);
  let after = null;
  let endedAt = null;
  let count = 0;

  const describe = () => {
    const following = endedAt === null || Date.now() - endedAt < SETTLE_MS;
    const what = count === 0 ? "No log lines yet." : `${count} line${count === 1 ? "" : "s"}.`;
    swap(status, following ? `${what} Following new lines while the run is active.` : what);
    region.dataset.following = following ? "true" : "false";
  };

  const read = async () => {
    for (;;) {
      const where = { logs: { flow_run_id: { any_: [run.id] } }, limit: PAGE };
      if (after) where.after_key = after;
      const found = await api.post("/logs/filter", where, { signal: page.signal });
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      for (const line of found) lines.append(logLine(line));
      count += found.length;
      if (found.length) after = found[found.length - 1].key;
      if (atBottom && found.length) box.scrollTop = box.scrollHeight;
      if (found.length < PAGE) break;
    }
    describe();
  };

  const start = async () => {
    try {
      await read();
    } catch (error) {
      if (error.status === -1) return;
      swap(status, `The logs cannot be read: ${error.message}`);
      return;
    }
    page.every(1500, async () => {
      if (!isActive()) endedAt ??= Date.now();
      if (endedAt !== null && Date.now() - endedAt >= SETTLE_MS) return describe();
      await read();
    });
  };
  start();
  return region;
}

function logLine(line) {
  const level = LEVELS[line.level] ?? `LEVEL ${line.level}`;
  const time = new Date(line.timestamp);
  const clock = Number.isNaN(time.getTime()) ? line.timestamp : time.toISOString().slice(11, 23);
  return h("li", { class: "log-line", "data-level": level },
    h("time", { datetime: line.timestamp }, clock),
    h("span", { class: "log-level" }, level),
    h("span", { class: "log-message" }, line.message));
}
