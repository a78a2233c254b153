// Calls the same /api routes as REST clients, with the session cookie and the CSRF token on writes.
let csrf = null;
export async function whoami() {
  const r = await fetch("/api/console/whoami", { credentials: "same-origin" });
  if (r.status === 401) { location.href = "/console/login"; throw new Error("not logged in"); }
  const me = await r.json(); csrf = me.csrf; return me;
}
export async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  const init = { method, credentials: "same-origin", headers };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf || "";
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  if (r.status === 401) { location.href = "/console/login"; throw new Error("session expired"); }
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) { const e = new Error((data && data.error) || `HTTP ${r.status}`); e.status = r.status; e.data = data; throw e; }
  return data;
}
export function csrfToken() { return csrf; }
