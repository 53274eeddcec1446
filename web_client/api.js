// api.js: the HTTP API (docs/protocol.md, "HTTP API"). The session is the
// HttpOnly cookie the server sets at login; nothing is kept in JS.

/** The server answered 401: no valid session. */
export class Unauthorized extends Error {}

/** JSON request; throws Unauthorized on 401 and an ApiError (.status, .reason) otherwise. */
export async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return answer(res);
}

/** A problem answer: .status and the server's reason (docs/reporting.md: {"error", "status"}). */
export class ApiError extends Error {
  constructor(status, reason) {
    super(reason ? `HTTP ${status}: ${reason}` : `HTTP ${status}`);
    this.status = status;
    this.reason = reason || "";
  }
}

async function answer(res) {
  if (res.status === 401) throw new Unauthorized();
  const type = res.headers.get("Content-Type") || "";
  if (!res.ok) {
    let reason = "";
    try {
      if (type.includes("json")) reason = String((await res.json()).error ?? "");
    } catch {
      // no readable body
    }
    throw new ApiError(res.status, reason);
  }
  return type.includes("json") ? res.json() : null;
}

/** multipart/form-data POST (file uploads); answers like api(). */
export async function apiForm(path, formData) {
  const res = await fetch(path, { method: "POST", credentials: "same-origin", body: formData });
  return answer(res);
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
