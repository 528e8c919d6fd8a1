// The "录像 / Recording" section of the hearing detail view: the recording's tracks, pauses and verification status,
// and playback of one track through the API's presigned URLs. Segments are self-contained WebM files, so they are
// played one after the other on `ended` (MediaSource would only be needed for gapless playback). The URLs expire in
// minutes: when one fails after its expiry the page is listed again from that segment. URLs are never stored.
import { api, ApiError } from "./api.js";
import { localTime, t } from "./vocab.js";

const $ = (id) => document.getElementById(id);

const state = {
  hearingId: null,
  summary: null, // GET /api/hearings/{id}/recording, or null (none / not visible)
  error: null,
  play: null, // {track, segments, pos, next, expiresAt, retried}
};

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function duration(seconds) {
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

function timeOf(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}

/** Fetch the recording's summary for the detail view (a 404 just means "not recorded yet"). */
export async function loadRecording(hearingId) {
  if (state.hearingId !== hearingId) stopPlayback();
  state.hearingId = hearingId;
  state.summary = null;
  state.error = null;
  try {
    state.summary = await api.recording(hearingId);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    if (!(err instanceof ApiError && err.status === 404)) state.error = err;
  }
}

/** Render the section; `who(participantId)` names a participant (the page's own lookup). */
export function renderRecording(who, errorText) {
  const s = state.summary;
  const status = $("recording-status");
  status.className = "";
  $("recording-tracks").hidden = !s;
  if (!s) {
    status.textContent = state.error ? errorText(state.error) : t("recNone");
    $("recording-tracks").querySelector("tbody").replaceChildren();
    $("recording-pauses").replaceChildren();
    return;
  }
  const lines = [t("recSummary", { start: localTime(s.recording_start), dur: duration(s.in_session_seconds) })];
  if (s.first_break) {
    lines.push(t("recBroken", s.first_break));
    status.className = "rec-broken";
  } else {
    lines.push(t("recVerified", { how: t(s.verification === "full" ? "recHowFull" : "recHowSizes") }));
    status.className = "rec-ok";
  }
  if (!s.stopped) lines.push(t("recRunning"));
  status.textContent = lines.join(" · ");
  status.dataset.verified = String(s.verified);

  const playing = state.play?.track.track_id;
  const rows = s.tracks.map((tr) => h("tr", { dataset: { trackId: tr.track_id, kind: tr.kind },
    "aria-current": String(playing === tr.track_id) },
  h("td", {}, who(tr.participant_id)),
  h("td", {}, t(tr.kind === "video" ? "kindVideo" : "kindAudio")),
  h("td", {}, tr.codec),
  h("td", {}, tr.segments),
  h("td", {}, duration(tr.duration_seconds)),
  h("td", {}, h("button", { type: "button", class: "play-track",
    onclick: () => (playing === tr.track_id ? stopPlayback() : play(tr, who, errorText)) },
  t(playing === tr.track_id ? "stop" : "play"))),
  ));
  $("recording-tracks").querySelector("tbody").replaceChildren(...rows);
  $("recording-pauses").replaceChildren(...s.pauses.map((p) => h("li", {},
    t("recPaused", { at: timeOf(p.at), reason: p.reason, who: who(p.actor_id) })
    + (p.resumed_at ? t("recResumed", { at: timeOf(p.resumed_at) }) : ""))));
}

function media() {
  return state.play?.track.kind === "video" ? $("recording-video") : $("recording-audio");
}

/** Stop and forget the playback (leaving the view, another hearing, or the Stop button). */
export function stopPlayback() {
  for (const el of [$("recording-video"), $("recording-audio")]) {
    el.pause();
    el.removeAttribute("src");
    el.load();
    el.hidden = true;
    el.onended = null;
    el.onerror = null;
  }
  $("recording-player").hidden = true;
  if (state.play) {
    state.play = null;
    for (const tr of document.querySelectorAll("#recording-tracks tr[aria-current=true]")) {
      tr.setAttribute("aria-current", "false");
    }
  }
}

async function fetchPage(afterSeq) {
  const page = await api.recordingSegments(state.hearingId, state.play.track.track_id, afterSeq);
  state.play.expiresAt = Date.parse(page.expires_at);
  $("recording-expiry").textContent = t("recUrlsExpire", { t: timeOf(page.expires_at) });
  return page;
}

async function play(track, who, errorText) {
  stopPlayback();
  state.play = { track, who, errorText, segments: [], pos: 0, next: null, retried: false, total: track.segments };
  $("recording-player").hidden = false;
  const el = media();
  el.hidden = false;
  el.onended = () => advance();
  el.onerror = () => recover();
  renderRecording(who, errorText);
  try {
    const page = await fetchPage(0);
    state.play.segments = page.segments;
    state.play.next = page.next_after_seq;
    start();
  } catch (err) {
    $("recording-now").textContent = errorText(err);
  }
}

function start() {
  const p = state.play;
  const seg = p?.segments[p.pos];
  if (!seg) return;
  const el = media();
  el.dataset.segment = String(p.pos);
  el.src = seg.url;
  $("recording-now").textContent = t("recPlaying", {
    who: p.who(p.track.participant_id), kind: t(p.track.kind === "video" ? "kindVideo" : "kindAudio"),
    n: p.pos + 1, total: p.total, at: timeOf(seg.start_at),
  });
  el.play().catch(() => { /* autoplay refused: the controls are there */ });
}

async function advance() {
  const p = state.play;
  if (!p) return;
  p.retried = false;
  if (p.pos + 1 < p.segments.length) {
    p.pos += 1;
    start();
    return;
  }
  if (p.next !== null) {
    const page = await fetchPage(p.next);
    if (state.play !== p) return;
    p.segments = [...p.segments, ...page.segments];
    p.next = page.next_after_seq;
    p.pos += 1;
    start();
    return;
  }
  $("recording-now").textContent = t("recEnded");
}

/** A segment failed: when its URL has (nearly) expired, list again from it and retry once; else skip it. */
async function recover() {
  const p = state.play;
  if (!p || !media().getAttribute("src")) return;
  if (!p.retried && Date.now() > p.expiresAt - 5000) {
    p.retried = true;
    const afterSeq = p.pos > 0 ? p.segments[p.pos - 1].seq : 0;
    try {
      const page = await fetchPage(afterSeq);
      if (state.play !== p) return;
      p.segments = [...p.segments.slice(0, p.pos), ...page.segments];
      p.next = page.next_after_seq;
      start();
    } catch (err) {
      $("recording-now").textContent = p.errorText(err);
    }
    return;
  }
  advance();
}
