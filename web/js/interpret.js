// The interpreter channel (翻译声道): the interpreter publishes their own audio; each listener chooses to hear the
// original sound only ("original": the server stops forwarding the interpreter's audio to us, `subscription`
// {publisher_id, kind: "audio", paused: true}) or the interpretation on top ("interpreted": forwarded, and everyone
// else's audio lowered). The choice is this browser's (localStorage), not the server's. Pure helpers: unit-tested.
export const MODES = ["original", "interpreted"];
export const DEFAULT_MODE = "interpreted"; // what the server does anyway: everyone's audio is forwarded
export const DUCKED_VOLUME = 0.3;
const KEY = "hearing.interpretation";

/** The interpreters among the people present (not ourselves, not those waiting in the lobby). */
export function interpreterIds(people, meId = null) {
  return people.filter((p) => p.role === "interpreter" && p.id !== meId && p.place !== "lobby").map((p) => p.id);
}

/** The `subscription` messages that make the server forward (or not) each interpreter's audio for `mode`. */
export function subscriptionsFor(mode, ids) {
  return ids.map((id) => ({ type: "subscription", publisher_id: id, kind: "audio", paused: mode === "original" }));
}

/** The playback volume of a participant's audio element in `mode` (interpreters are never lowered). */
export function volumeFor(mode, participant, interpreterPresent) {
  if (mode !== "interpreted" || !interpreterPresent || participant?.role === "interpreter") return 1;
  return DUCKED_VOLUME;
}

export function normaliseMode(value) {
  return MODES.includes(value) ? value : DEFAULT_MODE;
}

export function loadMode(storage = globalThis.localStorage) {
  try { return normaliseMode(storage?.getItem(KEY)); } catch { return DEFAULT_MODE; }
}

export function saveMode(mode, storage = globalThis.localStorage) {
  try { storage?.setItem(KEY, normaliseMode(mode)); } catch { /* storage disabled */ }
}

/**
 * What must be sent to reach `mode` given what was sent on this PeerConnection (`sent`: Map id -> paused).
 * Returns the messages and updates `sent`. An interpreter with nothing sent yet is forwarded (server default),
 * so in "interpreted" mode nothing needs saying for them.
 */
export function pendingSubscriptions(mode, ids, sent) {
  const out = [];
  for (const msg of subscriptionsFor(mode, ids)) {
    const was = sent.has(msg.publisher_id) ? sent.get(msg.publisher_id) : false;
    if (was !== msg.paused) out.push(msg);
    sent.set(msg.publisher_id, msg.paused);
  }
  return out;
}
