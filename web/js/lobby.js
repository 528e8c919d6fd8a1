// The lobby (候庭区): where parties wait until court staff have checked who they are and let them in. Nothing is
// sent from here (no PeerConnection): the camera is only shown locally, so the person can hold their ID card up
// once the clerk asks for it on video.
import { label, t } from "./i18n.js";
import { isHearing } from "./roomstate.js";

export class Lobby {
  /** @param root the #lobby-view section of join.html */
  constructor(root) {
    this.root = root;
    this.heading = root.querySelector("#lobby-h");
    this.hint = root.querySelector("#lobby-hint");
    this.hearing = root.querySelector("#lobby-hearing");
    this.reason = root.querySelector("#lobby-reason");
    this.locked = root.querySelector("#lobby-locked");
    this.video = root.querySelector("#lobby-self");
    this.track = null;
  }

  /**
   * @param me         the own participant (role decides the words: a witness waits to be called)
   * @param roomState  the last `room-state`, or null
   * @param reason     why we are here again (a `placed` reason), "" on arrival
   * @param back       true when the court sent us back from the room
   * @param video      the local camera track for the self-view, or null
   */
  render({ me, roomState, reason = "", back = false, video = null }) {
    const witness = me?.role === "witness";
    this.root.dataset.role = me?.role ?? "";
    const mediation = roomState?.kind === "mediation"; // a mediator, not a judge, checks who is there
    this.heading.textContent = t(witness ? "lobbyWitness" : mediation ? "lobbyWaitMediation" : "lobbyWait");
    this.hint.textContent = t(witness ? "lobbyWitnessHint" : "lobbyHint");
    const words = isHearing(roomState)
      ? [roomState.kind && label("kind", roomState.kind), label("state", roomState.state)].filter(Boolean) : [];
    this.hearing.textContent = words.join(" · ");
    this.hearing.hidden = words.length === 0;
    const why = back ? (reason ? t("lobbyBackReason", { reason }) : t("lobbyBack")) : "";
    this.reason.textContent = why;
    this.reason.hidden = !why;
    this.locked.hidden = !roomState?.locked;
    this.setVideo(video);
  }

  setVideo(track) {
    if (track === this.track) return;
    this.track = track;
    this.video.srcObject = track ? new MediaStream([track]) : null;
    this.video.hidden = !track;
    if (track) this.video.play().catch(() => {});
  }

  hide() {
    this.root.hidden = true;
    this.setVideo(null);
  }

  show() { this.root.hidden = false; }
}
