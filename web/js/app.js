// Entry point: reads the link, runs the pre-join check, then the room. Owns the page state
// (`document.body.dataset.state`: prejoin | connecting | lobby | connected | reconnecting | ended | error)
// and where we are in a hearing (`document.body.dataset.place`: lobby | room).
import { StaffConsole } from "./console.js";
import { acquire, failureKey } from "./devices.js";
import { applyI18n, closeMessage, currentLang, errorText, onLangChange, roleLabel, setLang, t } from "./i18n.js";
import { ExhibitsPanel, roomApi } from "./exhibits.js";
import { interpreterIds, loadMode, pendingSubscriptions, saveMode, volumeFor } from "./interpret.js";
import { watchLayout } from "./layout.js";
import { askLeave, leaveMode } from "./leave.js";
import { Lobby } from "./lobby.js";
import { MediaSession } from "./media.js";
import { Prejoin } from "./prejoin.js";
import { PrivateSession, renderPrivateBanner } from "./private.js";
import { summarise, uplinkVideo } from "./quality.js";
import { Tile, layout, renderQuality, renderRoster } from "./room.js";
import { RoomTools } from "./roomtools.js";
import { TranscriptPanel } from "./transcript.js";
import { hasConsole, hasCourtPanels, mayPublish, mediaNotes, renderBanner } from "./roomstate.js";
import { Signaling } from "./signaling.js";
import { loadResume, readLink, saveResume } from "./token.js";

const $ = (id) => document.getElementById(id);
const QUALITY_EVERY_MS = 2000;

const app = {
  link: null,
  claims: null,
  state: "prejoin",
  final: null,            // {state: "ended"|"error", text, detail, rejoin}
  sig: null,
  sigPhase: "connecting",
  sigDetail: {},
  media: null,
  wasConnected: false,
  local: { stream: null, audio: null, video: null, mode: "watch" },
  me: null,
  people: new Map(),
  speaker: null,
  micMuted: false,
  camMuted: false,
  audioOnly: false,
  tiles: new Map(),
  selfTile: null,
  quality: { prev: null, summary: null, poorRuns: 0, timer: 0 },
  // A hearing's lobby and rules (room-state, permissions, placed: docs/protocol.md).
  place: null,            // "lobby" | "room" once joined
  placedBack: false,      // the court sent us back from the room to the lobby
  placeReason: "",
  roomState: null,
  permissions: null,
  iceServers: [],
  mediaWasConnected: false,
  muteEchoes: 0,          // our own `mute` messages whose `mute-state` echo has not come back yet
  mutedByCourt: { audio: false, video: false },
  lobby: null,
  console: null,
  // Private rooms (private.js): the second connection while we are away from the main room, the rooms we know of
  // (room_id -> label: those we were moved into) and the main room's permissions from before we left it.
  priv: null,
  privateRooms: new Map(),
  serverPrivateRooms: null, // the hearing's open private rooms as the server lists them to staff (`private-rooms`)
  roomPermissions: null,
  // The interpreter channel (interpret.js): this browser's choice and what the current PeerConnection was told.
  interp: { mode: loadMode(), sent: new Map(), ids: [] },
  consoleOpen: true,
  noticeTimer: 0,
};

// ---- page state --------------------------------------------------------------------------------------------

function computeState() {
  if (app.final) return app.final.state;
  if (!app.sig) return "prejoin";
  if (app.sigPhase === "joined") {
    if (app.place === "lobby") return "lobby";
    if (activeMedia()?.state === "connected") return "connected";
    if (activeMedia()?.state === "stalled") return "stalled";
    return app.mediaWasConnected ? "reconnecting" : "connecting";
  }
  return app.wasConnected ? "reconnecting" : "connecting";
}

/** The media session of where we are: the private room's while we are away in one, else the main room's. */
function activeMedia() {
  return app.place === "private" ? app.priv?.media ?? null : app.media;
}

function statusText(state) {
  switch (state) {
    case "prejoin": return t("prejoin");
    case "connected": return t("connected");
    case "stalled": return t("mediaStalled");
    case "lobby": return t("lobbyStatus");
    case "connecting":
      if (app.sigPhase === "joined") return t("connectingMedia");
      // Closed before we were ever admitted (and not refused): the server cannot be reached.
      return app.sigDetail.code && !app.sigDetail.rejoin ? t("unreachable") : t("connecting");
    case "reconnecting":
      return app.sigPhase === "joined" ? t("reconnectingMedia") : t("reconnecting");
    default: return app.final ? app.final.text() : t(state);
  }
}

function updateState() {
  const state = computeState();
  if (state === "connected" || state === "lobby") app.wasConnected = true;
  if (state === "connected") app.mediaWasConnected = true;
  if (state !== app.state) window.hearing.stateLog.push(state);
  if (state === "connected") window.hearing.marks.connected ??= performance.now();
  app.state = state;
  document.body.dataset.state = state;
  document.body.dataset.place = app.final ? "" : app.place ?? "";
  const text = statusText(state);
  const status = $("status");
  if (status.textContent !== text) status.textContent = text;
}

/** The end: `text` is a function so that the words follow a language switch. */
function finish(state, text, detail = "", { rejoin = true } = {}) {
  if (app.final) return;
  app.final = { state, text, detail, rejoin };
  stopQuality();
  app.media?.close();
  closePrivate();
  for (const tr of [app.local.audio, app.local.video]) tr?.stop();
  for (const tile of app.tiles.values()) tile.remove();
  app.tiles.clear();
  $("room-view").hidden = true;
  $("controls").hidden = true;
  $("prejoin-view").hidden = true;
  app.lobby?.hide();
  $("console").hidden = true;
  $("room-banner").hidden = true;
  $("private-banner").hidden = true;
  document.body.classList.remove("has-console");
  $("message-view").hidden = false;
  renderFinal();
  updateState();
  $("msg-title").focus();
}

function renderFinal() {
  const f = app.final;
  if (!f) return;
  $("msg-title").textContent = t(f.state === "error" ? "error" : "ended");
  $("msg-text").textContent = f.text();
  $("msg-detail").textContent = f.detail ? t("serverSaid", { reason: f.detail }) : "";
  $("msg-rejoin").hidden = !f.rejoin;
}

function announce(text) {
  const a = $("announce");
  a.textContent = "";
  // A fresh text node makes screen readers announce the same words twice in a row too.
  setTimeout(() => { a.textContent = text; }, 50);
}

// ---- signalling -----------------------------------------------------------------------------------------------

/** What to add under a close's own message: the translated refusal, else the court's own words (a judge's reason
 *  after the first ": " of the close reason); never the server's English sentence. */
function shownReason(detail) {
  if (detail.refusal) return errorText(detail.refusal);
  const reason = String(detail.reason || "");
  const at = reason.indexOf(": ");
  return at >= 0 ? reason.slice(at + 2) : "";
}

function onSigStatus({ detail }) {
  app.sigPhase = detail.phase;
  app.sigDetail = detail;
  if (detail.phase === "ended") {
    saveResume(null);
    const seconds = Math.round(app.sig.graceMs / 1000);
    let text;
    if (detail.graceOver) text = () => t("graceOver", { s: seconds });
    else if (detail.reason === "left") text = () => t("left");
    else text = () => closeMessage(detail.code) ?? t("close1000");
    const detailText = detail.graceOver || detail.reason === "left" ? "" : shownReason(detail);
    // Removed or turned away by the court (4013): joining again would only be refused (4006).
    finish("ended", text, detailText, { rejoin: detail.code !== 4013 });
    return;
  }
  if (detail.phase === "error") {
    saveResume(null);
    finish("error", () => closeMessage(detail.code) ?? t("error"), shownReason(detail), { rejoin: false });
    return;
  }
  updateState();
}

async function onSigMessage({ detail: msg }) {
  if (app.media?.handle(msg)) return;
  if (app.tools?.handle(msg)) return; // room tools (roomtools.js): hands, chat, screen, spotlight
  switch (msg.type) {
    case "joined": await onJoined(msg); break;
    case "participant-joined": {
      const p = msg.participant;
      const before = app.people.get(p.id);
      app.people.set(p.id, p);
      const vars = { name: p.name, role: roleLabel(p.role) };
      if (p.place === "lobby") {
        // Staff see who waits; someone moved back from the room takes their media with them.
        app.media?.forget(p.id);
        if (!before) announce(t("lobbyNote", vars));
        else if (before.place !== "lobby") announce(t("movedToLobbyNote", vars));
      } else if (p.place === "private") {
        app.media?.forget(p.id); // away in a private room: nothing of theirs reaches the main room
        if (before?.place !== "private") announce(t("privateNote", vars));
      } else if (!before || before.place === "lobby") announce(t("joinedNote", vars));
      else if (before.place === "private") announce(t("backFromPrivateNote", vars));
      renderPeople();
      break;
    }
    case "participant-left": {
      const p = app.people.get(msg.participant_id);
      app.people.delete(msg.participant_id);
      app.media?.forget(msg.participant_id);
      const key = { lobby: "movedToLobbyNote", denied: "deniedNote", removed: "removedNote" }[msg.reason] ?? "leftNote";
      if (p) announce(t(key, { name: p.name, role: roleLabel(p.role) }));
      renderPeople();
      break;
    }
    case "room-state":
      app.roomState = msg;
      renderHearing();
      if (app.leaveAfterClose && msg.state === "closed") leave();
      break;
    case "permissions":
      app.permissions = msg;
      if (msg.place === "room") app.roomPermissions = msg;
      renderHearing();
      renderPeople(); // the own tile shows what the court withholds
      break;
    case "placed":
      await onPlaced(msg);
      break;
    case "exhibit-presented":
      await app.exhibits?.onPresented(msg);
      break;
    case "private-room":
      await onPrivateRoom(msg);
      break;
    case "private-rooms":
      app.serverPrivateRooms = msg.rooms ?? [];
      renderConsole();
      break;
    case "transcript-updated":
      await app.transcript?.onUpdated(msg);
      break;
    case "participant-connection": {
      const p = app.people.get(msg.participant_id);
      if (p) { p.connection = msg.connection; renderPeople(); }
      break;
    }
    case "mute-state": {
      if (msg.participant_id === app.me?.id) { onOwnMuteState(msg); break; }
      const p = app.people.get(msg.participant_id);
      if (p) { p.audio_muted = msg.audio_muted; p.video_muted = msg.video_muted; renderPeople(); }
      break;
    }
    case "active-speaker":
      app.speaker = msg.participant_id;
      renderPeople();
      break;
    case "link-quality": // the SFU paused (or resumed) video to us: our link cannot carry it next to audio
      showNotice(t(msg.video_paused ? "linkVideoPaused" : "linkVideoResumed"));
      announce(t(msg.video_paused ? "linkVideoPaused" : "linkVideoResumed"));
      break;
    case "error":
      console.warn("hearing: server error", msg.code, msg.message);
      app.leaveAfterClose = false; // "end for all" refused: stay, the notice says why
      // In the lobby nothing of ours needs an answer: a refusal there is a media message that crossed `placed`.
      if (app.place !== "lobby") showNotice(t("refused", { message: errorText(msg) }));
      break;
    default:
      break;
  }
}

async function onJoined(msg) {
  window.hearing.joins.push({ id: msg.participant.id, resumed: !!msg.resumed });
  window.hearing.marks.joined ??= performance.now();
  app.me = msg.participant;
  app.place = msg.participant.place ?? "room";
  app.iceServers = msg.ice_servers;
  app.people = new Map(msg.participants.map((p) => [p.id, p]));
  app.resume = { token: msg.resume_token, graceMs: msg.resume_grace_seconds * 1000 };
  app.muteEchoes = 0;
  // The server keeps mute state across a resume but not across a fresh join: tell it what we really do.
  if (!!app.me.audio_muted !== app.micMuted) sendMute("audio", app.micMuted);
  if (!!app.me.video_muted !== app.camMuted) sendMute("video", app.camMuted);
  app.me.audio_muted = app.micMuted;
  app.me.video_muted = app.camMuted;
  renderPeople();
  renderHearing();
  rememberSettings();
  if (app.place !== "room") {
    leaveRoomMedia(); // waiting in the lobby: no media until the court lets us in
  } else if (!app.media) {
    await enterRoomMedia();
  } else {
    // Server offers and track announcements sent while we were away are lost: start media afresh.
    app.media.setIceServers(msg.ice_servers);
    app.media.restart("signalling resumed", { settle: false });
  }
  updateState();
}

/** `placed`: admitted into the room (start media as after a join) or sent back to the lobby (stop it). */
async function onPlaced(msg) {
  app.place = msg.place;
  if (app.me) app.me.place = msg.place;
  app.placeReason = msg.reason ?? "";
  app.muteEchoes = 0;
  if (msg.place === "private") {
    // Away in a private room: the main room's media stops; `private-room` enter brings the room to connect to.
    leaveRoomMedia();
    renderPeople();
    renderHearing();
  } else if (msg.place === "room") {
    const fromPrivate = app.mediaFromPrivate;
    closePrivate();
    app.placedBack = false;
    app.people = new Map((msg.participants ?? []).map((p) => [p.id, p]));
    app.mediaWasConnected = false;
    announce(t(fromPrivate ? "backFromPrivate" : "admittedNote"));
    app.mediaFromPrivate = false;
    // A mute toggled in the private room went to that room's server: tell the main room.
    if (app.me && !!app.me.audio_muted !== app.micMuted) sendMute("audio", app.micMuted);
    if (app.me && !!app.me.video_muted !== app.camMuted) sendMute("video", app.camMuted);
    if (app.me) { app.me.audio_muted = app.micMuted; app.me.video_muted = app.camMuted; }
    renderPeople();
    renderHearing();
    updateState();
    await enterRoomMedia();
  } else {
    app.placedBack = true;
    leaveRoomMedia();
    app.people = new Map(); // the lobby sees nobody
    announce(t("sentToLobbyNote"));
    renderPeople();
    renderHearing();
  }
  updateState();
}

/** `private-room` on the main connection: go into a private room (a second connection) or come back from it. */
async function onPrivateRoom(msg) {
  if (msg.action === "enter") {
    app.privateRooms.set(msg.room_id, msg.label);
    await app.localReady;
    if (app.final) return;
    closePrivate();
    leaveRoomMedia();
    const priv = new PrivateSession({ roomId: msg.room_id, label: msg.label, token: msg.token, local: app.local,
      publish: (app.claims.grants ?? []).includes("publish"), micMuted: app.micMuted, camMuted: app.camMuted });
    app.priv = priv;
    app.tools?.attachPrivate(priv); // its chat stays among its members
    app.mediaFromPrivate = true;
    window.hearing.privateLog.push({ action: "enter", room_id: msg.room_id, label: msg.label });
    priv.addEventListener("change", () => { if (app.priv === priv) { renderPeople(); renderControls(); updateState(); } });
    priv.addEventListener("ready", () => {
      if (app.audioOnly) sendSubscription();
      app.interp.sent.clear();
      applyInterpretation();
    });
    priv.addEventListener("closed", ({ detail }) => {
      if (app.priv !== priv) return;
      if (detail.code !== 1000 && detail.code !== undefined) {
        showNotice(t("privateRefused", { message: shownReason(detail) || closeMessage(detail.code) || t("error") }));
      }
      closePrivate();
      renderPeople();
      renderHearing();
    });
    announce(t("enteredPrivate", { label: msg.label }));
    priv.start();
    renderPeople();
    renderHearing();
  } else {
    app.privateRooms.delete(msg.room_id);
    window.hearing.privateLog.push({ action: "leave", room_id: msg.room_id });
    if (!app.priv || app.priv.roomId === msg.room_id) closePrivate();
    renderPeople();
    renderHearing();
  }
  updateState();
}

function closePrivate() {
  const priv = app.priv;
  if (!priv) return;
  app.priv = null;
  priv.close();
  for (const tile of app.tiles.values()) tile.remove();
  app.tiles.clear();
  app.speaker = null;
}

async function enterRoomMedia() {
  await app.localReady;
  if (app.final || app.media || app.place !== "room") return;
  rememberSettings();
  startMedia(app.iceServers);
  renderControls();
  updateState();
}

function leaveRoomMedia() {
  stopQuality();
  const media = app.media;
  app.media = null;
  media?.close();
  app.mediaWasConnected = false;
  app.speaker = null;
  for (const tile of app.tiles.values()) tile.remove();
  app.tiles.clear();
}

/** A `mute-state` about us: the echo of our own `mute`, or a moderator's mute (the court muted us). */
function onOwnMuteState(msg) {
  if (app.muteEchoes > 0) {
    app.muteEchoes -= 1;
    return;
  }
  let changed = false;
  if (msg.audio_muted && !app.micMuted) {
    app.micMuted = true;
    app.mutedByCourt.audio = true;
    announce(t("mutedByCourt"));
    changed = true;
  }
  if (msg.video_muted && !app.camMuted) {
    app.camMuted = true;
    app.mutedByCourt.video = true;
    announce(t("camOffByCourt"));
    changed = true;
  }
  if (app.me) { app.me.audio_muted = app.micMuted; app.me.video_muted = app.camMuted; }
  if (changed) {
    rememberSettings();
    renderControls();
    renderPeople();
  }
}

function sendMute(kind, muted) {
  if (app.place === "private") { app.priv?.setMute(kind, muted); return; } // the main room hears of it on return
  // In the room the server echoes `mute-state` to us too; in the lobby only staff hear of it.
  if (app.sig?.send({ type: "mute", kind, muted }) && app.place === "room") app.muteEchoes += 1;
}

// ---- media ----------------------------------------------------------------------------------------------------

function startMedia(iceServers) {
  const publish = (app.claims.grants ?? []).includes("publish");
  const media = new MediaSession({ send: (m) => app.sig.send(m), iceServers, local: app.local, publish });
  app.media = media;
  app.tools?.attachMedia(media); // screen sharing rides on this PeerConnection
  media.addEventListener("state", updateState);
  media.addEventListener("lost", ({ detail }) => {
    console.info("hearing: media lost", detail.reason);
    updateState();
    if (app.sig?.open) media.restart(detail.reason);
    // else: the signalling resume restarts media
  });
  media.addEventListener("ready", () => {
    if (app.audioOnly) sendSubscription();
    app.interp.sent.clear(); // a new media session: the server forwards everything again
    applyInterpretation();
  });
  media.addEventListener("tracks", renderPeople);
  media.addEventListener("notice", ({ detail }) => showMediaNotice(detail));
  media.addEventListener("stalled", ({ detail }) => {
    window.hearing.stalls.push({ stalled: detail.stalled, at: performance.now() });
    updateState();
  });
  media.start();
  startQuality();
}

/** The interpreter channel: tell the server whether to forward the interpreters' audio, and duck the others. */
function applyInterpretation() {
  const { mode, ids } = app.interp;
  const show = ids.length > 0 && app.me?.role !== "interpreter" && app.place !== "lobby";
  $("interp").hidden = !show;
  $("listen-original").setAttribute("aria-pressed", String(mode === "original"));
  $("listen-interpreted").setAttribute("aria-pressed", String(mode === "interpreted"));
  const media = activeMedia();
  if (media?.pc && !media.awaitingAnswer) {
    const send = app.place === "private" ? (m) => app.priv?.send(m) : (m) => app.sig?.send(m);
    for (const msg of pendingSubscriptions(mode, ids, app.interp.sent)) send(msg);
  }
  const present = ids.length > 0;
  for (const tile of app.tiles.values()) {
    if (tile.audio) tile.audio.volume = volumeFor(mode, tile.participant, present);
  }
}

function setListenMode(mode) {
  if (app.interp.mode === mode) return;
  app.interp.mode = mode;
  saveMode(mode);
  announce(t(mode === "original" ? "listenOriginalOn" : "listenInterpretedOn"));
  applyInterpretation();
}

function sendSubscription() {
  if (app.place === "private") {
    app.priv?.send({ type: "subscription", publisher_id: null, kind: "video", paused: app.audioOnly });
    return;
  }
  app.sig?.send({ type: "subscription", publisher_id: null, kind: "video", paused: app.audioOnly });
}

// ---- room rendering -------------------------------------------------------------------------------------------

function ensureTile(p) {
  let tile = app.tiles.get(p.id);
  if (!tile) {
    tile = new Tile(p, {
      audioSink: $("audio-sink"),
      onFrame: () => { window.hearing.firstFrameAt ??= performance.now(); },
      onAutoplayBlocked: () => { $("enable-audio").hidden = false; },
    });
    app.tiles.set(p.id, tile);
  }
  return tile;
}

function renderPeople() {
  if (app.final) return;
  // Staff also know who waits in the lobby: those have no tile and are not in the roster (the console lists them).
  // Away in a private room we see its people, not the main room's.
  const inPrivate = app.place === "private";
  const media = activeMedia();
  const speaker = inPrivate ? app.priv?.speaker : app.speaker;
  const source = inPrivate ? app.priv?.people ?? new Map() : app.people;
  const present = [...source.values()].filter((p) => p.place !== "lobby");
  const remotes = present.filter((p) => (p.grants ?? []).includes("publish")
    || media?.remoteTracks.has(p.id));
  for (const [id, tile] of app.tiles) {
    if (!remotes.some((p) => p.id === id)) { tile.remove(); app.tiles.delete(id); }
  }
  for (const p of remotes) {
    const tile = ensureTile(p);
    const tracks = media?.remoteTracks.get(p.id) ?? { audio: null, video: null };
    tile.setVideo(tracks.video);
    tile.setAudio(tracks.audio);
    tile.update(p, { speaking: speaker === p.id });
  }
  if (app.me && (app.claims.grants ?? []).includes("publish")) {
    if (!app.selfTile) {
      app.selfTile = new Tile(app.me, { self: true });
      if (app.local.video) app.selfTile.setVideo(app.local.video);
    }
    const rules = mediaRules(); // what the court withholds is off too (e.g. recess)
    app.selfTile.update(app.me, { speaking: speaker === app.me.id,
      audioMuted: app.micMuted || !mayPublish(rules, "audio"),
      videoMuted: app.camMuted || !app.local.video || !mayPublish(rules, "video") });
  }
  const { focus, screen } = app.tools?.layout(new Set(remotes.map((p) => p.id))) ?? {};
  layout({ stage: $("stage"), strip: $("strip"), tiles: app.tiles, selfTile: app.selfTile, remotes,
    waiting: app.waitingEl, focus: inPrivate ? null : focus, screen: inPrivate ? null : screen });
  app.tools?.render();
  app.interp.ids = interpreterIds(present, app.me?.id);
  applyInterpretation();
  renderRoster($("participants"), present, app.me);
  $("roster-count").textContent = String(present.length + (app.me ? 1 : 0));
  renderConsole();
  renderTranscript();
}

// ---- the hearing: lobby, banner, court controls ------------------------------------------------------------

function renderHearing() {
  if (app.final) return;
  const inPrivate = app.place === "private";
  // A private room is never recorded: the header must not say "recording" while we are in one.
  renderBanner($("room-banner"), inPrivate && app.roomState ? { ...app.roomState, recording: false } : app.roomState);
  renderPrivateBanner($("private-banner"), inPrivate ? { label: app.priv?.label ?? app.placeReason,
    canClose: !!app.priv && mayModerate("open_private_room") } : null);
  const inLobby = app.place === "lobby";
  if (inLobby) {
    app.lobby.render({ me: app.me, roomState: app.roomState, reason: app.placeReason, back: app.placedBack,
      video: app.local.video });
    app.lobby.show();
  } else {
    app.lobby.hide();
  }
  if (app.sig) $("room-view").hidden = inLobby;
  renderExhibits();
  renderTranscript();
  renderConsole();
  renderControls();
  updateState();
}

function renderConsole() {
  if (!app.console || app.final) return;
  const perms = consolePermissions();
  const show = (app.place === "room" || app.place === "private") && hasConsole(perms);
  $("console-toggle").hidden = !show;
  const open = show && app.consoleOpen;
  $("console").hidden = !open;
  document.body.classList.toggle("has-console", open);
  $("console-toggle").setAttribute("aria-expanded", String(open));
  if (!show) return;
  const people = [...app.people.values()];
  const waiting = people.filter((p) => p.place === "lobby").length;
  $("console-count").textContent = waiting ? `· ${waiting}` : "";
  app.console.render({ me: app.me, people, permissions: perms, roomState: app.roomState,
    privateRooms: knownPrivateRooms() });
}

/** The private rooms the console lists: the server's list (staff get `private-rooms`), else those we were moved
 *  into. Members by name where we know them. */
function knownPrivateRooms() {
  if (app.serverPrivateRooms) {
    return app.serverPrivateRooms.map((r) => ({ id: r.id, label: r.label, // its id, never its room id
      members: (r.members ?? []).map((id) => (id === app.me?.id ? app.me : app.people.get(id))?.name ?? id) }));
  }
  return [...app.privateRooms].map(([id, label]) => ({ id, label, members: [] }));
}

/** The court's controls follow the main room's permissions; away in a private room (where the main connection's
 *  actions are empty) those from before we left, as the server still lets a moderator act from there. */
function consolePermissions() {
  return app.place === "private" ? app.roomPermissions : app.permissions;
}

function mayModerate(action) {
  return (consolePermissions()?.actions ?? []).includes(action);
}

/** Exhibits: a panel for hearings (not ad hoc rooms, not the lobby). */
function renderExhibits() {
  if (!app.exhibits) return;
  const show = app.place === "room" && hasCourtPanels(app.roomState);
  $("exhibits-toggle").hidden = !show;
  if (!show) { $("exhibits").hidden = true; $("exhibit-view").hidden = true; }
  $("exhibits-toggle").setAttribute("aria-expanded", String(!$("exhibits").hidden));
  app.exhibits.setContext({ permissions: app.permissions, role: app.me?.role ?? app.claims?.role });
}

/** The transcript (笔录): a panel for hearings, in the main room. Opens by itself once the hearing is closed for
 *  whoever may sign it. */
function renderTranscript() {
  if (!app.transcript) return;
  const show = app.place === "room" && hasCourtPanels(app.roomState);
  $("transcript-toggle").hidden = !show;
  if (!show) $("transcript").hidden = true;
  app.transcript.setContext({ me: app.me, role: app.me?.role ?? app.claims?.role, roomState: app.roomState,
    permissions: app.permissions, people: [...app.people.values()] });
  const signNow = show && app.roomState?.state === "closed"
    && (app.permissions?.actions ?? []).includes("sign_transcript");
  if (signNow && !app.transcriptOpenedToSign) {
    app.transcriptOpenedToSign = true;
    if ($("transcript").hidden) toggleTranscript();
  }
  $("transcript-toggle").setAttribute("aria-expanded", String(!$("transcript").hidden));
}

function toggleTranscript() {
  const open = $("transcript").hidden;
  $("transcript").hidden = !open;
  $("transcript-toggle").setAttribute("aria-expanded", String(open));
  if (open) {
    $("exhibits").hidden = true; // one side panel at a time
    $("exhibits-toggle").setAttribute("aria-expanded", "false");
    app.transcript.refresh();
  }
}

function toggleExhibits() {
  const open = $("exhibits").hidden;
  $("exhibits").hidden = !open;
  $("exhibits-toggle").setAttribute("aria-expanded", String(open));
  if (open) {
    $("transcript").hidden = true;
    $("transcript-toggle").setAttribute("aria-expanded", "false");
    app.exhibits.refresh();
  }
}

function toggleConsole() {
  app.consoleOpen = !app.consoleOpen;
  renderConsole();
}

/** A media-notice from the server (e.g. our video refused): said in words, and kept on screen. */
function showMediaNotice(msg) {
  window.hearing.mediaNotices.push(msg);
  const key = { no_common_video_codec: "noCommonVideoCodec" }[msg.code];
  showNotice(key ? t(key, msg.params ?? {}) : t("mediaNotice"), { sticky: true });
}

function showNotice(text, { sticky = false } = {}) {
  clearTimeout(app.noticeTimer);
  $("notice-text").textContent = text;
  $("notice").hidden = false;
  if (!sticky) app.noticeTimer = setTimeout(() => { $("notice").hidden = true; }, 15000);
}

/** What the rules let us send now (in the room; in the lobby nothing is sent anyway, the buttons are preferences). */
function mediaRules() {
  if (app.place === "private") return app.priv?.permissions ?? null;
  return app.place === "room" ? app.permissions : null;
}

/** Local tracks send only what we chose and what the court allows now. */
function applyLocalEnabled() {
  const rules = mediaRules();
  if (app.local.audio) app.local.audio.enabled = !app.micMuted && mayPublish(rules, "audio");
  if (app.local.video) app.local.video.enabled = !app.camMuted && mayPublish(rules, "video");
}

function renderControls() {
  const set = (id, pressed) => $(id).setAttribute("aria-pressed", String(pressed));
  set("mute-audio", app.micMuted);
  set("mute-video", app.camMuted);
  set("audio-only", app.audioOnly);
  const rules = mediaRules();
  const canAudio = mayPublish(rules, "audio");
  const canVideo = mayPublish(rules, "video");
  $("mute-audio").disabled = !app.local.audio || !canAudio;
  $("mute-video").disabled = !app.local.video || !canVideo;
  const publisher = (app.claims?.grants ?? []).includes("publish");
  $("mute-audio").hidden = $("mute-video").hidden = !publisher; // observers only watch and listen
  document.body.classList.toggle("audio-only", app.audioOnly);
  applyLocalEnabled();
  const text = mediaNotes({ publisher, canAudio, canVideo, roomState: app.roomState, mutedByCourt: app.mutedByCourt,
    micMuted: app.micMuted, camMuted: app.camMuted });
  const notice = $("media-notice");
  if (notice.textContent !== text) notice.textContent = text;
  for (const id of ["mute-audio", "mute-video"]) {
    if (text) $(id).setAttribute("aria-describedby", "media-notice");
    else $(id).removeAttribute("aria-describedby");
  }
}

// ---- controls -------------------------------------------------------------------------------------------------

function toggleMic() {
  if (!app.local.audio) return;
  app.micMuted = !app.micMuted;
  app.mutedByCourt.audio = false; // unmuting ourselves lifts the court's mute (the server drops its hold)
  sendMute("audio", app.micMuted);
  if (app.me) app.me.audio_muted = app.micMuted;
  rememberSettings();
  renderControls();
  renderPeople();
}

function toggleCam() {
  if (!app.local.video) return;
  app.camMuted = !app.camMuted;
  app.mutedByCourt.video = false;
  sendMute("video", app.camMuted);
  if (app.me) app.me.video_muted = app.camMuted;
  rememberSettings();
  renderControls();
  renderPeople();
}

function toggleAudioOnly() {
  app.audioOnly = !app.audioOnly;
  sendSubscription();
  announce(t(app.audioOnly ? "audioOnlyOn" : "audioOnlyOff"));
  $("audio-only").classList.remove("suggest");
  rememberSettings();
  renderControls();
}

/** What a reload of this tab needs to take the place back as it was (sessionStorage, this tab only). */
function rememberSettings() {
  if (!app.resume || app.final) return;
  saveResume({ ...app.resume, mode: app.local.mode, audioOnly: app.audioOnly, micMuted: app.micMuted,
    camMuted: app.camMuted });
}

function leave() {
  app.sig?.leave();
  saveResume(null);
}

/** 离开: whoever may close the hearing is asked whether to leave alone or end it for everyone (leave.js). */
function onLeaveClick() {
  if (app.place !== "room" || leaveMode(app.permissions) !== "ask") { leave(); return; }
  askLeave({
    leave,
    endForAll: () => {
      if (!app.sig?.send({ type: "procedure", transition: "close" })) { showNotice(t("notConnected")); return; }
      app.leaveAfterClose = true; // leave once the room says it is closed (a refusal keeps us here, with its notice)
    },
  });
}

function toggleRoster() {
  const open = $("roster").hidden;
  $("roster").hidden = !open;
  $("roster-toggle").setAttribute("aria-expanded", String(open));
}

// ---- quality --------------------------------------------------------------------------------------------------

function startQuality() {
  stopQuality();
  renderQuality($("quality"), null);
  app.quality.timer = setInterval(async () => {
    const media = activeMedia();
    if (!media || media.state !== "connected") return;
    try {
      const cur = await media.counters();
      const prev = app.quality.prev;
      app.quality.prev = cur;
      // Loss needs two samples close together, from the same PeerConnection.
      if (!prev || prev.generation !== cur.generation || cur.at - prev.at > 3 * QUALITY_EVERY_MS) return;
      const s = summarise(prev, cur);
      app.quality.summary = s;
      renderQuality($("quality"), s);
      adaptUplink(media, cur);
      app.quality.poorRuns = s.level === "poor" ? app.quality.poorRuns + 1 : 0;
      if (app.quality.poorRuns === 3 && !app.audioOnly) {
        $("audio-only").classList.add("suggest");
        announce(t("suggestAudioOnly"));
      }
    } catch { /* the PeerConnection was replaced mid-call */ }
  }, QUALITY_EVERY_MS);
}

/** Our own uplink too slow for video next to audio: stop sending video by itself, say so, resume when it recovers.
 * Adapting, never reconnecting: a new PeerConnection on a slow link only makes it slower. */
function adaptUplink(media, cur) {
  if (!app.local.video) return;
  const before = app.quality.uplink ?? {};
  const fresh = before.generation !== cur.generation;
  const { state, changed } = uplinkVideo(fresh ? { sendVideo: before.sendVideo ?? true } : before, cur.availableOut,
    cur.at);
  app.quality.uplink = { ...state, generation: cur.generation };
  if (changed || (fresh && !state.sendVideo)) media.setVideoSending(state.sendVideo);
  if (changed) {
    const key = state.sendVideo ? "uplinkVideoBack" : "uplinkVideoPaused";
    showNotice(t(key));
    announce(t(key));
  }
}

function stopQuality() {
  clearInterval(app.quality.timer);
  app.quality.prev = null;
}

// ---- start ----------------------------------------------------------------------------------------------------

function startSession(resume) {
  $("room-view").hidden = false;
  $("controls").hidden = false;
  renderControls();
  app.sig = new Signaling({ room: app.claims.room, joinToken: app.link.token, resume });
  app.sig.addEventListener("status", onSigStatus);
  app.sig.addEventListener("message", (ev) => {
    onSigMessage(ev).catch((e) => console.error("hearing: message handling failed", e));
  });
  updateState();
  app.sig.start();
}

function wireControls() {
  $("lang").onclick = () => setLang(currentLang() === "zh" ? "en" : "zh");
  $("mute-audio").onclick = toggleMic;
  $("mute-video").onclick = toggleCam;
  $("audio-only").onclick = toggleAudioOnly;
  $("listen-original").onclick = () => setListenMode("original");
  $("listen-interpreted").onclick = () => setListenMode("interpreted");
  $("leave").onclick = onLeaveClick;
  $("roster-toggle").onclick = toggleRoster;
  $("console-toggle").onclick = toggleConsole;
  $("exhibits-toggle").onclick = toggleExhibits;
  $("transcript-toggle").onclick = toggleTranscript;
  $("private-banner").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action=close-private]");
    if (b && app.priv && !app.sig?.send({ type: "close-private-room", room_id: app.priv.roomId })) {
      showNotice(t("notConnected"));
    }
  });
  $("notice-close").onclick = () => { $("notice").hidden = true; };
  $("msg-rejoin").onclick = () => location.reload();
  $("enable-audio").onclick = () => {
    $("enable-audio").hidden = true;
    for (const tile of app.tiles.values()) tile.playAudio();
  };
  onLangChange(() => {
    updateState();
    renderFinal();
    renderPeople();
    renderHearing();
    if (app.quality.summary) renderQuality($("quality"), app.quality.summary);
    else renderQuality($("quality"), null);
  });
  addEventListener("pagehide", () => { app.priv?.sig.stop(); app.sig?.stop(); });
}

async function main() {
  app.waitingEl = $("waiting");
  watchLayout();
  app.lobby = new Lobby($("lobby-view"));
  app.console = new StaffConsole($("console"), {
    send: (m) => app.sig?.send(m) ?? false,
    onUnsent: () => showNotice(t("notConnected")),
  });
  app.link = readLink();
  app.exhibits = new ExhibitsPanel($("exhibits"), $("exhibit-view"), {
    api: (method, path, body) => roomApi(app.claims.room, app.link.token, method, path, body),
    people: () => (app.me ? [app.me, ...app.people.values()] : [...app.people.values()]),
  });
  app.transcript = new TranscriptPanel($("transcript"), {
    api: (method, path, body) => roomApi(app.claims.room, app.link.token, method, path, body),
    download: async (path) => (await roomApi(app.claims.room, app.link.token, "GET", path)).blob(),
  });
  app.tools = new RoomTools({ app, send: (m) => app.sig?.send(m) ?? false, notice: (text) => showNotice(text),
    rerender: renderPeople, showTranscript: () => { if ($("transcript").hidden) toggleTranscript(); },
    onDeviceSwitched: (kind, track) => {
      if (kind === "video" && app.selfTile) app.selfTile.setVideo(track);
      if (kind === "video" && app.place === "lobby") app.lobby.setVideo(track);
      applyLocalEnabled();
    } });
  app.tools.mount({ controls: $("controls"), room: $("room-view"), transcript: $("transcript"), stage: $("stage"),
    strip: $("strip"), banner: $("room-banner") });
  if (app.link.lang === "en" || app.link.lang === "zh") setLang(app.link.lang);
  applyI18n(document);
  wireControls();
  app.claims = app.link.claims;
  if (!app.link.token || !app.claims?.room) {
    finish("error", () => t(app.link.token ? "badToken" : "noToken"), "", { rejoin: false });
    return;
  }
  const publish = (app.claims.grants ?? []).includes("publish");
  const resume = loadResume();
  if (resume?.token) {
    // A reload inside the hearing: take the place back straight away with the same devices and settings.
    app.audioOnly = !!resume.audioOnly;
    app.micMuted = !!resume.micMuted;
    app.camMuted = !!resume.camMuted;
    app.localReady = publish && resume.mode !== "watch"
      ? acquire({ wantVideo: resume.mode !== "audio" }).then(useLocal) : Promise.resolve();
    startSession({ token: resume.token, graceMs: resume.graceMs });
    return;
  }
  // A withdrawn or expired link says what to do now, before any camera is asked for.
  const refusal = await linkRefusal(app.link.token);
  if (refusal) {
    document.body.dataset.link = refusal.error;
    finish("error", () => errorText(refusal), "", { rejoin: false });
    return;
  }
  if (app.link.skipCheck) {
    app.localReady = publish ? acquire().then((l) => useLocal(l, { tell: true })) : Promise.resolve();
    startSession(null);
    return;
  }
  updateState();
  const { local, audioOnly } = await new Prejoin({ claims: app.claims }).run();
  app.audioOnly = audioOnly;
  if (local) useLocal(local);
  app.localReady = Promise.resolve();
  startSession(null);
}

/** The server's refusal of our link (withdrawn, expired, not valid) or null; a check that cannot be made (no
 *  network yet, an older server) is no refusal: the join itself checks the link again. */
async function linkRefusal(token) {
  try {
    const r = await fetch("/api/links/status", { cache: "no-store", headers: { Authorization: `Bearer ${token}` } });
    if (r.ok || r.status >= 500 || r.status === 404) return null;
    const body = await r.json().catch(() => null);
    return body?.error?.startsWith("link_") ? body : null;
  } catch {
    return null;
  }
}

function useLocal(local, { tell = false } = {}) {
  window.hearing.marks.devices ??= performance.now();
  app.local = local;
  if (tell && local.mode !== "full") {
    // No pre-join check to explain it: say what could not be opened and how we joined.
    const why = t(failureKey(local.mode === "audio" ? local.videoError : local.audioError));
    announce(t(local.mode === "audio" ? "camDeniedInRoom" : "allDeniedInRoom", { why }));
    if (local.audioError?.name === "InsecureContextError") showNotice(t("allDeniedInRoom", { why }));
  }
  applyLocalEnabled();
  if (app.selfTile && local.video) app.selfTile.setVideo(local.video);
  if (app.place === "lobby") app.lobby.setVideo(local.video);
  rememberSettings();
  renderControls();
}

window.hearing = {
  app,
  firstFrameAt: null,
  stateLog: ["prejoin"],
  mediaNotices: [],
  stalls: [],
  marks: {},  // ms since navigation start: devices (camera/mic open), joined, connected
  joins: [],
  get state() { return app.state; },
  get pc() { return activeMedia()?.pc ?? null; },
  get ws() { return app.sig?.ws ?? null; },
  get me() { return app.me; },
  get media() { return activeMedia(); },
  /** The private room we are in ({roomId, label, ws, pc, people ids}) or null; `privateLog`: enter/leave moves. */
  get private() {
    const p = app.priv;
    return p ? { roomId: p.roomId, label: p.label, joined: p.joined, ws: p.sig.ws, pc: p.media?.pc ?? null,
      people: [...p.people.keys()], roomState: p.roomState, permissions: p.permissions } : null;
  },
  privateLog: [],
  /** The interpreter channel: {mode: "original"|"interpreted", interpreters: [ids], sent: {id: paused}}. */
  get interpretation() {
    return { mode: app.interp.mode, interpreters: [...app.interp.ids],
      sent: Object.fromEntries(app.interp.sent) };
  },
  /** The last `room-state` ({hearing_id, kind, state, locked, recording}; state "open" outside hearings). */
  get roomState() { return app.roomState; },
  /** The last `permissions` ({place, actions, transitions}). */
  get permissions() { return app.permissions; },
  /** "lobby" | "room" (null before joining). */
  get place() { return app.place; },
  /** Test hook: force the ICE-failure path (a new PeerConnection on the same signalling session). */
  restartMedia: () => activeMedia()?.restart("requested"),
  /** Frames rendered for a participant's video (requestVideoFrameCallback count). */
  framesOf: (pid) => app.tiles.get(pid)?.frames ?? 0,
  counters: () => activeMedia()?.counters() ?? null,
};

main().catch((e) => {
  console.error(e);
  finish("error", () => t("error"), String(e?.message ?? e), { rejoin: true });
});
