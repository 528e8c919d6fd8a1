// The staff page's view of the one i18n module (web/js/i18n.js holds every word): the court's vocabulary as the
// staff page lists it (kinds, states, hearing roles, sides), labels by group, local times, and putting the words
// into staff.html. The language is shared with every other page (localStorage["hearing.lang"]).
import { applyI18n, currentLang, label as groupLabel, roleLabel, setLang as useLang, t } from "../i18n.js";

export { currentLang, t };

export const KINDS = ["trial", "mediation", "deliberation", "interview", "async_trial", "arraignment"];
export const STATES = ["scheduled", "lobby_open", "in_session", "recess", "closed", "record_sealed"];
/** Court roles a participant record may hold (hearing/roles.py Role), in the order the picker offers them. */
export const ROLES = ["presiding_judge", "judge", "clerk", "mediator", "plaintiff", "defendant", "counsel", "witness",
  "interpreter", "prosecutor", "detainee", "officer", "observer"];
export const SIDES = ["plaintiff", "defendant", "third_party"];

export function setLang(next) { useLang(next === "en" ? "en" : "zh", { apply: false }); }

/** A label of the court's vocabulary: role (staff roles too), status (a participant's lobby status), or any
 *  group of i18n.js LABELS (kind, state, transition, side, verification, scope, auditCategory...). */
export function label(group, value) {
  if (group === "role") return value === "admin" ? t("roleAdmin") : roleLabel(value);
  return groupLabel(group === "status" ? "participantStatus" : group, value);
}

/** Date and time in the browser's time zone and language. */
export function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

/** The words into every data-i18n / data-i18n-label / data-i18n-lang element; the staff page's own title. */
export function applyStrings(root = document) {
  applyI18n(root);
  document.title = t("staffTitle");
}
