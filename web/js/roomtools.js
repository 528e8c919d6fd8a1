// The room tools people know from video meetings (issue 15 item 5), put together for the room page: raise hand
// (hand.js), chat on the record (chat.js, inside the transcript panel), screen sharing (screenshare.js), device
// switching (devicemenu.js), mute all and admit all for the clerk, pin/spotlight, the elapsed-time clock and full
// screen (stagetools.js). app.js hands it its messages (`handle`) and asks it what the stage shows (`layout`).
import { ChatPanel } from "./chat.js";
import { DeviceMenu } from "./devicemenu.js";
import { HandQueue } from "./hand.js";
import { t } from "./i18n.js";
import { ScreenShare } from "./screenshare.js";
import { StageTools } from "./stagetools.js";

const OWN_TYPES = new Set(["hands", "chat-message", "chat-history", "screen-shared", "spotlighted",
  "admit-all-result"]);

const el = (tag, attrs = {}, text = null) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
};

export class RoomTools {
  /**
   * @param app     the page's state (me, people, permissions, roomState, place, priv, local, media)
   * @param send    (msg) => boolean on the main connection
   * @param notice  (text) => void
   * @param rerender () => void: the page lays the people out again
   * @param showTranscript () => void: open the transcript panel (the chat lives there)
   */
  constructor({ app, send, notice, rerender, showTranscript, onDeviceSwitched }) {
    this.app = app;
    this.sendMain = send;
    this.notice = notice;
    this.rerender = rerender;
    this.showTranscript = showTranscript;
    const sendHere = (m) => (app.place === "private" && app.priv ? app.priv.send(m) : send(m));
    this.hand = new HandQueue({ send });
    this.chat = new ChatPanel({ send: sendHere, onUnsent: () => notice(t("notConnected")) });
    this.screen = new ScreenShare({ send, media: () => app.media, onError: (e) => {
      if (e?.name !== "NotAllowedError") notice(t("screenFailed"));
    } });
    this.screen.addEventListener("change", () => this.render());
    this.devices = new DeviceMenu({ local: () => app.local, medias: () => [app.media, app.priv?.media],
      onSwitched: (kind, track) => { onDeviceSwitched?.(kind, track); announceSwitch(kind); },
      onError: () => notice(t("deviceSwitchFailed")) });
    const announceSwitch = (kind) => notice(t(kind === "video" ? "cameraSwitched" : "micSwitched"));
    this.stage = new StageTools({ t, onChange: () => { this.rerender(); this.render(); } });
    // The controls: in the bottom bar only what is used often (hand, screen) and "more", a menu with the
    // rest (chat, devices, spotlight, mute all, admit all, full screen), so the bar never wraps on a 1024x600 screen.
    this.bar = el("div", { id: "roomtools", class: "group", role: "group" });
    this.shareButton = el("button", { id: "share-screen", type: "button", "aria-pressed": "false" });
    this.shareButton.onclick = () => (this.screen.sharing ? this.screen.stop() : this.screen.start());
    this.moreButton = el("button", { id: "more-tools", type: "button", "aria-expanded": "false",
      "aria-controls": "more-menu" });
    this.more = el("div", { id: "more-menu", role: "group", hidden: "" });
    this.moreButton.onclick = () => this.toggleMore();
    this.chatButton = el("button", { id: "chat-toggle", type: "button" });
    this.chatButton.onclick = () => { this.toggleMore(false); this.showTranscript(); this.chat.text.focus(); };
    this.muteAll = el("button", { id: "mute-all", type: "button" });
    this.muteAll.onclick = () => send({ type: "mute-all", kind: "audio" });  // each unmutes themselves when asked
    this.admitAll = el("button", { id: "admit-all", type: "button" });
    this.admitAll.onclick = () => send({ type: "admit-all" });
    const buttons = el("div", { class: "more-buttons" });
    buttons.append(this.chatButton, this.stage.spotlightButton, this.muteAll, this.admitAll, this.stage.fullscreen);
    this.more.append(buttons, this.devices.menu);
    this.bar.append(this.hand.button, this.shareButton, this.moreButton);
    this.screenTile = el("figure", { class: "tile screen", "data-screen-for": "" });
    this.screenVideo = el("video", { autoplay: "", playsinline: "" });
    this.screenVideo.muted = true;
    this.screenCaption = el("figcaption");
    this.screenTile.append(this.screenVideo, this.screenCaption);
    this.screenTrack = null;
  }

  /** Put the tools in the page (once). */
  mount({ controls, room, transcript, stage, strip, banner }) {
    banner?.after(this.stage.clock);  // the elapsed time sits with the hearing's state, at the top
    controls.querySelector(".group")?.after(this.bar);
    controls.after(this.more);
    room.prepend(this.hand.panel);
    transcript.append(this.chat.root);
    this.stage.wire(stage, strip);
  }

  attachMedia(media) { this.screen.attach(media); }

  toggleMore(open = this.more.hidden) {
    this.more.hidden = !open;
    this.moreButton.setAttribute("aria-expanded", String(open));
    if (open) this.devices.fill();
  }

  attachPrivate(priv) {
    priv.addEventListener("chat", ({ detail }) => { this.chat.onMessage(detail); this.render(); });
    this.chat.setPrivate(true);
    this.screen.stop(); // nothing of ours reaches the main room meanwhile
  }

  /** A main-room message: true when it was one of ours (consumed); room-state etc. are observed, not consumed. */
  handle(msg) {
    if (msg.type === "room-state") this.stage.onRoomState(msg);
    if (msg.type === "participant-left") this.hand.forget(msg.participant_id);
    if (msg.type === "error" && this.screen.sharing
        && (msg.reason === "screen_in_use" || msg.params?.action === "share_screen")) this.screen.stop();
    if (!OWN_TYPES.has(msg.type)) return false;
    switch (msg.type) {
      case "hands": this.hand.onHands(msg); break;
      case "chat-history": this.chat.onHistory(msg); break;
      case "chat-message": this.chat.onMessage(msg); break;
      case "screen-shared":
        this.screen.onShared(msg, this.app.me?.id);
        this.rerender();
        break;
      case "spotlighted": this.stage.onSpotlight(msg); this.rerender(); break;
      case "admit-all-result":
        this.notice(t("admitAllResult", { admitted: msg.admitted, unchecked: msg.unchecked, witnesses: msg.witnesses }));
        break;
      default: break;
    }
    this.render();
    return true;
  }

  /** The stage's focus and screen for room.js's layout. */
  layout(present) {
    const sharer = this.screen.sharer;
    const track = sharer ? this.app.media?.remoteTracks.get(sharer.participant_id)?.screen ?? null : null;
    const mine = sharer?.participant_id === this.app.me?.id ? this.screen.track : null;
    const shown = track ?? mine;
    if (shown !== this.screenTrack) {
      this.screenTrack = shown;
      this.screenVideo.srcObject = shown ? new MediaStream([shown]) : null;
      if (shown) this.screenVideo.play().catch(() => {});
    }
    if (shown) {
      const p = mine ? this.app.me : this.app.people.get(sharer.participant_id);
      this.screenTile.dataset.screenFor = sharer.participant_id;
      this.screenCaption.textContent = t("screenOf", { name: p?.name ?? "" });
    }
    return { focus: this.stage.focus(present), screen: shown && this.app.place === "room" ? this.screenTile : null };
  }

  render() {
    const app = this.app;
    const inPrivate = app.place === "private";
    this.chat.setPrivate(inPrivate);
    const actions = (inPrivate ? app.priv?.permissions?.actions : app.place === "room" ? app.permissions?.actions : null)
      ?? [];
    const people = inPrivate ? app.priv?.people ?? new Map() : app.people;
    const inRoom = app.place === "room";
    this.bar.hidden = !app.me || app.place === "lobby";
    this.hand.render({ me: app.me, people, actions: inRoom ? actions : [] });
    this.chat.render({ actions });
    const mayShare = inRoom && actions.includes("share_screen");
    this.shareButton.hidden = !mayShare && !this.screen.sharing;
    this.shareButton.textContent = t(this.screen.sharing ? "screenStop" : "screenStart");
    this.shareButton.setAttribute("aria-pressed", String(this.screen.sharing));
    this.shareButton.disabled = !this.screen.sharing && !!this.screen.sharer;
    this.chatButton.hidden = !actions.includes("chat") && this.chat.entries.length === 0;
    this.chatButton.textContent = t("chatButton");
    this.muteAll.hidden = !inRoom || !actions.includes("mute_others");
    this.muteAll.textContent = t("muteAll");
    this.admitAll.hidden = !inRoom || !actions.includes("admit_deny");
    this.admitAll.textContent = t("admitAll");
    this.devices.render({ publisher: (app.claims?.grants ?? []).includes("publish") });
    this.moreButton.textContent = t("moreTools");
    document.body.style.setProperty("--hand-label", JSON.stringify(t("handBadge")));
    this.stage.render({ mayGiveFloor: inRoom && actions.includes("give_floor"), send: this.sendMain });
    this.bar.setAttribute("aria-label", t("roomTools"));
    for (const tile of document.querySelectorAll("[data-tile-for]")) {  // a raised hand shows on the tile too
      const id = tile.dataset.tileFor === "self" ? app.me?.id : tile.dataset.tileFor;
      tile.classList.toggle("hand-raised", this.hand.queue.includes(id));
      tile.classList.toggle("pinned", !!id && id === this.stage.pinned);
    }
  }
}
