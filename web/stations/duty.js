// The duty page (连线法官 · 值班法官): the queue of the courts one is on duty for, with live waiting times; accept
// (the first judge to accept wins — the others are told); available/busy/away; the call in a frame of the join
// page, with the recording switch, the note and the end button; a call can be filed as a video petition (接诉即办)
// that names it (petitions/ checks the call). Staff log in with the staff session cookie.
import { LABELS, label, t } from "../js/i18n.js";
import { $, call, cell, DeskError, duration, hideCall, localTime, say, setupLang, showCall } from "./desk.js";

const POLL_MS = 2000;
const page = { view: "loading", duty: null, active: null, link: null, recording: false, polledAt: 0 };
window.dutyPage = page;

function view(name) {
  page.view = name;
  document.body.dataset.view = name;
  $("login-view").hidden = name !== "login";
  $("queue-view").hidden = name !== "queue";
  $("call-view").hidden = name !== "call";
  for (const id of ["status-card", "mine-card"]) $(id).hidden = name === "login";
  $("note-card").hidden = name !== "call";
}

function renderQueue() {
  const d = page.duty;
  $("who").textContent = d.name;
  $("off-duty").hidden = d.on_duty;
  for (const b of $("status-buttons").querySelectorAll("button")) {
    b.textContent = label("dutyStatus", b.dataset.status);
    b.setAttribute("aria-pressed", String(b.dataset.status === d.status));
  }
  const body = $("queue").tBodies[0];
  body.replaceChildren();
  if (!d.queue.length) cell(body.insertRow(), t("dutyQueueEmpty")).colSpan = 6;
  const since = (Date.now() - page.polledAt) / 1000;
  for (const q of d.queue) {
    const row = body.insertRow();
    row.dataset.callId = q.id;
    cell(row, duration(q.waited_seconds + since), `num wait presence-${q.caller_presence}`).dataset.base =
      String(q.waited_seconds);
    cell(row, q.station_name);
    cell(row, label("category", q.category));
    cell(row, `${q.caller_name}（${label("verification", q.verification_method)}）`);
    cell(row, q.summary);
    const b = document.createElement("button");
    b.type = "button";
    b.className = "primary accept";
    b.textContent = t("dutyAccept");
    b.addEventListener("click", () => accept(q.id, b));
    row.insertCell().append(b);
  }
  renderMessages(d.messages || []);
  const mine = $("mine").tBodies[0];
  mine.replaceChildren();
  for (const c of d.calls) {
    const row = mine.insertRow();
    cell(row, localTime(c.accepted_at));
    cell(row, label("category", c.category));
    cell(row, label("callState", c.state));
  }
}

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  b.addEventListener("click", () => onClick(b));
  return b;
}

/** Recorded messages left when nobody answered: play the clip (a short-lived address), then take it in hand. */
function renderMessages(messages) {
  const body = $("messages").tBodies[0];
  body.replaceChildren();
  if (!messages.length) cell(body.insertRow(), t("dutyMessagesEmpty")).colSpan = 6;
  for (const m of messages) {
    const row = body.insertRow();
    row.dataset.callId = m.id;
    cell(row, localTime(m.requested_at));
    cell(row, m.station_name || "");
    cell(row, label("category", m.category));
    cell(row, m.caller_name);
    cell(row, m.summary);
    const actions = row.insertCell();
    actions.append(button(t("dutyPlay"), "play", () => playMessage(m.id)),
      button(t("dutyHeard"), "heard", async (b) => {
        b.disabled = true;
        try { await call("POST", `/api/duty/messages/${m.id}/heard`); row.remove(); } catch (err) {
          say($("message-error"), err instanceof DeskError ? err.text : String(err), true);
          b.disabled = false;
        }
      }));
  }
}

async function playMessage(id) {
  say($("message-error"), "");
  try {
    const { url } = await call("GET", `/api/duty/messages/${id}/clip`);
    const player = $("message-player");
    player.hidden = false;
    player.dataset.callId = id;
    player.src = url;
    await player.play().catch(() => {});
  } catch (err) {
    say($("message-error"), err instanceof DeskError ? err.text : String(err), true);
  }
}

async function accept(id, button) {
  button.disabled = true;
  say($("queue-error"), "");
  try {
    const c = await call("POST", `/api/duty/calls/${id}/accept`);
    enterCall(c, c.link);
  } catch (err) {
    say($("queue-error"), err instanceof DeskError ? err.text : String(err), true);
    button.disabled = false;
  }
}

function enterCall(c, link) {
  page.active = c;
  page.link = link;
  page.recording = !!c.recording;
  $("note").value = c.note || "";
  renderRecording();
  renderPetition();
  showCall($("call-frame"), link);
  view("call");
}

/** The petition form: its category choices in the page's language, or the petition this call already became. */
function renderPetition() {
  const select = $("petition-category");
  const chosen = select.value;
  const pick = document.createElement("option");
  pick.value = "";
  pick.textContent = t("dutyPetitionPick");
  select.replaceChildren(pick, ...Object.keys(LABELS.petitionCategory.zh).map((k) => {
    const o = document.createElement("option");
    o.value = k;
    o.textContent = label("petitionCategory", k);
    return o;
  }));
  select.value = chosen;
  const filed = page.active && page.active.outcome_kind === "petition" ? page.active.outcome_ref : null;
  $("petition-file").disabled = !!filed;
  say($("petition-status"), filed ? t("dutyPetitionFiled", { number: filed }) : "");
}

function renderRecording() {
  $("rec-light").hidden = !page.recording;
  $("record").textContent = t(page.recording ? "dutyRecordStop" : "dutyRecordStart");
}

async function poll() {
  try {
    page.duty = await call("GET", "/api/duty");
    page.polledAt = Date.now();
    const live = page.duty.calls.find((c) => c.state === "in_call");
    if (live && !page.active) enterCall(live, (await call("POST", `/api/duty/calls/${live.id}/join`)).link);
    if (!live && page.active) leaveCall();
    if (!page.active) view("queue");
    renderQueue();
  } catch (err) {
    if (err instanceof DeskError && err.status === 401) { view("login"); return; }
  } finally {
    if (page.view !== "login") setTimeout(poll, POLL_MS);
  }
}

function leaveCall() {
  page.active = null;
  page.link = null;
  hideCall($("call-frame"));
  view("queue");
}

$("login-view").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say($("login-error"), "");
  try {
    await call("POST", "/api/login", { body: { username: $("login-user").value, password: $("login-pass").value } });
    $("login-pass").value = "";
    view("queue");
    poll();
  } catch (err) {
    say($("login-error"), err instanceof DeskError ? err.text : String(err), true);
  }
});

for (const b of $("status-buttons").querySelectorAll("button")) {
  b.addEventListener("click", async () => {
    await call("PUT", "/api/duty/status", { body: { status: b.dataset.status } }).catch(() => {});
    page.duty.status = b.dataset.status;
    renderQueue();
  });
}

$("record").addEventListener("click", async () => {
  try {
    const c = await call("POST", `/api/duty/calls/${page.active.id}/recording`, { body: { on: !page.recording } });
    page.recording = c.recording;
    renderRecording();
  } catch (err) { say($("call-error"), err.text || String(err), true); }
});

$("save-note").addEventListener("click", async () => {
  try {
    await call("POST", `/api/duty/calls/${page.active.id}/note`, { body: { note: $("note").value } });
    say($("note-status"), t("dutyNoteSaved"));
  } catch (err) { say($("note-status"), err.text || String(err), true); }
});

$("petition-file").addEventListener("click", async () => {
  const c = page.active;
  const b = $("petition-file");
  const category = $("petition-category").value;
  const phone = $("petition-phone").value.trim();
  if (!category || phone.length < 3) {  // said here, before the server's generic "not filled in right"
    say($("petition-status"), t(category ? "err_phone_invalid" : "dutyPetitionNeedCategory"), true);
    return;
  }
  b.disabled = true;
  say($("petition-status"), "");
  try {
    const filed = await call("POST", "/api/petitions", { body: {
      category, description: $("note").value || c.summary || "", contact_name: c.caller_name || "",
      contact_phone: phone,
      station_id: c.station_id || null, source_call_id: c.id } });
    await call("POST", `/api/duty/calls/${c.id}/outcome`, { body: { kind: "petition", ref: filed.number } });
    c.outcome_kind = "petition";
    c.outcome_ref = filed.number;
    renderPetition();
  } catch (err) {
    say($("petition-status"), err instanceof DeskError ? err.text : String(err), true);
    b.disabled = false;
  }
});

$("end").addEventListener("click", async () => {
  try {
    await call("POST", `/api/duty/calls/${page.active.id}/end`, { body: { note: $("note").value || null } });
    leaveCall();
  } catch (err) { say($("call-error"), err.text || String(err), true); }
});

setInterval(() => {  // waiting times tick between polls, without rebuilding the rows (and their buttons)
  const since = (Date.now() - page.polledAt) / 1000;
  for (const td of document.querySelectorAll("#queue td.wait")) td.textContent = duration(Number(td.dataset.base) + since);
}, 1000);
setupLang(() => { if (page.duty) renderQueue(); renderRecording(); renderPetition(); });
poll();
