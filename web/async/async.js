// The asynchronous trial's page (异步审理), opened with a person's own link: /async#token=JWT.
// A party sees whether they consented, what is asked of them and by when, records answers with the one recorder
// (web/js/clip_recorder.js), submits them through the one resumable clip upload (web/js/clip_upload.js) and sees the
// other side's answers when the stage's rule allows.
// The presiding judge (and clerk) sees the stages, who answered, plays answers, asks, extends, closes a stage and
// opens the next, and assembles the transcript. Every refusal is the server's code, translated (i18n.js).
import { applyI18n, errorText, currentLang, onLangChange, roleLabel, setLang, t } from "/static/js/i18n.js";
import { readLink } from "/static/js/token.js";
import { uploadClip } from "/static/js/clip_upload.js";
import { ClipRecorder } from "/static/js/clip_recorder.js";
import { Signaling } from "/static/js/signaling.js";
import { dueText, when } from "/static/async/dates.js";

const STAFF = new Set(["presiding_judge", "judge", "clerk"]);
const STAGES = ["claims_defence", "evidence", "debate", "final_statement"];
const $ = (id) => document.getElementById(id);
const link = readLink();
const room = link.claims?.room;
let trial = null;
const recordings = new Map(); // question id -> Blob

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c) node.append(c);
  return node;
}


class ApiFailure extends Error { constructor(body) { super(body?.message || "failed"); this.body = body; } }

async function api(method, path, body) {
  let r;
  try {
    r = await fetch(`/api/rooms/${encodeURIComponent(room)}/async${path}`, {
      method, headers: { Authorization: `Bearer ${link.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch { throw new ApiFailure({ error: "network" }); }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiFailure(data);
  return data;
}

function showError(e) { $("at-error").textContent = e ? errorText(e.body ?? { error: "network" }) : ""; }
function status(text) { $("at-status").textContent = text || ""; }

async function act(fn) {
  showError(null);
  try {
    const out = await fn();
    if (out?.trial) trial = out.trial;
    else trial = await api("GET", "");
    render();
    return out;
  } catch (e) { showError(e); return null; }
}

const nameOf = (pid) => trial.parties.find((p) => p.participant_id === pid)?.name ?? "?";

// ---- consent ------------------------------------------------------------------------------------------------

function consentCard() {
  const me = trial.parties.find((p) => p.participant_id === trial.me);
  const card = el("section", { class: "card", id: "at-consent" }, el("h2", { text: t("atConsentHeading") }));
  if (me) {
    card.append(el("p", { text: t("atConsentText") }));
    const locked = trial.stages.length > 0;
    if (me.consented) card.append(el("p", { id: "at-consented", text: t("atConsented", { how: t(`atHow_${me.method}`), at: when(me.at) }) }));
    if (locked) card.append(el("p", { text: t("atConsentLocked") }));
    else if (me.consented) card.append(el("button", { id: "at-withdraw", type: "button", onclick: () => act(() => api("POST", "/consent", { given: false })), text: t("atConsentWithdraw") }));
    else {
      card.append(el("div", { class: "row" },
        el("button", { id: "at-consent-yes", type: "button", class: "big", onclick: () => act(() => api("POST", "/consent", { given: true })), text: t("atConsentYes") }),
        el("button", { id: "at-consent-no", type: "button", onclick: () => act(() => api("POST", "/consent", { given: false })), text: t("atConsentNo") })));
    }
  }
  card.append(el("h3", { text: t("atParties") }), el("ul", {}, trial.parties.map((p) =>
    el("li", { text: `${p.name}（${roleLabel(p.role)}）：${p.consented ? t("atPartyYes") : t("atPartyNo")}` }))));
  return card;
}

// ---- answers ------------------------------------------------------------------------------------------------

async function play(answerId, into, what = "answers") {
  try {
    const out = await api("GET", `/${what}/${answerId}/clip`);
    const video = el("video", { controls: true, playsinline: true, src: out.url, "data-answer": answerId });
    into.replaceChildren(video);
    await video.play().catch(() => {});
  } catch (e) { showError(e); }
}

function answerItem(a) {
  const player = el("div", { class: "player" });
  return el("li", { class: "answer", "data-answer": a.id },
    el("p", { text: t("atBy", { name: a.name, role: roleLabel(a.role), at: when(a.submitted_at) }) }),
    a.text ? el("p", { class: "answer-text", text: a.text }) : null,
    a.clip ? el("button", { type: "button", class: "play", onclick: () => play(a.id, player), text: t("atPlay") }) : null,
    player, el("p", { class: "sealed", text: t("atSealed", { sha: a.sha256.slice(0, 16) }) }));
}

/** Record a clip with the one recorder (web/js/clip_recorder.js, as petitions and stations), previewed in `preview`;
 * a second click stops it (so does the recorder's own length limit) and keeps the clip for the upload. */
async function record(qid, button, info, preview) {
  if (button._clip) { button._clip.stop(); return; }
  const recorder = new ClipRecorder(preview, (s) => { info.textContent = t("atRecording", { s }); });
  button._clip = recorder;
  button.dataset.recording = "1";
  try { await recorder.start(); } catch (e) {
    recorder.close();
    button._clip = null;
    delete button.dataset.recording;
    info.textContent = t("atCameraDenied", { why: e.name || e.message });
    return;
  }
  preview.hidden = false;
  button.textContent = t("atRecordStop");
  delete info.dataset.ready;
  recorder.done.then(async () => {
    const seconds = recorder.seconds();
    recordings.set(qid, await recorder.stop());
    uploaded.delete(qid); // a new recording replaces one uploaded before
    recorder.close();
    preview.hidden = true;
    button._clip = null;
    delete button.dataset.recording;
    button.textContent = t("atRecordAgain");
    info.textContent = t("atRecorded", { s: seconds });
    info.dataset.ready = "1";
    if (refreshWaiting) refresh();
  });
}

/** A muted preview of the camera while recording (hidden otherwise). */
const previewVideo = () => el("video", { class: "preview", muted: true, playsinline: true, hidden: true });

async function submit(q, textarea, info, button) {
  button.disabled = true;
  showError(null);
  try {
    const clipId = await uploadRecorded(q.id, info);
    info.textContent = t("atSubmitting");
    if (await act(() => api("POST", `/questions/${q.id}/answer`, { text: textarea.value, clip_id: clipId }))) {
      forget(q.id);
      status(t("atSubmitted"));
    }
  } catch (e) { showError(e.body ? e : { body: { error: e.code || "network", ...(e.params || {}) } }); }
  finally { button.disabled = false; }
}

function partyQuestions() {
  const card = el("section", { class: "card", id: "at-asked" }, el("h2", { text: t("atAsked") }));
  const mine = trial.questions.filter((q) => q.to.includes(trial.me));
  if (!trial.admitted) card.append(el("p", { text: t("atNotAdmitted") }));
  if (!mine.length) card.append(el("p", { text: t("atNothingAsked") }));
  for (const q of mine) {
    const stage = trial.stages.find((s) => s.id === q.stage_id);
    const asked = el("div", { class: "player" });
    const item = el("article", { class: "question", "data-question": q.id },
      el("h3", { text: `${t(`atStage_${stage.kind}`)} · ${q.number}. ${q.text}` }),
      q.has_clip && trial.admitted ? el("button", { type: "button", class: "play-question", onclick: () => play(q.id, asked, "questions"), text: t("atPlay") }) : null,
      asked);
    const own = trial.answers.find((a) => a.question_id === q.id && a.participant_id === trial.me);
    if (own) {
      item.append(el("p", { class: "answered", text: t("atAnswered", { at: when(own.submitted_at) }) }), el("ul", {}, answerItem(own)));
    } else if (!stage.closed_at && trial.admitted) {
      item.append(el("p", { class: "due", text: t("atDue", { date: dueText(q.due_at) }) }));
      const textarea = el("textarea", { "aria-label": t("atYourText"), placeholder: t("atYourText") });
      const info = el("p", { class: "rec-info", role: "status" });
      const preview = previewVideo();
      const rec = el("button", { type: "button", class: "record" });
      rec.textContent = t("atRecordStart");
      rec.addEventListener("click", () => record(q.id, rec, info, preview));
      const send = el("button", { type: "button", class: "submit big", text: t("atSubmit") });
      send.addEventListener("click", () => submit(q, textarea, info, send));
      item.append(textarea, el("div", { class: "row" }, rec, send), info, preview);
    }
    card.append(item);
  }
  const others = trial.answers.filter((a) => a.participant_id !== trial.me);
  card.append(el("h2", { text: t("atOthers") }),
    others.length ? el("ul", { id: "at-others" }, others.map(answerItem)) : el("p", { text: t("atNoOthers") }));
  return card;
}

// ---- the judge ----------------------------------------------------------------------------------------------

function select(id, options) {
  return el("select", { id }, options.map(([value, text]) => el("option", { value, text })));
}

const uploaded = new Map(); // recording key -> clip id, so a retried submit does not upload again

async function uploadRecorded(key, info) {
  if (uploaded.has(key)) return uploaded.get(key);
  const blob = recordings.get(key);
  if (!blob) return null;
  const clip = await uploadClip(blob, { purpose: "async_trial", headers: { Authorization: `Bearer ${link.token}`, "X-Hearing-Room": room },
    onProgress: (sent, total) => { info.textContent = t("atUploading", { pct: Math.round((100 * sent) / total) }); },
    onRetry: () => { info.textContent = t("atUploadResuming"); } });
  uploaded.set(key, clip.id);
  return clip.id;
}

function forget(key) { recordings.delete(key); uploaded.delete(key); }

/** The judge asks in text and/or on video (recorded here, uploaded through the one clip upload). */
function askRecorder(stageId, askText, to) {
  const key = `ask:${stageId}`;
  const info = el("p", { class: "rec-info", role: "status" });
  const preview = previewVideo();
  const rec = el("button", { type: "button", class: "record", text: t("atRecordStart") });
  rec.addEventListener("click", () => record(key, rec, info, preview));
  const post = el("button", { id: "at-post", type: "button", text: t("atPost") });
  post.addEventListener("click", async () => {
    post.disabled = true;
    showError(null);
    try {
      const clipId = await uploadRecorded(key, info);
      if (await act(() => api("POST", `/stages/${stageId}/questions`, { text: askText.value, to: to.value ? [to.value] : null, clip_id: clipId }))) forget(key);
    } catch (e) { showError(e.body ? e : { body: { error: e.code || "network", ...(e.params || {}) } }); }
    finally { post.disabled = false; }
  });
  return el("div", {}, el("div", { class: "row" }, rec, post), info, preview);
}

function judgeView() {
  const parts = [];
  const stagesCard = el("section", { class: "card", id: "at-stages" }, el("h2", { text: t("atStages") }));
  const open = trial.stages.find((s) => !s.closed_at);
  for (const s of trial.stages) {
    const box = el("article", { class: "stage", "data-stage": s.id },
      el("h3", { text: `${s.number}. ${t(`atStage_${s.kind}`)}（${s.closed_at ? t("atStageClosed") : t("atStageOpen")}）` }),
      el("p", { text: `${t("atStageDue", { date: dueText(s.due_at), n: s.workdays })} · ${t(`atVis_${s.visibility}`)}` }));
    for (const q of trial.questions.filter((x) => x.stage_id === s.id)) {
      const answers = trial.answers.filter((a) => a.question_id === q.id);
      box.append(el("div", { class: "question", "data-question": q.id },
        el("p", { text: `${q.number}. ${q.text} → ${q.to.map(nameOf).join("、")}` }),
        el("p", { class: "at-waiting", text: q.waiting_for.length ? t("atWaiting", { names: q.waiting_for.map(nameOf).join("、") }) : t("atAllAnswered") }),
        q.overdue.length ? el("p", { class: "due overdue", text: t("atOverdue", { names: q.overdue.map(nameOf).join("、") }) }) : null,
        el("ul", {}, answers.map(answerItem))));
    }
    if (!s.closed_at && trial.my_role === "presiding_judge") {
      const askText = el("textarea", { id: "at-ask-text", "aria-label": t("atAskText"), placeholder: t("atAskText") });
      const to = select("at-ask-to", [["", t("atAskAll")], ...trial.parties.map((p) => [p.participant_id, p.name])]);
      const reason = el("input", { id: "at-extend-reason", "aria-label": t("atReason"), placeholder: t("atReason") });
      const until = el("input", { id: "at-extend-until", type: "date", "aria-label": t("atExtendUntil") });
      const who = select("at-extend-who", trial.parties.map((p) => [p.participant_id, p.name]));
      box.append(
        el("h4", { text: t("atAsk") }), askText, el("label", {}, t("atAskTo"), " ", to),
        askRecorder(s.id, askText, to),
        el("h4", { text: t("atExtend") }), el("div", { class: "row" }, who, until, reason,
          el("button", { type: "button", text: t("atExtend"), onclick: () => act(() => api("POST", `/stages/${s.id}/extensions`, { participants: [who.value], due_at: `${until.value}T23:59:59+08:00`, reason: reason.value })) })),
        el("button", { id: "at-close", type: "button", text: t("atClose"), onclick: () => act(() => api("POST", `/stages/${s.id}/close`)) }));
    }
    stagesCard.append(box);
  }
  if (!open && trial.my_role === "presiding_judge") {
    const done = new Set(trial.stages.map((s) => s.kind));
    const last = trial.stages.length ? STAGES.indexOf(trial.stages[trial.stages.length - 1].kind) : -1;
    const kinds = STAGES.filter((k, i) => i > last && !done.has(k));
    if (kinds.length) {
      const kind = select("at-kind", kinds.map((k) => [k, t(`atStage_${k}`)]));
      const vis = select("at-visibility", [["after_deadline", t("atVis_after_deadline")], ["at_once", t("atVis_at_once")]]);
      const days = el("input", { id: "at-workdays", type: "number", min: "1", max: "30", value: "5", "aria-label": t("atWorkdays") });
      stagesCard.append(el("h3", { text: t("atOpenNext") }), el("div", { class: "row" },
        el("label", {}, t("atKind"), " ", kind), el("label", {}, t("atVisibility"), " ", vis), el("label", {}, t("atWorkdays"), " ", days),
        el("button", { id: "at-open", type: "button", text: t("atOpen"), onclick: () => act(() => api("POST", "/stages", { kind: kind.value, visibility: vis.value, workdays: Number(days.value) })) })));
    }
  }
  parts.push(stagesCard);
  if (["presiding_judge", "clerk"].includes(trial.my_role) && trial.stages.length) {
    parts.push(el("section", { class: "card" }, el("button", { id: "at-record", type: "button", text: t("atRecord"), onclick: async () => {
      showError(null);
      try { const r = await api("POST", "/record"); status(t(r.changed ? "atRecordSaved" : "atRecordSame", { v: r.version })); } catch (e) { showError(e); }
    } })));
  }
  return parts;
}

// ---- the page -----------------------------------------------------------------------------------------------

function render() {
  const view = $("at-view");
  const staff = STAFF.has(trial.my_role);
  view.className = staff ? "judge" : "party";
  const top = [];
  if (trial.reverted_to_live) top.push(el("section", { class: "card notice", id: "at-reverted" }, el("p", { text: t("atReverted") })));
  else top.push(el("p", { text: t("atCase") }));
  top.push(el("p", {}, el("a", { id: "at-inbox", href: staff ? "/async/inbox?as=staff" : "/async/inbox", text: t("ibInbox") })));
  if (trial.missing_consent.length) top.push(el("p", { id: "at-missing", class: "due", text: t("atMissing", { names: trial.missing_consent.join("、") }) }));
  const started = trial.stages.length > 0; // once a stage is open, what is asked comes first
  const body = trial.reverted_to_live ? [] : staff ? judgeView()
    : started ? [partyQuestions(), consentCard()] : [consentCard()];
  if (staff && !trial.reverted_to_live && !trial.stages.length) body.unshift(consentCard());
  view.replaceChildren(...top, ...body.filter(Boolean));
}

// ---- push: the room bus tells us something changed; we refetch our own view -------------------------------------

let refreshWaiting = false;
window.asyncTrial = { updates: 0 }; // what the browser test waits on

/** Refetch the view and render it again, keeping what the person was typing; while a clip is being recorded the
 * page waits for the recording to stop (re-rendering would drop the recorder's button). */
async function refresh() {
  if (document.querySelector("[data-recording]")) { refreshWaiting = true; return; }
  refreshWaiting = false;
  const typed = new Map();
  for (const f of document.querySelectorAll("#at-view textarea, #at-view input, #at-view select")) {
    const key = f.id || f.closest("[data-question]")?.dataset.question;
    if (key) typed.set(key, f.value);
  }
  try { trial = await api("GET", ""); } catch (e) { showError(e); return; }
  render();
  for (const f of document.querySelectorAll("#at-view textarea, #at-view input, #at-view select")) {
    const key = f.id || f.closest("[data-question]")?.dataset.question;
    if (key && typed.has(key)) f.value = typed.get(key);
  }
  window.asyncTrial.updates += 1;
}

function listen() {
  const sig = new Signaling({ room, joinToken: link.token });
  sig.addEventListener("message", (e) => { if (e.detail?.type === "async-trial-updated") refresh(); });
  sig.start();
}

async function start() {
  if (link.lang) setLang(link.lang, { remember: false });
  applyI18n(document);
  $("lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(() => { if (trial) render(); });
  if (!link.token || !room) { status(t("atNoLink")); return; }
  try { trial = await api("GET", ""); status(""); render(); } catch (e) { status(""); showError(e); return; }
  listen();
}

start();
