// The API client: the user's token (session storage), timeouts, slow-call notices,
// and errors that know which field they concern.
//
// Paths are relative to the page ("api/..."), so the UI works wherever it is
// served from: `pushpool server` on a port, or API Gateway under a stage path.

const TOKEN_KEY = "pushpool.token";
const SLOW_MS = 1200;
const TIMEOUT_MS = 20_000;

export const token = {
  get() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  },
  set(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
    window.dispatchEvent(new CustomEvent("pushpool:token"));
  },
};

/** An API error: the HTTP status, the API's `detail`, and the field paths it names. */
export class ApiError extends Error {
  constructor(status, detail, body = {}) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.body = body;
    this.fields = fieldErrors(this.message, body);
  }

  get unauthorized() {
    return this.status === 401;
  }
}

/**
 * [{path: "concurrency_limit", message}] from an error body.  Validation errors
 * carry `errors[].loc`; domain errors start their detail with the path
 * ("base_job_template.variables.properties.cpu.default: 0 is less than ...").
 */
export function fieldErrors(detail, body) {
  if (Array.isArray(body?.errors) && body.errors.length) {
    return body.errors.map((e) => ({
      path: (e.loc ?? []).filter((p) => p !== "body").join("."),
      message: e.msg ?? detail,
    }));
  }
  const match = /^([A-Za-z_][\w.\-[\]]*): (.+)$/s.exec(detail ?? "");
  return match ? [{ path: match[1], message: match[2] }] : [];
}

let inflight = 0;
let slowTimer = null;

function started() {
  inflight += 1;
  if (!slowTimer) {
    slowTimer = setTimeout(() => window.dispatchEvent(new CustomEvent("pushpool:slow", { detail: true })), SLOW_MS);
  }
}

function finished() {
  inflight -= 1;
  if (inflight === 0) {
    clearTimeout(slowTimer);
    slowTimer = null;
    window.dispatchEvent(new CustomEvent("pushpool:slow", { detail: false }));
  }
}

/** Send one request; resolves to the parsed JSON (or null for 204), rejects with ApiError. */
export async function request(method, path, body, { signal, timeout = TIMEOUT_MS } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token.get();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort("timeout"), timeout);
  signal?.addEventListener("abort", () => controller.abort("navigated"), { once: true });
  started();
  let response;
  try {
    response = await fetch(`api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
    });
  } catch (error) {
    if (controller.signal.reason === "navigated") throw new ApiError(-1, "cancelled");
    if (controller.signal.reason === "timeout") {
      throw new ApiError(0, `The API did not answer within ${timeout / 1000} s. Check that the server is running, then retry.`);
    }
    throw new ApiError(0, `Cannot reach the API (${error.message}). Check that the server is running, then retry.`);
  } finally {
    clearTimeout(timer);
    finished();
  }
  if (response.status === 204 || response.status === 304) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`);
    throw new ApiError(response.status, "The API answered with something that is not JSON.");
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data?.detail ?? `${response.status} ${response.statusText}`, data ?? {});
    if (error.unauthorized) window.dispatchEvent(new CustomEvent("pushpool:unauthorized", { detail: error }));
    throw error;
  }
  return data;
}

export const api = {
  get: (path, opts) => request("GET", path, undefined, opts),
  post: (path, body = {}, opts) => request("POST", path, body, opts),
  patch: (path, body, opts) => request("PATCH", path, body, opts),
  del: (path, opts) => request("DELETE", path, undefined, opts),
};

let typesPromise = null;

/** The pool types with their default templates (asked once per page load). */
export function poolTypes() {
  typesPromise ??= api.get("/work_pool_types/").catch((error) => {
    typesPromise = null;
    throw error;
  });
  return typesPromise;
}

export async function poolType(type) {
  return (await poolTypes()).find((t) => t.type === type);
}
