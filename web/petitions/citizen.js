// The citizen's page: file a petition (a recorded clip, photos, text) and follow it (number + status code, or a
// link). Chinese first; big buttons; works at 1024x600 and on a phone. Tokens stay in sessionStorage and the URL
// fragment (which browsers never send), never in a URL the server sees.
import { applyI18n, currentLang, label, onLangChange, setLang, t } from "/static/js/i18n.js";
import { $, ClipRecorder, el, errorText, localTime, request, whyDenied } from "/static/petitions/common.js";
import { uploadPetitionClip } from "/static/petitions/clips.js";
import { hideCall, showCall } from "/static/js/call_frame.js";

const ACCESS_KEY = "petition.access";
const FILING_KEY = "petition.filing";
const state = { meta: null, recorder: null, upload: null, clipId: null, petition: null };

const store = {
  get: (k) => { try { return sessionStorage.getItem(k); } catch { return null; } },
  set: (k, v) => { try { sessionStorage.setItem(k, v); } catch { /* storage disabled */ } },
  del: (k) => { try { sessionStorage.removeItem(k); } catch { /* storage disabled */ } },
};

function showError(err) { $("pt-error").textContent = err ? errorText(err) : ""; }

function view(name) {
  for (const v of ["file", "filed", "lookup", "status"]) $(`${v}-view`).hidden = v !== name;
  const filing = name === "file" || name === "filed";
  $("tab-file").setAttribute("aria-selected", String(filing));
  $("tab-status").setAttribute("aria-selected", String(!filing));
  showError(null);
}

function title() { document.title = t("ptTitle"); }

function fillSelects() {
  const meta = state.meta;
  if (!meta) return;
  const court = $("court");
  const chosenCourt = court.value;
  court.replaceChildren(...meta.courts.map((c) => el("option", { value: c.code }, c.name)));
  if (chosenCourt) court.value = chosenCourt;
  $("court-field").hidden = meta.courts.length < 2;
  const cat = $("category");
  const chosen = cat.value;
  cat.replaceChildren(el("option", { value: "" }, t("ptChoose")),
    ...meta.categories.map((c) => el("option", { value: c.code },
      `${label("petitionCategory", c.code)}（${label("petitionClass", c.klass)}）`)));
  if (chosen) cat.value = chosen;
  for (const b of document.querySelectorAll("[data-rating]")) b.textContent = label("petitionRating", b.dataset.rating);
}

async function filingToken() {
  let token = store.get(FILING_KEY);
  if (!token) {
    token = (await request("POST", "/api/petitions/filing-sessions")).token;
    store.set(FILING_KEY, token);
  }
  return token;
}

// ---- recording and the background upload --------------------------------------------------------------------------

async function startRecording() {
  showError(null);
  state.clipId = null;
  $("upload-status").textContent = "";
  $("upload-progress").hidden = true;
  state.recorder = state.recorder || new ClipRecorder($("preview"), (s) => {
    $("rec-status").textContent = t("ptRecording", { s });
  });
  // The filing session first, while the link is up: a clip recorded after the link drops still uploads later.
  filingToken().catch(() => {});
  try {
    await state.recorder.start();
  } catch (err) {
    $("rec-status").textContent = t("ptCameraDenied", { why: whyDenied(err) });
    return;
  }
  $("preview").hidden = false;
  $("rec-start").hidden = true;
  $("rec-again").hidden = true;
  $("rec-stop").hidden = false;
}

async function stopRecording() {
  const seconds = state.recorder.seconds();
  const blob = await state.recorder.stop();
  $("rec-stop").hidden = true;
  $("rec-again").hidden = false;
  $("rec-status").textContent = t("ptRecorded", { s: seconds });
  const preview = $("preview");
  preview.srcObject = null;
  preview.src = URL.createObjectURL(blob);
  preview.muted = false;
  preview.controls = true;
  state.recorder.close();
  state.recorder = null;
  const progress = $("upload-progress");
  progress.hidden = false;
  progress.value = 0;
  const token = await filingToken();
  state.upload = uploadPetitionClip(blob, { "X-Petition-Filing": token }, {
    progress: (sent, total) => {
      progress.value = Math.floor((100 * sent) / total);
      $("upload-status").textContent = t("ptUploading", { pct: progress.value });
    },
    retrying: () => { $("upload-status").textContent = t("ptUploadResuming"); },
  }).then((clip) => {
    state.clipId = clip.id;
    progress.value = 100;
    $("upload-status").textContent = t("ptUploaded");
    return clip;
  }, (err) => {
    $("upload-status").textContent = t("ptUploadFailed", { why: errorText(err) });
    throw err;
  });
  state.upload.catch(() => {});
}

async function submit(ev) {
  ev.preventDefault();
  showError(null);
  const button = $("submit");
  button.disabled = true;
  button.textContent = t("ptSubmitting");
  try {
    const clipIds = [];
    if (state.upload) {
      $("upload-status").textContent = $("upload-status").textContent || t("ptWaitUpload");
      clipIds.push((await state.upload).id);
    }
    const fields = {
      court: $("court").value || state.meta.courts[0].code, category: $("category").value,
      description: $("description").value, contact_name: $("contact-name").value,
      contact_phone: $("contact-phone").value,
    };
    const headers = { "X-Petition-Filing": await filingToken() };
    const files = [...$("photos").files];
    let body;
    if (files.length) {
      body = new FormData();
      for (const [k, v] of Object.entries(fields)) body.append(k, v);
      for (const id of clipIds) body.append("clip_ids", id);
      for (const f of files) body.append("photos", f, f.name);
    } else {
      body = { ...fields, clip_ids: clipIds };
    }
    const filed = await request("POST", "/api/petitions", { body, headers });
    store.set(ACCESS_KEY, filed.access);
    store.del(FILING_KEY);
    state.upload = null;
    $("filed-number").textContent = filed.number;
    $("filed-code").textContent = filed.status_code;
    $("filed-due").textContent = t("ptFiledDue", { date: localTime(filed.petition.due_on + "T12:00:00+08:00", { date: true }),
      n: filed.petition.working_days });
    $("file-form").reset();
    view("filed");
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
    button.textContent = t("ptSubmit");
  }
}

// ---- status -------------------------------------------------------------------------------------------------------

function citizenHeaders() { return { "X-Petition-Access": store.get(ACCESS_KEY) || "" }; }

async function openStatus() {
  if (!store.get(ACCESS_KEY)) { view("lookup"); return; }
  try {
    render(await request("GET", "/api/petitions/mine", { headers: citizenHeaders() }));
    view("status");
    state.pollTimer = setTimeout(pollStatus, 3000);
  } catch (err) {
    store.del(ACCESS_KEY);
    view("lookup");
    showError(err);
  }
}

// ---- the handler's video call: the page looks every few seconds whether one waits ----------------------------------

function renderCall(p) {
  const inCall = Boolean($("st-call-frame").dataset.link);
  if (!p.call_waiting && inCall) { hideCall($("st-call-frame")); $("st-call-wrap").hidden = true; }
  $("st-call").hidden = !p.call_waiting;
  $("st-call-join").hidden = inCall && p.call_waiting;
}

async function joinCall() {
  showError(null);
  try {
    const { link } = await request("POST", "/api/petitions/mine/call", { headers: citizenHeaders() });
    $("st-call-wrap").hidden = false;
    showCall($("st-call-frame"), link);
    $("st-call-join").hidden = true;
    $("st-call").scrollIntoView({ block: "start" }); // the call fills the screen at 1024x600 and on a phone
  } catch (err) { showError(err); }
}

async function pollStatus() {
  clearTimeout(state.pollTimer);
  if ($("status-view").hidden || !store.get(ACCESS_KEY)) return;
  try { render(await request("GET", "/api/petitions/mine", { headers: citizenHeaders() })); } catch { /* next time */ }
  state.pollTimer = setTimeout(pollStatus, 3000);
}

function render(p) {
  state.petition = p;
  renderCall(p);
  $("st-heading").textContent = t("ptStatusHeading", { number: p.number });
  $("st-status").textContent = label("petitionStatus", p.status);
  $("st-status").className = `big-text status-${p.status}`;
  $("st-category").textContent = `${label("petitionCategory", p.category)}（${label("petitionClass", p.klass)}）`;
  $("st-due").textContent = t("ptDueOn", { date: localTime(`${p.due_on}T12:00:00+08:00`, { date: true }) });
  $("st-handler").textContent = [p.handler_name, p.handler_unit].filter(Boolean).join(" · ") || t("ptNone");
  $("st-reply").hidden = !p.resolution;
  $("st-outcome").textContent = label("petitionOutcome", p.outcome);
  $("st-resolution").textContent = p.resolution || "";
  $("st-reply-text").textContent = p.reply_text || "";
  $("st-media").replaceChildren(...p.attachments.map((a) => el("button", {
    type: "button", class: "big", onclick: () => play(a),
  }, `${t("ptPlay")} · ${a.role === "reply" ? t("ptFromCourt") : t("ptFromYou")} · ${a.kind === "clip" ? t("ptClip") : t("ptPhoto")}`)));
  $("st-rate").hidden = !p.may_rate;
  $("st-rated").textContent = p.rating ? t("ptRated", { rating: label("petitionRating", p.rating) }) : "";
  $("st-reopen").hidden = !p.may_reopen;
  if (p.reopen_until) $("st-reopen-h").textContent = t("ptReopen", { date: localTime(p.reopen_until) });
  $("st-history").replaceChildren(...p.history.map((h) => el("li", {},
    el("span", { class: "when" }, localTime(h.at)), " ", label("petitionEvent", h.kind))));
}

async function play(attachment) {
  showError(null);
  try {
    const link = await request("GET", `/api/petitions/mine/attachments/${attachment.id}`, { headers: citizenHeaders() });
    if (attachment.kind === "clip") {
      const player = $("st-player");
      player.hidden = false;
      player.src = link.url;
      await player.play().catch(() => {});
    } else {
      window.open(link.url, "_blank", "noopener");
    }
  } catch (err) { showError(err); }
}

async function lookup(ev) {
  ev.preventDefault();
  showError(null);
  try {
    const found = await request("POST", "/api/petitions/lookup", {
      body: { number: $("lookup-number").value.trim(), code: $("lookup-code").value },
    });
    store.set(ACCESS_KEY, found.access);
    render(found.petition);
    view("status");
  } catch (err) { showError(err); }
}

async function rate(rating) {
  showError(null);
  try {
    render(await request("POST", "/api/petitions/mine/rating", { body: { rating }, headers: citizenHeaders() }));
  } catch (err) { showError(err); }
}

async function reopen(ev) {
  ev.preventDefault();
  showError(null);
  try {
    render(await request("POST", "/api/petitions/mine/reopen", {
      body: { reason: $("reopen-reason").value }, headers: citizenHeaders(),
    }));
  } catch (err) { showError(err); }
}

// ---- start ----------------------------------------------------------------------------------------------------------

async function main() {
  applyI18n(document);
  title();
  $("lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(() => {
    title();
    fillSelects();
    if (state.petition && !$("status-view").hidden) render(state.petition);
  });
  $("tab-file").addEventListener("click", () => view("file"));
  $("tab-status").addEventListener("click", openStatus);
  $("filed-open").addEventListener("click", openStatus);
  $("rec-start").addEventListener("click", startRecording);
  $("rec-again").addEventListener("click", startRecording);
  $("rec-stop").addEventListener("click", stopRecording);
  $("file-form").addEventListener("submit", submit);
  $("lookup-form").addEventListener("submit", lookup);
  $("st-reopen").addEventListener("submit", reopen);
  $("st-call-join").addEventListener("click", joinCall);
  for (const b of document.querySelectorAll("[data-rating]")) b.addEventListener("click", () => rate(b.dataset.rating));
  const access = new URLSearchParams(location.hash.slice(1)).get("access");
  if (access) {
    store.set(ACCESS_KEY, access);
    history.replaceState(null, "", location.pathname);
  }
  try {
    state.meta = await request("GET", "/api/petitions/meta");
    fillSelects();
  } catch (err) { showError(err); }
  if (access) await openStatus();
  else view("file");
  document.body.dataset.ready = "true";
}

main();
