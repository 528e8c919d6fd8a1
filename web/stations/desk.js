// Shared by the station page and the duty page: JSON calls with typed errors, durations, small DOM helpers.
import { applyI18n, errorText, setLang, currentLang } from "../js/i18n.js";

export const $ = (id) => document.getElementById(id);

export class DeskError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || (status ? "" : "network");
    this.body = body || {};
  }
  /** The sentence people read: the code translated, else the server's message. */
  get text() { return errorText(this.body?.error ? this.body : this.code || "network"); }
}

export async function call(method, path, { body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try { r = await fetch(path, init); } catch { throw new DeskError(0, { error: "network" }); }
  const text = await r.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 200) }; } }
  if (!r.ok) throw new DeskError(r.status, data);
  return data;
}

/** 75 → "1:15"; 3700 → "1:01:40". */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

export function localTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN",
    { hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

export function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

export function say(node, text, isError = false) {
  node.textContent = text;
  node.classList.toggle("error", isError);
}

export function setupLang(rerender) {
  applyI18n(document);
  $("lang").addEventListener("click", () => { setLang(currentLang() === "zh" ? "en" : "zh"); rerender(); });
}

export { hideCall, showCall } from "../js/call_frame.js"; // shared with the petitions pages
