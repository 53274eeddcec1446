// api.js: the HTTP API (docs/protocol.md, "HTTP API"). The session is the
// HttpOnly cookie the server sets at login; nothing is kept in JS.

/** The server answered 401: no valid session. */
export class Unauthorized extends Error {}

/** JSON request; throws Unauthorized on 401 and an Error with .status otherwise. */
export async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
  const type = res.headers.get("Content-Type") || "";
  return type.includes("json") ? res.json() : null;
}

/** POST /api/login; resolves to the HTTP status (200 on success, 401 wrong password). */
export async function login(username, password) {
  const res = await fetch("/api/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  return res.status;
}

/** GET /api/recordings as a list (the server wraps it as {recordings: [...]}). */
export async function listRecordings() {
  const body = await api("/api/recordings");
  return Array.isArray(body) ? body : (body && body.recordings) || [];
}
