// The station page (连线法官 · 工作站): the operator starts a call for a person, sees the queue position, the call
// itself (the join page in a frame) and the station's history. The station's device link arrives once in the URL
// fragment (#link=…, never sent to servers), is kept in localStorage so the shared PC stays signed in, and is sent
// as X-Station-Link. The page polls its call every 2 s; the polls are also the station's heartbeat in the queue.
import { errorText, label, t } from "../js/i18n.js";
import { $, call, cell, DeskError, duration, hideCall, localTime, say, setupLang, showCall } from "./desk.js";
import { ClipRecorder } from "../js/clip_recorder.js";
import { ClipUploadError, uploadClip } from "../js/clip_upload.js";

const LINK_KEY = "station.link";
const PERSON_KEY = "station.call-link";  // a person's own call link (#call=…): no station, the court knows them
const CALL_KEY = "station.call";
const POLL_MS = 2000;
const fragment = new URLSearchParams(location.hash.slice(1));
for (const [param, key] of [["link", LINK_KEY], ["call", PERSON_KEY]]) {
  if (fragment.get(param)) {
    localStorage.setItem(key, fragment.get(param));
    localStorage.removeItem(param === "link" ? PERSON_KEY : LINK_KEY);
    history.replaceState(null, "", location.pathname);
  }
}
const link = localStorage.getItem(LINK_KEY);
const personLink = localStorage.getItem(PERSON_KEY);
const headers = personLink ? { "X-Call-Link": personLink } : link ? { "X-Station-Link": link } : {};
const page = { view: "loading", station: null, call: null, joinLink: null, error: null };
window.stationPage = page;

const api = (method, path, body) => call(method, `/api/stations/me${path}`, { body, headers });

function view(name) {
  page.view = name;
  document.body.dataset.view = name;
  for (const id of ["signed-out", "request-view", "waiting-view", "outcome-view", "call-view", "message-view"]) {
    $(id).hidden = id !== `${name}${name === "signed-out" ? "" : "-view"}`;
  }
}

function fillSelect(select, group, values) {
  const chosen = select.value;
  select.replaceChildren(new Option("—", ""), ...values.map((v) => new Option(label(group, v), v)));
  select.value = chosen;
}

function renderStation() {
  const s = page.station;
  if (!s) return;
  $("who").textContent = s.name;
  const hours = s.opening_hours ? t("stHours", { h: s.opening_hours }) : t("stAlwaysOpen");
  $("open-now").textContent = `${s.open_now ? t("stOpenNow") : t("stClosedNow")} · ${hours}`;
  $("open-now").className = s.open_now ? "open-yes" : "open-no";
  fillSelect($("id-method"), "verification", ["id_card_at_station", "id_card_on_video", "face_match", "known_to_court"]);
  const person = s.kind === "person";  // the server fills in who is calling
  for (const id of ["caller-name", "id-method"]) $(id).closest(".field").hidden = person;
  if (person) $("open-now").textContent = t("stPersonMode");
  fillSelect($("category"), "category", s.categories);
}

function signedOut(err) {
  page.error = err?.code || "no_link";
  say($("signed-out-text"), err ? err.text : t("stNoLink"), true);
  view("signed-out");
}

async function renderHistory() {
  const rows = await api("GET", "/calls");
  const body = $("history").tBodies[0];
  body.replaceChildren();
  if (!rows.length) { cell(body.insertRow(), t("stNone")).colSpan = 4; return; }
  for (const c of rows) {
    const row = body.insertRow();
    row.dataset.state = c.state;
    cell(row, localTime(c.requested_at));
    cell(row, label("category", c.category));
    cell(row, c.message_left ? t("stMessageLeftShort") : label("callState", c.state));
    cell(row, c.waited_seconds == null ? "" : duration(c.waited_seconds), "num");
  }
}

const OUTCOME_TEXT = { ended: "stEnded", cancelled: "stCancelled", abandoned: "stAbandoned",
  message_pending: "stMessageLeft" };

async function renderCall(c) {
  if (page.call && (page.call.id !== c.id || page.call.state !== c.state)) renderHistory().catch(() => {});
  page.call = c;
  if (c.state === "waiting") {
    hideCall($("call-frame"));
    $("waiting-text").textContent = c.position
      ? t("stWaiting", { n: c.position, t: duration(c.waited_seconds) }) : t("stWaitingNoPos", { t: duration(c.waited_seconds) });
    view("waiting");
    return;
  }
  if (c.state === "in_call") {
    if (!page.joinLink) page.joinLink = (await api("POST", `/calls/${c.id}/join`)).link;
    showCall($("call-frame"), page.joinLink);
    $("call-text").textContent = c.judge_connection === "reconnecting" ? t("stJudgeReconnecting") : t("stInCall");
    view("call");
    return;
  }
  page.joinLink = null;
  hideCall($("call-frame"));
  if (c.state === "message_pending" && !c.message_left) {
    if (page.view !== "message") { say($("message-error"), ""); $("message-status").textContent = ""; }
    view("message");
    return;
  }
  closeRecorder();
  const byState = c.state === "message_pending" || c.state === "cancelled";  // the caller's own choice, not the reason
  let text = c.reason && !byState ? t(`reason_${c.reason}`) : t(OUTCOME_TEXT[c.state] || "stEnded");
  if (c.state === "callback_requested") text = t("stCallbackAt", { t: localTime(c.callback_at) });
  $("outcome-text").textContent = text;
  const open = c.state === "unanswered" || c.state === "interrupted";
  $("requeue").hidden = !open;
  $("callback").hidden = c.state !== "unanswered" || !c.callback_slot;
  $("message").hidden = c.state !== "unanswered";
  $("new-request").hidden = open;
  say($("outcome-error"), "");
  view("outcome");
  if (!open) localStorage.removeItem(CALL_KEY);
}

async function poll() {
  const id = localStorage.getItem(CALL_KEY);
  try {
    if (!id) {
      if (page.view !== "request") view("request");
      return;
    }
    await renderCall(await api("GET", `/calls/${id}`));
  } catch (err) {
    if (err instanceof DeskError && err.status === 401) { signedOut(err); return; }
    if (err instanceof DeskError && err.code === "call_not_found") { localStorage.removeItem(CALL_KEY); return; }
  } finally {
    if (page.view !== "signed-out") setTimeout(poll, POLL_MS);
  }
}

$("request-view").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("request-submit").disabled = true;
  say($("request-error"), "");
  try {
    const c = await api("POST", "/calls", { caller_name: $("caller-name").value, verification_method: $("id-method").value,
      category: $("category").value, summary: $("summary").value });
    localStorage.setItem(CALL_KEY, c.id);
    for (const id of ["caller-name", "summary"]) $(id).value = "";  // only once the court has the request
    await renderCall(c);
    renderHistory();
  } catch (err) {
    say($("request-error"), err instanceof DeskError ? err.text : String(err), true);
  } finally {
    $("request-submit").disabled = false;
  }
});

async function move(action) {
  try {
    await renderCall(await api("POST", `/calls/${page.call.id}/${action}`));
    renderHistory();
  } catch (err) {
    say($("outcome-error"), err instanceof DeskError ? err.text : String(err), true);
  }
}
$("cancel").addEventListener("click", () => move("cancel"));
$("requeue").addEventListener("click", () => move("requeue"));
$("callback").addEventListener("click", () => move("callback"));
$("message").addEventListener("click", () => move("message"));
// ---- the recorded video message (nobody answered): record, upload (resumable), attach to the call ----------
let recorder = null;
function closeRecorder() { recorder?.close(); recorder = null; }

$("message-record").addEventListener("click", async () => {
  say($("message-error"), "");
  recorder = recorder || new ClipRecorder($("message-preview"), (s) => {
    $("message-status").textContent = t("stRecording", { s });
  });
  try {
    await recorder.start();
  } catch (err) {
    say($("message-error"), t("stCameraDenied"), true);
    closeRecorder();
    return;
  }
  $("message-record").hidden = true;
  $("message-send").hidden = false;
});

$("message-send").addEventListener("click", async () => {
  $("message-send").disabled = true;
  try {
    const blob = await recorder.stop();
    const clip = await uploadClip(blob, { purpose: "station", headers,
      onProgress: (sent, total) => { $("message-status").textContent = t("stUploading", { p: Math.floor(100 * sent / total) }); },
      onRetry: (n, ms) => { $("message-status").textContent = t("stUploadRetry", { s: Math.ceil(ms / 1000) }); } });
    await renderCall(await api("POST", `/calls/${page.call.id}/message-clip`, { clip_id: clip.id }));
    renderHistory();
  } catch (err) {
    const text = err instanceof ClipUploadError ? errorText(err.params) : err instanceof DeskError ? err.text : String(err);
    say($("message-error"), text, true);
    $("message-record").hidden = false;
    $("message-send").hidden = true;
  } finally {
    $("message-send").disabled = false;
  }
});

$("new-request").addEventListener("click", () => { localStorage.removeItem(CALL_KEY); view("request"); });

setupLang(() => { renderStation(); if (page.call) renderCall(page.call); renderHistory().catch(() => {}); });

(async () => {
  try {
    page.station = await api("GET", "");
  } catch (err) {
    signedOut(link || personLink || err.status !== 401 ? err : null);
    return;
  }
  renderStation();
  renderHistory().catch(() => {});
  poll();
})();
