// What the petition pages share: the API over fetch, element building, error sentences, the clip recorder.
import { errorText as serverErrorText, t } from "/static/js/i18n.js";

export const $ = (id) => document.getElementById(id);

/** An error answer: HTTP status and the JSON body ({error, message, ...}). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.error || "";
  }
}

/** JSON (or FormData) request; staff pages ride on the HttpOnly session cookie, citizens send their token header. */
export async function request(method, path, { body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json", ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: "network" });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 300) }; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function errorText(err) {
  if (err instanceof ApiError) return serverErrorText(err.body);
  if (err?.name === "ClipUploadError") return serverErrorText({ ...err.params, error: err.code });
  return String(err?.message || err);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A court-local date and time (Asia/Shanghai) for people. */
export function localTime(iso, { date = false } = {}) {
  if (!iso) return "";
  const d = new Date(iso);
  const opts = { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" };
  if (!date) Object.assign(opts, { hour: "2-digit", minute: "2-digit", hour12: false });
  return new Intl.DateTimeFormat("zh-CN", opts).format(d);
}

// The camera recorder is shared with the stations' recorded messages (web/js/clip_recorder.js).
export { ClipRecorder, MAX_SECONDS } from "/static/js/clip_recorder.js";

export function whyDenied(err) {
  const name = err?.name || "";
  if (name === "NotAllowedError" || name === "SecurityError") return t("whyDenied");
  if (name === "NotFoundError" || name === "OverconstrainedError") return t("whyMissing");
  if (name === "NotReadableError") return t("whyBusy");
  return t("whyOther");
}
