// The audit log for admins (GET /api/audit): newest first, filtered by category (the action's prefix), by who
// acted (a staff account, by name) and by UTC day; "older entries" pages on with the server's cursor. Entries show
// names and words, never ids: the server names actors and subjects, details holding ids are left out.
import { api } from "./api.js";
import { $, h, shownId } from "./dom.js";
import { label, localTime, t } from "./vocab.js";
import { LABELS, currentLang } from "../i18n.js";

const state = { entries: [], next: null, filters: {}, staff: [] };

function fillFilters() {
  const cat = $("audit-category");
  const keepCat = cat.value;
  const categories = Object.keys(LABELS.auditCategory.zh);
  cat.replaceChildren(h("option", { value: "" }, t("any")),
    ...categories.map((c) => h("option", { value: `${c}.` }, label("auditCategory", c))));
  cat.value = keepCat;
  const actor = $("audit-actor");
  const keepActor = actor.value;
  actor.replaceChildren(h("option", { value: "" }, t("any")),
    ...state.staff.map((s) => h("option", { value: s.id }, s.display_name)));
  actor.value = keepActor;
}

export async function loadAudit(ctx) {
  state.staff = await api.staffNames();
  fillFilters();
  await search(ctx);
}

function actionText(action) {
  const words = LABELS.auditAction[currentLang()]?.[action];
  if (words) return words;
  const category = action.split(".")[0];
  return label("auditCategory", category) || action;
}

function subjectText(e) {
  const kind = e.subject_kind ? label("subjectKind", e.subject_kind) : "";
  return [kind, e.subject_label].filter(Boolean).join(" · ") || "—";
}

const SHOWN = { kind: "kind", role: "role", transition: "transition", from: "state", to: "state", side: "side",
  scope: "scope" };

function detailsText(details) {
  const parts = [];
  for (const [key, value] of Object.entries(details || {})) {
    const name = LABELS.auditDetail[currentLang()]?.[key];
    if (!name || value === null || typeof value === "object") continue; // ids, lists of ids: not for people
    let shown = value;
    if (typeof value === "boolean") shown = value ? t("yes") : t("no");
    else if (SHOWN[key]) shown = label(SHOWN[key], value);
    else shown = shownId(value);
    if (shown === "—") continue;
    parts.push(`${name}：${shown}`);
  }
  return parts.join("；");
}

function render() {
  const rows = state.entries.map((e) => h("tr", { dataset: { seq: e.seq, action: e.action } },
    h("td", {}, localTime(e.at)),
    h("td", {}, e.actor_name ?? (e.actor_role === "system" ? t("auSystem") : t("unknownPerson"))),
    h("td", {}, actionText(e.action)),
    h("td", {}, subjectText(e)),
    h("td", {}, detailsText(e.details)),
  ));
  $("audit-table").querySelector("tbody").replaceChildren(...rows);
  $("audit-count").textContent = state.entries.length
    ? `${t("auShown", { n: state.entries.length })}${state.next ? "" : ` ${t("auEnd")}`}` : t("auNone");
  $("audit-more").hidden = !state.next;
}

async function search(ctx, more = false) {
  $("audit-error").textContent = "";
  if (!more) {
    state.filters = { action: $("audit-category").value, actor_id: $("audit-actor").value,
      since: $("audit-since").value, until: $("audit-until").value };
  }
  try {
    const page = await api.audit({ ...state.filters, before_seq: more ? state.next : "", limit: 50 });
    state.entries = more ? [...state.entries, ...page.entries] : page.entries;
    state.next = page.next_before_seq;
  } catch (err) {
    if (err.status === 401) throw err;
    $("audit-error").textContent = ctx.errorText(err);
    if (!more) state.entries = [];
  }
  render();
  document.getElementById("audit-view").dataset.loaded = String(Date.now());
}

export function wireAudit(ctx) {
  $("audit-form").addEventListener("submit", (e) => { e.preventDefault(); search(ctx); });
  $("audit-more").onclick = () => search(ctx, true);
}
