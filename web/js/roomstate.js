// The hearing's procedure state and what this participant may do now, as the server says them (`room-state`,
// `permissions`: docs/protocol.md; the rules are hearing/courtroom.py and hearing/policy.py). The UI only
// mirrors them: the server withholds media and refuses actions on its own.
import { label, t } from "./i18n.js";

/** Court staff never wait in the lobby (hearing/courtroom.py STAFF_ROLES). */
export const STAFF_ROLES = ["presiding_judge", "judge", "clerk", "mediator"];

/** Actions that show the court controls. */
export const CONSOLE_ACTIONS = ["admit_deny", "mute_others", "remove", "change_procedure_state"];

/** What `room-state` says for a room that is not a hearing (an ad hoc room). */
export const ADHOC_STATE = "open";

/** Pure helpers (unit-tested). `permissions` is the last `permissions` message, or null before the first. */
export function may(permissions, action) {
  return !!permissions && (permissions.actions ?? []).includes(action);
}

export function hasConsole(permissions) {
  return CONSOLE_ACTIONS.some((a) => may(permissions, a));
}

/** May this participant send `kind` (audio|video) now? No permissions yet = no restriction known. */
export function mayPublish(permissions, kind) {
  return !permissions || may(permissions, kind === "audio" ? "publish_audio" : "publish_video");
}

export function isHearing(roomState) {
  return !!roomState && roomState.state !== ADHOC_STATE;
}

/** Call rooms (signaling/call_room.py): a connect-a-judge call and a petition's video call. */
export const CALL_KINDS = new Set(["call", "petition_call"]);

/** Exhibits and the transcript belong to hearings; a call room shows the banner only. */
export function hasCourtPanels(roomState) {
  return isHearing(roomState) && !CALL_KINDS.has(roomState.kind);
}

/** The i18n key (and vars) saying why this participant may not speak now. */
export function silencedReason(roomState) {
  const state = roomState?.state;
  if (state === "recess") return ["noSpeakRecess", {}];
  if (state && state !== ADHOC_STATE) return ["noSpeakState", { state: label("state", state) }];
  return ["noSpeakNow", {}];
}

/** The words next to the microphone/camera buttons: why they are off (the procedure, or the court's mute). */
export function mediaNotes({ publisher, canAudio, canVideo, roomState, mutedByCourt, micMuted, camMuted }) {
  const notes = [];
  if (publisher && (!canAudio || !canVideo)) {
    const [key, vars] = silencedReason(roomState);
    notes.push(t(key, vars));
  }
  if (mutedByCourt.audio && micMuted) notes.push(t("mutedByCourt"));
  if (mutedByCourt.video && camMuted) notes.push(t("camOffByCourt"));
  return notes.join(" · ");
}

const span = (cls, text) => {
  const e = document.createElement("span");
  e.className = cls;
  e.textContent = text;
  return e;
};

/** The header banner: kind, procedure state, "● Recording", "Locked". Hidden outside hearings. */
export function renderBanner(node, roomState) {
  if (!isHearing(roomState)) {
    node.hidden = true;
    node.removeAttribute("data-state");
    node.replaceChildren();
    return;
  }
  node.hidden = false;
  node.dataset.state = roomState.state;
  node.dataset.recording = String(!!roomState.recording);
  node.dataset.locked = String(!!roomState.locked);
  const parts = [];
  if (roomState.kind) parts.push(span("rb-kind", label("kind", roomState.kind)));
  const st = span("rb-state", label("state", roomState.state));
  st.dataset.state = roomState.state;
  parts.push(st);
  if (roomState.recording) parts.push(span("rb-rec", t("bannerRecording")));
  if (roomState.locked) parts.push(span("rb-lock", t("bannerLocked")));
  node.replaceChildren(...parts);
}
