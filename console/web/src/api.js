// The console's only way to the server: the public HTTP API (/v1/…) and
// the console's session endpoint, with the session cookie the browser
// holds and the session's CSRF token on every change.

const base = document.querySelector('meta[name="webhookd-base"]')?.content || "/console/";
export const consoleBase = base;
export const prefix = base.replace(/\/console\/$/, "");
const apiBase = `${prefix}/v1`;

let csrfToken = "";

export class APIError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new APIError(0, `The server cannot be reached (${e.message}).`, "UNAVAILABLE");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new APIError(res.status, err.message || `${res.status} ${res.statusText}`, err.status);
  }
  return data;
}

// session calls /console/session.
export const session = {
  async get() {
    const s = await request(`${base}session`);
    csrfToken = s.csrf_token;
    return s;
  },
  async signIn(body) {
    const s = await request(`${base}session`, { method: "POST", body });
    csrfToken = s.csrf_token;
    return s;
  },
  async signOut() {
    await request(`${base}session`, { method: "DELETE" });
    csrfToken = "";
  },
};

// api calls the public API at path (below /v1).
export function api(path, opts) {
  return request(apiBase + path, opts);
}

// streamURL is the URL of a server-sent events route below /v1.
export function streamURL(path) {
  return apiBase + path;
}

// query renders the set entries of params as a query string ("" or "?…").
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
