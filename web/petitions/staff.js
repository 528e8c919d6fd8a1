// The staff pages of video petitions: the handler's queue (and the clerk's triage), a petition's detail with its
// clips and photos (played through audited short links), the contact log and the reply (text or a recorded clip),
// and the supervisor board with traffic lights, the three rates and the CSV export. Rides on the staff session
// cookie of the staff pages (POST /api/login); never keeps a token itself.
import { applyI18n, currentLang, label, onLangChange, setLang, t } from "/static/js/i18n.js";
import { $, ApiError, ClipRecorder, el, errorText, localTime, request, whyDenied } from "/static/petitions/common.js";
import { uploadPetitionClip } from "/static/petitions/clips.js";
import { hideCall, showCall } from "/static/js/call_frame.js";

const state = { me: null, meta: null, handlers: [], current: null, view: "queue", recorder: null, replyUpload: null };
const CLERK = "clerk";
const SUPERVISORS = ["presiding_judge", "admin"];

const isClerk = () => state.me?.roles.includes(CLERK);
const isSupervisor = () => state.me?.roles.some((r) => SUPERVISORS.includes(r));
const readsBoard = () => isClerk() || isSupervisor();

function showError(err) { $("ps-error").textContent = err ? errorText(err) : ""; }

function show(view) {
  state.view = view;
  for (const v of ["login", "queue", "board", "detail"]) $(`${v}-view`).hidden = v !== view;
  $("ps-nav").hidden = view === "login";
  $("nav-board").hidden = !readsBoard();
  $("nav-queue").setAttribute("aria-current", String(view === "queue"));
  $("nav-board").setAttribute("aria-current", String(view === "board"));
}

const lightCell = (light) => el("span", { class: `light light-${light}` }, label("petitionLight", light));
const dueText = (row) => localTime(`${row.due_on}T12:00:00+08:00`, { date: true });
const pct = (f) => (f.rate === null ? "—" : `${(f.rate * 100).toFixed(1)}%（${f.numerator}/${f.denominator}）`);

function openButton(row) {
  return el("button", { type: "button", onclick: () => openPetition(row.id), "data-number": row.number }, t("psOpen"));
}

// ---- queue ------------------------------------------------------------------------------------------------------

async function loadQueue() {
  show("queue");
  showError(null);
  try {
    const rows = await request("GET", "/api/petitions/queue");
    $("queue-table").tBodies[0].replaceChildren(...rows.map((r) => el("tr", { "data-number": r.number },
      el("td", {}, lightCell(r.light)), el("td", { class: "mono" }, r.number),
      el("td", {}, label("petitionCategory", r.category)), el("td", {}, label("petitionStatus", r.status)),
      el("td", {}, dueText(r)), el("td", {}, openButton(r)))));
    $("queue-empty").hidden = rows.length > 0;
    await loadInbox();
  } catch (err) { handle(err); }
}

async function loadInbox() {
  // The shared in-app inbox (docket/notifications.py): this person's unread petition notifications.
  const petitionItems = (await request("GET", "/api/petitions/inbox")).notifications;
  $("inbox").replaceChildren(...(petitionItems.length ? petitionItems.map((n) => el("li", {},
    `${localTime(n.created_at)} · ${label("notice", n.code)} · ${n.params.petition_no || ""}`))
    : [el("li", {}, t("psNoInbox"))]));
}

// ---- board ------------------------------------------------------------------------------------------------------

function boardQuery() {
  const q = new URLSearchParams();
  const add = (k, v) => { if (v) q.set(k, v); };
  add("court", $("f-court").value);
  add("category", $("f-category").value);
  add("handler_id", $("f-handler").value);
  add("due_from", $("f-due-from").value);
  add("due_to", $("f-due-to").value);
  return q;
}

async function loadBoard(ev) {
  ev?.preventDefault();
  show("board");
  showError(null);
  const q = boardQuery();
  const csv = new URLSearchParams(q);
  csv.set("lang", currentLang());
  $("csv-link").href = `/api/petitions/board.csv?${csv}`;
  try {
    const [board, rates] = await Promise.all([request("GET", `/api/petitions/board?${q}`),
      request("GET", `/api/petitions/board/rates?${q}`)]);
    $("board-lights").textContent = t("psLights", board.lights);
    $("board-table").tBodies[0].replaceChildren(...board.petitions.map((r) => el("tr", { "data-number": r.number },
      el("td", {}, lightCell(r.light)), el("td", { class: "mono" }, r.number),
      el("td", {}, label("petitionCategory", r.category)), el("td", {}, label("petitionClass", r.klass)),
      el("td", {}, label("petitionStatus", r.status)), el("td", {}, r.handler_name || "—"),
      el("td", {}, dueText(r)), el("td", {}, openButton(r)))));
    const monthRows = rates.months.map((m) => el("tr", { class: "total" }, el("th", {}, m.month), el("th", {}, t("psAny")),
      el("td", {}, m.petitions), el("td", {}, pct(m.response)), el("td", {}, pct(m.resolution)),
      el("td", {}, pct(m.satisfaction))));
    const handlerRows = rates.handlers.map((h) => el("tr", {}, el("td", {}, h.month), el("td", {}, h.handler_name || "—"),
      el("td", {}, h.petitions), el("td", {}, pct(h.response)), el("td", {}, pct(h.resolution)),
      el("td", {}, pct(h.satisfaction))));
    $("rates-table").tBodies[0].replaceChildren(...monthRows, ...handlerRows);
  } catch (err) { handle(err); }
}

function fillStatic() {
  const meta = state.meta;
  if (!meta) return;
  const opt = (value, text) => el("option", { value }, text);
  const keep = (id, options) => { const s = $(id); const v = s.value; s.replaceChildren(...options); if (v) s.value = v; };
  keep("f-court", [opt("", t("psAny")), ...meta.courts.map((c) => opt(c.code, c.name))]);
  $("f-court-label").hidden = meta.courts.length < 2;
  keep("f-category", [opt("", t("psAny")), ...meta.categories.map((c) => opt(c.code, label("petitionCategory", c.code)))]);
  keep("f-handler", [opt("", t("psAny")), ...state.handlers.map((h) => opt(h.id, h.name))]);
  keep("t-handler", state.handlers.map((h) => opt(h.id, h.name)));
  keep("t-kind", ["judge", "mediator", "department"].map((k) => opt(k, label("petitionHandlerKind", k))));
  keep("c-klass", ["urgent", "personal", "complex"].map((k) => opt(k, label("petitionClass", k))));
  keep("k-channel", ["phone", "video", "in_person", "sms"].map((k) => opt(k, label("petitionChannel", k))));
  keep("r-outcome", ["resolved", "explained"].map((k) => opt(k, label("petitionOutcome", k))));
}

// ---- detail -----------------------------------------------------------------------------------------------------

async function openPetition(id) {
  showError(null);
  try {
    render(await request("GET", `/api/petitions/${id}`));
    show("detail");
    $("d-heading").focus?.();
  } catch (err) { handle(err); }
}

function render(p) {
  state.current = p;
  $("d-heading").textContent = p.number;
  $("d-light").replaceChildren(lightCell(p.light));
  $("d-category").textContent = `${label("petitionCategory", p.category)}（${label("petitionClass", p.klass)}）`;
  $("d-status").textContent = label("petitionStatus", p.status);
  $("d-due").textContent = dueText(p);
  $("d-handler").textContent = [p.handler_name, p.handler_unit].filter(Boolean).join(" · ") || "—";
  $("d-contact").textContent = `${p.contact_name} · ${p.contact_phone}`;
  $("d-description").textContent = p.description || "—";
  $("d-attachments").replaceChildren(...p.attachments.map((a, i) => el("button", {
    type: "button", class: "play", "data-kind": a.kind, onclick: () => play(a),
  }, `${t("ptPlay")} ${i + 1} · ${a.kind === "clip" ? t("ptClip") : t("ptPhoto")}${a.role === "reply" ? ` · ${t("ptReply")}` : ""}`)));
  $("ps-player").hidden = true;
  const open = ["filed", "assigned", "contacted"].includes(p.status);
  const mine = p.handler_id === state.me.id;
  $("triage-form").hidden = !(isClerk() && open);
  $("class-form").hidden = !(isClerk() && open);
  $("contact-form").hidden = !(mine && ["assigned", "contacted"].includes(p.status));
  renderCalls(p, mine);
  $("reply-form").hidden = !(mine && p.status === "contacted");
  $("close-btn").hidden = !((isClerk() || isSupervisor()) && ["replied", "rated"].includes(p.status));
  $("link-btn").hidden = !isClerk();
  $("link-box").hidden = true;
  if (p.handler_id) $("t-handler").value = p.handler_id;
  $("d-history").replaceChildren(...p.events.map((e) => el("li", {},
    el("span", { class: "when" }, localTime(e.at)), " ", label("petitionEvent", e.kind),
    e.actor_name ? ` · ${e.actor_name}` : "", eventDetail(e))));
}

// ---- the recorded video call with the citizen ------------------------------------------------------------------

function renderCalls(p, mine) {
  const live = p.calls.find((c) => c.state === "live");
  $("call-box").hidden = !(p.calls.length || (mine && p.may_call));
  $("call-start").hidden = !(mine && p.may_call) || Boolean(state.callLink);
  $("call-live").hidden = !state.callLink;
  if (state.callLink) {
    $("call-status").textContent = t("psCallLive", { joined: live?.citizen_joined_at ? t("psCallJoined") : t("psCallWaiting") });
  }
  $("call-list").replaceChildren(...p.calls.filter((c) => c.state === "ended").map((c) => el("li", { "data-call": c.id },
    el("span", { class: "when" }, localTime(c.started_at)), " ", t("psCallEnded"),
    c.recorded ? el("button", { type: "button", class: "verify", onclick: () => verifyRecording(c) }, t("psCallVerify")) : "",
    el("span", { class: "verdict" }))));
}

async function startCall() {
  showError(null);
  try {
    const { call, link } = await request("POST", `/api/petitions/${state.current.id}/calls`);
    state.callLink = link;
    state.callId = call.id;
    render(await request("GET", `/api/petitions/${state.current.id}`));
    showCall($("call-frame"), link);
    $("call-box").scrollIntoView({ block: "start" });
    pollCall();
  } catch (err) { handle(err); }
}

async function pollCall() {
  clearTimeout(state.callTimer);
  if (!state.callLink) return;
  try { render(await request("GET", `/api/petitions/${state.current.id}`)); } catch { /* the next poll retries */ }
  state.callTimer = setTimeout(pollCall, 2000);
}

async function endCall() {
  showError(null);
  try {
    const { petition } = await request("POST", `/api/petitions/${state.current.id}/calls/${state.callId}/end`,
      { body: { note: $("call-note").value } });
    clearTimeout(state.callTimer);
    state.callLink = null;
    hideCall($("call-frame"));
    $("call-note").value = "";
    render(petition);
  } catch (err) { handle(err); }
}

async function verifyRecording(call) {
  const verdict = document.querySelector(`#call-list li[data-call="${call.id}"] .verdict`);
  try {
    const r = await request("GET", `/api/petitions/${state.current.id}/calls/${call.id}/recording`);
    verdict.textContent = r.verified ? t("psCallVerified", { n: r.segments }) : t("psCallBroken");
    verdict.dataset.verified = String(r.verified);
  } catch (err) { verdict.textContent = errorText(err); }
}

function eventDetail(e) {
  const d = e.details || {};
  const parts = [];
  if (d.channel) parts.push(label("petitionChannel", d.channel));
  if (d.note) parts.push(d.note);
  if (d.reason) parts.push(d.reason);
  if (d.to) parts.push(`${label("petitionClass", d.from)} → ${label("petitionClass", d.to)}`);
  if (d.resolution) parts.push(d.resolution);
  if (d.rating) parts.push(label("petitionRating", d.rating));
  return parts.length ? ` · ${parts.join(" · ")}` : "";
}

async function play(attachment) {
  showError(null);
  try {
    const link = await request("GET", `/api/petitions/${state.current.id}/attachments/${attachment.id}`);
    if (attachment.kind === "clip") {
      const player = $("ps-player");
      player.hidden = false;
      player.src = link.url;
      await player.play().catch(() => {});
    } else {
      window.open(link.url, "_blank", "noopener");
    }
  } catch (err) { handle(err); }
}

async function act(path, body) {
  showError(null);
  try {
    render(await request("POST", `/api/petitions/${state.current.id}/${path}`, { body }));
    return true;
  } catch (err) { handle(err); return false; }
}

async function startReplyRecording() {
  state.replyUpload = null;
  state.recorder = new ClipRecorder($("r-preview"), (s) => { $("r-rec-status").textContent = t("ptRecording", { s }); });
  try { await state.recorder.start(); } catch (err) {
    $("r-rec-status").textContent = t("ptCameraDenied", { why: whyDenied(err) });
    return;
  }
  $("r-rec-start").hidden = true;
  $("r-rec-stop").hidden = false;
}

async function stopReplyRecording() {
  const seconds = state.recorder.seconds();
  const blob = await state.recorder.stop();
  state.recorder.close();
  $("r-rec-stop").hidden = true;
  $("r-rec-start").hidden = false;
  $("r-rec-status").textContent = t("ptRecorded", { s: seconds });
  state.replyUpload = uploadPetitionClip(blob, {}, {
    progress: (sent, total) => { $("r-rec-status").textContent = t("ptUploading", { pct: Math.floor((100 * sent) / total) }); },
    retrying: () => { $("r-rec-status").textContent = t("ptUploadResuming"); },
  });
  state.replyUpload.then(() => { $("r-rec-status").textContent = t("ptUploaded"); },
    (err) => { $("r-rec-status").textContent = t("ptUploadFailed", { why: errorText(err) }); });
}

async function sendReply(ev) {
  ev.preventDefault();
  let clipId = null;
  try { if (state.replyUpload) clipId = (await state.replyUpload).id; } catch (err) { handle(err); return; }
  if (await act("reply", { outcome: $("r-outcome").value, resolution: $("r-resolution").value,
    reply_text: $("r-text").value || null, reply_clip_id: clipId })) {
    state.replyUpload = null;
    $("reply-form").reset();
  }
}

// ---- session ----------------------------------------------------------------------------------------------------

function handle(err) {
  if (err instanceof ApiError && err.status === 401) { show("login"); return; }
  showError(err);
}

async function login(ev) {
  ev.preventDefault();
  showError(null);
  try {
    await request("POST", "/api/login", { body: { username: $("login-user").value, password: $("login-pass").value } });
    await start();
  } catch (err) { showError(err); }
}

async function start() {
  try {
    state.me = await request("GET", "/api/me");
  } catch (err) { handle(err); return; }
  $("whoami").textContent = state.me.display_name;
  state.meta = await request("GET", "/api/petitions/meta");
  state.handlers = isClerk() ? await request("GET", "/api/petitions/handlers").catch(() => []) : [];
  fillStatic();
  const wanted = new URLSearchParams(location.hash.slice(1));
  if (wanted.get("petition")) await openPetition(wanted.get("petition"));
  else if (wanted.get("view") === "board" && readsBoard()) await loadBoard();
  else await loadQueue();
  document.body.dataset.ready = "true";
}

function main() {
  applyI18n(document);
  document.title = t("psTitle");
  $("lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(() => {
    document.title = t("psTitle");
    fillStatic();
    if (state.view === "detail" && state.current) render(state.current);
    else if (state.view === "board") loadBoard();
    else if (state.view === "queue") loadQueue();
  });
  $("login-form").addEventListener("submit", login);
  $("nav-queue").addEventListener("click", loadQueue);
  $("nav-board").addEventListener("click", () => loadBoard());
  $("board-filters").addEventListener("submit", loadBoard);
  $("detail-back").addEventListener("click", () => (readsBoard() && state.view === "detail" ? loadBoard() : loadQueue()));
  $("triage-form").addEventListener("submit", (ev) => { ev.preventDefault();
    act("triage", { handler_id: $("t-handler").value, handler_kind: $("t-kind").value, handler_unit: $("t-unit").value || null }); });
  $("class-form").addEventListener("submit", (ev) => { ev.preventDefault();
    act("class", { klass: $("c-klass").value, reason: $("c-reason").value }); });
  $("contact-form").addEventListener("submit", async (ev) => { ev.preventDefault();
    if (await act("contacts", { channel: $("k-channel").value, note: $("k-note").value })) $("contact-form").reset(); });
  $("reply-form").addEventListener("submit", sendReply);
  $("r-rec-start").addEventListener("click", startReplyRecording);
  $("r-rec-stop").addEventListener("click", stopReplyRecording);
  $("close-btn").addEventListener("click", () => act("close"));
  $("call-start").addEventListener("click", startCall);
  $("call-end").addEventListener("click", endCall);
  $("link-btn").addEventListener("click", async () => {
    try {
      const link = await request("POST", `/api/petitions/${state.current.id}/link`);
      $("link-box").textContent = link.url;
      $("link-box").hidden = false;
    } catch (err) { handle(err); }
  });
  start();
}

main();
