// The join link: `/join#token=JWT[&skipcheck=1][&lang=en]`. The token is read once, kept in this tab's
// sessionStorage (so a reload still works) and removed from the address bar (history, screenshots, shoulders).
const KEY = "hearing.link";
const RESUME_KEY = "hearing.resume";

/** Decode a JWT's payload without verifying it (the server verifies); null when it is not a JWT. */
export function decodeJwt(token) {
  try {
    const part = token.split(".")[1];
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const payload = JSON.parse(new TextDecoder().decode(bytes));
    return payload && typeof payload === "object" ? payload : null;
  } catch {
    return null;
  }
}

/**
 * Read the link from the fragment (preferred) or from sessionStorage, then scrub the fragment.
 * Returns {token, claims, skipCheck, lang} (token null when there is none).
 */
export function readLink(loc = window.location, storage = window.sessionStorage, history = window.history) {
  const params = new URLSearchParams(loc.hash.replace(/^#/, ""));
  let link = null;
  if (params.get("token")) {
    link = { token: params.get("token"), skipCheck: params.get("skipcheck") === "1", lang: params.get("lang") };
    try {
      const old = JSON.parse(storage.getItem(KEY) || "null");
      if (!old || old.token !== link.token) storage.removeItem(RESUME_KEY); // another person's or room's link
      storage.setItem(KEY, JSON.stringify({ token: link.token, skipCheck: link.skipCheck }));
    } catch { /* storage disabled: the link still works until reload */ }
  } else {
    try { link = JSON.parse(storage.getItem(KEY) || "null"); } catch { link = null; }
  }
  if (loc.hash) history.replaceState(history.state, "", loc.pathname + loc.search);
  if (!link?.token) return { token: null, claims: null, skipCheck: false, lang: params.get("lang") };
  return { token: link.token, claims: decodeJwt(link.token), skipCheck: !!link.skipCheck, lang: link.lang ?? null };
}

export function saveResume(value) {
  try {
    if (value) sessionStorage.setItem(RESUME_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(RESUME_KEY);
  } catch { /* storage disabled */ }
}

/** {token, graceMs, savedAt} from an earlier page load of this tab, if any. */
export function loadResume() {
  try { return JSON.parse(sessionStorage.getItem(RESUME_KEY) || "null"); } catch { return null; }
}
