// Private rooms (私下调解室, caucus): the court moves some participants out of the main room into a room of their
// own. The main connection stays open (it brings `private-room` leave and the hearing's state); the page opens a
// SECOND signalling connection to the private room with the token from `private-room` enter and runs media there
// on a new PeerConnection, exactly like a normal room. Private rooms are never recorded.
//
// Events (EventTarget):
//   "change"   people, tracks, media state or room-state of the private room changed: re-render
//   "closed"   detail: {code, reason}: the private connection ended (room closed, refused...): back to main
import { t } from "./i18n.js";
import { MediaSession } from "./media.js";
import { Signaling } from "./signaling.js";

export class PrivateSession extends EventTarget {
  /**
   * @param roomId  the private room's id (`private-room` enter)
   * @param label   its label, shown in the banner
   * @param token   the join token for it
   * @param local   the local tracks ({stream, audio, video}); published where the grant allows
   * @param publish may this person publish at all (grant)
   */
  constructor({ roomId, label, token, local, publish, micMuted = false, camMuted = false }) {
    super();
    this.roomId = roomId;
    this.label = label;
    this.local = local;
    this.publish = publish;
    this.micMuted = micMuted;
    this.camMuted = camMuted;
    this.me = null;
    this.people = new Map();
    this.roomState = null;
    this.permissions = null;
    this.speaker = null;
    this.media = null;
    this.joined = false;
    this.closed = false;
    this.sig = new Signaling({ room: roomId, joinToken: token });
    this.sig.addEventListener("status", ({ detail }) => this._onStatus(detail));
    this.sig.addEventListener("message", ({ detail }) => this._onMessage(detail));
  }

  start() { this.sig.start(); }

  /** Leave: the server ends the place itself when it closes the room; this only stops our side. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.sig.stop();
    this.media?.close();
    this.media = null;
    this.people.clear();
    this._changed();
  }

  send(msg) { return this.sig.send(msg); }

  _changed() { this.dispatchEvent(new CustomEvent("change")); }

  _onStatus(detail) {
    if (detail.phase === "joined") return;
    if (detail.phase === "ended" || detail.phase === "error") {
      const wasClosed = this.closed;
      this.close();
      if (!wasClosed) this.dispatchEvent(new CustomEvent("closed", { detail: { code: detail.code, reason: detail.reason } }));
      return;
    }
    this._changed(); // reconnecting: the view says so
  }

  _onMessage(msg) {
    if (this.closed) return;
    if (this.media?.handle(msg)) return;
    switch (msg.type) {
      case "joined":
        this.joined = true;
        this.me = msg.participant;
        this.people = new Map(msg.participants.map((p) => [p.id, p]));
        // The private room's server knows nothing of our mute state: tell it.
        if (this.micMuted) this.sig.send({ type: "mute", kind: "audio", muted: true });
        if (this.camMuted) this.sig.send({ type: "mute", kind: "video", muted: true });
        if (!this.media) this._startMedia(msg.ice_servers);
        else { this.media.setIceServers(msg.ice_servers); this.media.restart("signalling resumed", { settle: false }); }
        break;
      case "participant-joined":
        this.people.set(msg.participant.id, msg.participant);
        break;
      case "participant-left":
        this.people.delete(msg.participant_id);
        this.media?.forget(msg.participant_id);
        break;
      case "participant-connection": {
        const p = this.people.get(msg.participant_id);
        if (p) p.connection = msg.connection;
        break;
      }
      case "mute-state": {
        const p = this.people.get(msg.participant_id);
        if (p) { p.audio_muted = msg.audio_muted; p.video_muted = msg.video_muted; }
        break;
      }
      case "active-speaker": this.speaker = msg.participant_id; break;
      case "room-state": this.roomState = msg; break;
      case "permissions": this.permissions = msg; break;
      case "chat-message": this.dispatchEvent(new CustomEvent("chat", { detail: msg })); break;  // roomtools.js
      default: return;
    }
    this._changed();
  }

  _startMedia(iceServers) {
    const media = new MediaSession({ send: (m) => this.sig.send(m), iceServers, local: this.local,
      publish: this.publish });
    this.media = media;
    media.addEventListener("state", () => this._changed());
    media.addEventListener("tracks", () => this._changed());
    media.addEventListener("ready", () => this.dispatchEvent(new CustomEvent("ready")));
    media.addEventListener("lost", ({ detail }) => {
      this._changed();
      if (this.sig.open) media.restart(detail.reason);
    });
    media.start();
  }

  setMute(kind, muted) {
    if (kind === "audio") this.micMuted = muted; else this.camMuted = muted;
    this.sig.send({ type: "mute", kind, muted });
  }
}

/**
 * The banner over the view while we are in a private room: "私下调解室：<label>", that it is never recorded, and
 * for a moderator a button that closes the room (`button[data-action=close-private]`). `state` null hides it.
 */
export function renderPrivateBanner(node, state) {
  if (!state) {
    node.hidden = true;
    node.replaceChildren();
    return;
  }
  node.hidden = false;
  const title = document.createElement("strong");
  title.className = "pb-title";
  title.textContent = t("privateBanner", { label: state.label || t("privateDefaultLabel") });
  const note = document.createElement("span");
  note.className = "pb-note";
  note.textContent = t("privateNotRecorded");
  const parts = [title, note];
  if (state.canClose) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = "close-private";
    b.className = "danger";
    b.textContent = t("closePrivate");
    parts.push(b);
  }
  node.replaceChildren(...parts);
}
