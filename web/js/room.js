// The room view: one tile per person (video, name, role, mute/speaking badges), the layout that keeps the
// judge or mediator large, the roster for screen readers, and the connection-quality indicator.
import { roleLabel, t } from "./i18n.js";
import { formatBitrate, formatLoss, formatRtt } from "./quality.js";

/** Roles shown large: whoever runs the hearing. Order = precedence on the stage. */
export const PROMINENT_ROLES = ["presiding_judge", "judge", "mediator"];

/** Who goes on the stage (large) and who in the strip. Pure: unit-tested. */
export function arrange(remotes) {
  const rank = (p) => PROMINENT_ROLES.indexOf(p.role);
  const prominent = remotes.filter((p) => rank(p) >= 0).sort((a, b) => rank(a) - rank(b));
  if (prominent.length > 0) {
    return { stage: prominent.map((p) => p.id), strip: remotes.filter((p) => rank(p) < 0).map((p) => p.id) };
  }
  return { stage: remotes.map((p) => p.id), strip: [] };
}

const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};

export class Tile {
  constructor(participant, { self = false, audioSink = null, onFrame = null, onAutoplayBlocked = null } = {}) {
    this.id = participant.id;
    this.self = self;
    this.frames = 0;
    this.videoTrack = null;
    this.audioTrack = null;
    this.onAutoplayBlocked = onAutoplayBlocked;
    this.root = el("figure", `tile${self ? " self" : ""}`);
    this.root.dataset.tileFor = self ? "self" : participant.id;
    this.video = el("video");
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true; // sound goes through the <audio> element, which audio-only mode leaves alone
    if (self) this.video.id = "self-video";
    this.avatar = el("div", "avatar");
    this.avatar.setAttribute("aria-hidden", "true");
    this.caption = el("figcaption");
    this.nameEl = el("span", "name");
    this.roleEl = el("span", "role");
    this.badges = el("span", "badges");
    this.caption.append(this.nameEl, this.roleEl, this.badges);
    this.root.append(this.video, this.avatar, this.caption);
    if (!self) {
      this.audio = el("audio");
      this.audio.autoplay = true;
      this.audio.dataset.participantId = participant.id;
      audioSink?.append(this.audio);
    }
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      const tick = (now) => {
        this.frames += 1;
        onFrame?.(this, now);
        this.video.requestVideoFrameCallback(tick);
      };
      this.video.requestVideoFrameCallback(tick);
    }
    this.update(participant, {});
  }

  update(p, { speaking = false, audioMuted = p.audio_muted, videoMuted = p.video_muted } = {}) {
    this.participant = p;
    const role = roleLabel(p.role);
    if (!this.self) {
      this.video.dataset.participantId = p.id;
      this.video.dataset.role = p.role;
    }
    this.root.dataset.role = p.role;
    this.nameEl.textContent = this.self ? `${p.name}${t("youSuffix")}` : p.name;
    this.roleEl.textContent = role;
    this.avatar.textContent = (p.name || "?").trim().slice(0, 1);
    this.video.setAttribute("aria-label", `${p.name}（${role}）`);
    const badges = [];
    if (audioMuted) badges.push(["mic-off", t("micOff")]);
    if (videoMuted) badges.push(["cam-off", t("camOff")]);
    if (speaking) badges.push(["speaking", t("speaking")]);
    if (p.connection === "reconnecting") badges.push(["away", t("away")]);
    if (p.place === "private") badges.push(["private", t("inPrivate")]);
    this.badges.replaceChildren(...badges.map(([cls, text]) => el("span", `badge ${cls}`, text)));
    this.root.classList.toggle("speaking", speaking);
    this.root.classList.toggle("away", p.connection === "reconnecting");
    this.root.classList.toggle("in-private", p.place === "private");
    this.root.dataset.place = p.place ?? "room";
    this.root.classList.toggle("no-video", !this.videoTrack || !!videoMuted);
  }

  setVideo(track) {
    if (this.videoTrack === track) return;
    this.videoTrack = track;
    this.video.srcObject = track ? new MediaStream([track]) : null;
    if (track) this.video.play().catch(() => {});
    this.root.classList.toggle("no-video", !track || !!this.participant?.video_muted);
  }

  resume() {
    if (this.video.srcObject && this.video.paused && this.root.isConnected) this.video.play().catch(() => {});
  }

  setAudio(track) {
    if (!this.audio || this.audioTrack === track) return;
    this.audioTrack = track;
    this.audio.srcObject = track ? new MediaStream([track]) : null;
    if (track) this.playAudio();
  }

  playAudio() {
    if (!this.audio?.srcObject) return;
    this.audio.play().catch((e) => { if (e?.name === "NotAllowedError") this.onAutoplayBlocked?.(); });
  }

  remove() {
    this.video.srcObject = null;
    this.root.remove();
    if (this.audio) { this.audio.srcObject = null; this.audio.remove(); }
  }
}

/** Put tiles where `arrange` says; the own preview always sits in the strip. A shared screen (`screen`, an
 *  element) or a pinned/spotlit participant (`focus`, an id: stagetools.js) takes the stage alone. */
export function layout({ stage, strip, tiles, selfTile, remotes, waiting, focus = null, screen = null }) {
  let { stage: onStage, strip: inStrip } = arrange(remotes);
  if (screen || (focus && tiles.has(focus))) {
    const all = [...onStage, ...inStrip];
    onStage = screen ? [] : [focus];
    inStrip = all.filter((id) => !onStage.includes(id));
  }
  const stageEls = onStage.map((id) => tiles.get(id)?.root).filter(Boolean);
  if (screen) stageEls.unshift(screen);
  if (stageEls.length === 0) stageEls.push(waiting);
  const stripEls = inStrip.map((id) => tiles.get(id)?.root).filter(Boolean);
  if (selfTile) stripEls.unshift(selfTile.root);
  syncChildren(stage, stageEls);
  syncChildren(strip, stripEls);
  // Moving a <video> in the DOM pauses it (HTML: removal pauses, autoplay does not resume): play again.
  for (const tile of [...tiles.values(), selfTile]) tile?.resume();
  const shown = onStage.length + (screen ? 1 : 0);
  stage.dataset.count = String(shown);
  stage.style.setProperty("--cols", String(Math.max(1, Math.ceil(Math.sqrt(shown)))));
}

/** Reorder children with as few moves as possible (moving a playing <video> can hiccup it). */
function syncChildren(parent, wanted) {
  for (const child of [...parent.children]) if (!wanted.includes(child)) child.remove();
  wanted.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] ?? null);
  });
}

export function renderRoster(ul, people, me) {
  const items = [];
  for (const p of [me, ...people].filter(Boolean)) {
    const li = el("li");
    li.dataset.participantId = p.id;
    li.dataset.role = p.role;
    const flags = [];
    if (p.audio_muted) flags.push(t("micOff"));
    if (p.video_muted) flags.push(t("camOff"));
    if (p.connection === "reconnecting") flags.push(t("away"));
    if (p.place === "private") flags.push(t("inPrivate"));
    const who = p === me ? `${p.name}${t("youSuffix")}` : p.name;
    li.textContent = `${who}（${roleLabel(p.role)}）${flags.length ? " — " + flags.join("，") : ""}`;
    items.push(li);
  }
  ul.replaceChildren(...items);
}

export function renderQuality(node, summary) {
  if (!summary) {
    node.dataset.level = "unknown";
    node.querySelector(".q-text").textContent = t("qualityUnknown");
    return;
  }
  const verdicts = { good: t("qGood"), fair: t("qFair"), poor: t("qPoor") };
  node.dataset.level = summary.level;
  node.querySelector(".q-text").textContent = t("qualityLine", {
    verdict: verdicts[summary.level], rtt: formatRtt(summary.rtt), loss: formatLoss(summary.loss),
    bw: formatBitrate(summary.bitrate),
  });
}
