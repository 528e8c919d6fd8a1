// The court staff's single-page app on the staff API: login, hearing list, hearing detail (participants, join links,
// procedure), case and hearing creation, statistics. Views are sections of staff.html; `document.body.dataset.view`
// names the one shown (tests wait on it). Nothing is kept in the browser's storage except the language: the session
// is the HttpOnly cookie, join links are shown once and forgotten when the detail view is left.
import { lobbyIds, shownStatus } from "./presence.js";
import { api, ApiError, setUnauthorizedHandler } from "./api.js";
import { errorText as serverErrorText } from "../i18n.js";
import { loadRecording, renderRecording, stopPlayback } from "./recording.js";
import { renderCallStats } from "./calls.js";
import { $, h, shownId } from "./dom.js";
import { loadAudit, wireAudit } from "./audit.js";
import { forgetTools, loadAgencies, loadLinks, wireTools } from "./tools.js";
import {
  applyStrings, currentLang, KINDS, label, localTime, ROLES, setLang, SIDES, STATES, t,
} from "./vocab.js";

/** Seats only their holders obtain (hearing.staff_auth.STAFF_SEATS): no "issue link" for them here. */
const STAFF_SEATS = new Set(["presiding_judge", "judge", "clerk", "mediator"]);


const app = {
  me: null,
  view: "loading",
  persons: new Map(), // person id → {id, name}: registered in this session, or looked up (names only)
  known: [], // person ids registered in this session, in order (for the case and panel pickers)
  cases: [],
  hearings: [],
  detail: null,
  stats: null,
  panelOrder: [],
  courtStaff: [], // the court's staff with a register person, by name (GET /api/court-staff): judges for the panel
};

function may(permission) { return !!app.me?.permissions.includes(permission); }

function errorText(err) {
  if (!(err instanceof ApiError)) return String(err?.message || err);
  if (err.status === 0) return t("networkError");
  if (err.status === 423 && err.body.locked_until) return t("lockedUntil", { t: localTime(err.body.locked_until) });
  // The code's translation (js/i18n.js), never the server's English sentence.
  return serverErrorText(err.body?.error ? err.body : { error: "unknown_code", code: err.status });
}

function notice(text) {
  $("notice-text").textContent = text;
  $("notice").hidden = !text;
}

function showError(id, err) { $(id).textContent = err ? errorText(err) : ""; }

// ---- views --------------------------------------------------------------------------------------------------------

const VIEWS = ["login", "hearings", "detail", "create", "dashboard", "links", "agencies", "audit"];
/** Views shown only with a permission (the API checks it again). */
const VIEW_PERMISSION = { create: "register.write", dashboard: "stats.view", links: "register.write",
  agencies: "register.write", audit: "audit.read" };

function show(view) {
  app.view = view;
  for (const v of VIEWS) $(`${v}-view`).hidden = v !== view;
  const inside = view !== "login" && view !== "loading";
  $("nav").hidden = !inside;
  $("logout").hidden = !inside;
  for (const b of document.querySelectorAll("[data-nav]")) {
    b.setAttribute("aria-current", String(b.dataset.nav === view));
    const needs = VIEW_PERMISSION[b.dataset.nav];
    b.hidden = !!needs && !may(needs);
  }
  forgetTools();
  if (view !== "detail") {
    forgetLink();
    stopPlayback();
  }
  document.body.dataset.view = view;
}

async function go(view, arg) {
  notice("");
  try {
    if (view === "hearings") await loadHearings();
    else if (view === "detail") await loadDetail(arg);
    else if (view === "create") await loadCreate();
    else if (view === "dashboard") await loadStats();
    else if (view === "links") await loadLinks(tools());
    else if (view === "agencies") await loadAgencies(tools());
    else if (view === "audit") await loadAudit(tools());
    show(view);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // the login form is already shown
    show(view);
    notice(errorText(err));
  }
}

// ---- login --------------------------------------------------------------------------------------------------------

function toLogin(reason) {
  app.me = null;
  app.detail = null;
  app.stats = null;
  app.persons.clear(); // the next person to log in here starts afresh
  app.known = [];
  app.cases = [];
  app.panelOrder = [];
  $("whoami").textContent = "";
  $("login-error").textContent = reason || "";
  $("login-pass").value = "";
  show("login");
  $("login-user").focus();
}

function enter(me) {
  app.me = me;
  const roles = me.roles.map((r) => label("role", r)).join("、");
  $("whoami").textContent = t("loggedInAs", { name: me.display_name, roles });
  if (me.person_id && !app.persons.has(me.person_id)) {
    app.persons.set(me.person_id, { id: me.person_id, name: me.display_name });
  }
  return go("hearings");
}

async function onLogin(event) {
  event.preventDefault();
  const button = $("login-submit");
  button.disabled = true;
  $("login-error").textContent = t("loggingIn");
  try {
    const answer = await api.login($("login-user").value.trim(), $("login-pass").value);
    $("login-pass").value = "";
    $("login-error").textContent = "";
    await enter(answer.staff); // the token in the answer is not kept: the cookie carries the session
  } catch (err) {
    $("login-error").textContent = errorText(err);
    $("login-pass").select();
  } finally {
    button.disabled = false;
  }
}

async function onLogout() {
  try { await api.logout(); } catch { /* the session is gone either way */ }
  toLogin("");
}

// ---- names --------------------------------------------------------------------------------------------------------

async function resolveNames(ids) {
  if (!may("register.read")) return;
  const missing = [...new Set(ids)].filter((id) => id && !app.persons.has(id));
  await Promise.all(missing.map(async (id) => {
    try {
      const p = await api.person(id);
      app.persons.set(id, { id, name: p.name });
    } catch (err) {
      if (err.status === 401) throw err;
    }
  }));
}

function nameOf(id) {
  if (app.me?.person_id === id) return `${app.me.display_name}（${t("me")}）`;
  return app.persons.get(id)?.name ?? courtStaffName(id) ?? t("unknownPerson");
}

function courtStaffName(personId) { return app.courtStaff.find((s) => s.person_id === personId)?.display_name; }

async function loadCourtStaff() {
  if (may("register.read")) app.courtStaff = await api.courtStaff();
}

async function loadCases() {
  if (may("register.read")) app.cases = await api.cases();
}

function caseNumber(caseId) {
  return app.cases.find((c) => c.id === caseId)?.case_number
    ?? [...app.hearings, app.detail].find((x) => x?.case_id === caseId)?.case_number ?? "—";
}

// ---- hearing list -------------------------------------------------------------------------------------------------

function fillSelect(select, values, group, withAny) {
  const keep = select.value;
  select.replaceChildren(
    ...(withAny ? [h("option", { value: "" }, t("any"))] : []),
    ...values.map((v) => h("option", { value: v }, label(group, v))),
  );
  if (keep && [...select.options].some((o) => o.value === keep)) select.value = keep;
}

async function loadHearings() {
  const filters = { state: $("filter-state").value, kind: $("filter-kind").value };
  const [hearings] = await Promise.all([api.hearings(filters), loadCases(), loadCourtStaff()]);
  app.hearings = hearings;
  renderHearings();
}

function renderHearings() {
  fillSelect($("filter-state"), STATES, "state", true);
  fillSelect($("filter-kind"), KINDS, "kind", true);
  const rows = app.hearings.map((hr) => h("tr", { dataset: { hearingId: hr.id, state: hr.state } },
    h("td", {}, caseNumber(hr.case_id)),
    h("td", {}, label("kind", hr.kind)),
    h("td", {}, t("scheduled", { start: localTime(hr.scheduled_start), end: localTime(hr.scheduled_end) })),
    h("td", { class: `state state-${hr.state}` }, label("state", hr.state)),
    h("td", {}, hr.room_id ? shownId(hr.room_id) === "—" ? t("roomAssigned") : hr.room_id : "—"),
    h("td", {}, h("button", { type: "button", class: "open-hearing", onclick: () => go("detail", hr.id) }, t("open"))),
  ));
  $("hearing-table").querySelector("tbody").replaceChildren(...rows);
  $("no-hearings").hidden = app.hearings.length > 0;
}

// ---- hearing detail -----------------------------------------------------------------------------------------------

async function loadDetail(id) {
  const detail = await api.hearing(id);
  if (!app.cases.length) await loadCases();
  const partyIds = app.cases.find((c) => c.id === detail.case_id)?.parties.map((p) => p.person_id) ?? [];
  await resolveNames([...detail.panel, ...detail.participants.map((p) => p.person_id), ...partyIds]);
  if (app.detail?.id !== id) forgetLink();
  await loadRecording(id);
  if (!app.hearings.some((x) => x.id === detail.id)) app.hearings = [...app.hearings, detail];
  app.live = await api.liveRecording(id).catch((err) => (err.status === 401 ? Promise.reject(err) : null));
  app.inLobby = await lobbyIds(detail);
  app.detail = detail;
  renderDetail();
}

function renderDetail() {
  const d = app.detail;
  if (!d) return;
  $("detail-h").textContent = `${caseNumber(d.case_id)} · ${label("kind", d.kind)}`;
  $("detail-meta").textContent = [
    t("scheduled", { start: localTime(d.scheduled_start), end: localTime(d.scheduled_end) }),
    label("state", d.state),
    `${t("colRoom")}: ${d.room_id ? shownId(d.room_id) === "—" ? t("roomAssigned") : d.room_id : "—"}`,
    `${t("recorded")}: ${d.recorded ? t("yes") : t("no")}`,
  ].join(" · ");
  $("detail-h").closest("section").dataset.state = d.state;
  $("detail-panel").textContent = d.panel.length ? `${t("panel")}: ${d.panel.map(nameOf).join("、")}` : "";
  $("detail-role").textContent = d.your_role ? t("yourRole", { role: label("role", d.your_role) }) : t("noRole");

  const moves = d.available_transitions.map((tr) => h("button", {
    type: "button", class: "primary", dataset: { transition: tr }, onclick: () => move(tr),
  }, label("transition", tr)));
  $("procedure-buttons").replaceChildren(...(moves.length ? moves : [h("p", { class: "hint" }, t("noMoves"))]));

  const rows = d.participants.map((p) => h("tr", { dataset: { participantId: p.id, role: p.role, status: p.status } },
    h("td", {}, nameOf(p.person_id)),
    h("td", {}, label("role", p.role)),
    h("td", { class: `status status-${shownStatus(p, app.inLobby ?? new Set())}` },
      label("status", shownStatus(p, app.inLobby ?? new Set()))),
    h("td", {}, p.verification_method
      ? t("verifiedBy", { method: label("verification", p.verification_method), by: participantName(p.verified_by) })
      : t("notVerified")),
    h("td", {}, p.token_id ? t("linkBound") : "—"),
    h("td", {}, STAFF_SEATS.has(p.role)
      ? h("span", { class: "hint staff-seat", title: t("staffSeatHint") }, t("staffSeatOwn"))
      : may("links.issue")
        ? h("button", { type: "button", class: "issue-link", onclick: () => issueLink(p) }, t("issueLink"))
        : ""),
  ));
  $("participant-table").querySelector("tbody").replaceChildren(...rows);

  $("participant-form").hidden = !may("register.write");
  const parties = app.cases.find((c) => c.id === d.case_id)?.parties ?? [];
  const options = new Map();
  for (const p of parties) options.set(p.person_id, `${nameOf(p.person_id)} · ${label("side", p.side)}`);
  for (const id of d.panel) options.set(id, nameOf(id));
  for (const id of app.known) if (!options.has(id)) options.set(id, nameOf(id));
  for (const s of app.courtStaff) {
    if (!options.has(s.person_id)) {
      options.set(s.person_id, t("personWithRoles", { name: s.display_name, roles: s.roles.map((r) => label("role", r)).join("、") }));
    }
  }
  if (app.me?.person_id && !options.has(app.me.person_id)) options.set(app.me.person_id, nameOf(app.me.person_id));
  const sel = $("participant-person");
  const keep = sel.value;
  sel.replaceChildren(...[...options].map(([id, text]) => h("option", { value: id }, text)));
  if (options.has(keep)) sel.value = keep;
  fillSelect($("participant-role"), ROLES, "role", false);
  $("open-room-help").hidden = true;
  renderRecording(participantName, errorText);
  renderLive();
}

/** The live recording switch: a mediation's mediator (or presiding judge) starts and stops it in session; kinds
 *  recorded in full follow the procedure and say so. */
function renderLive() {
  const d = app.detail;
  const live = app.live;
  const box = $("live-recording");
  box.hidden = !live;
  if (!live) return;
  box.dataset.recording = String(live.recording);
  $("live-status").textContent = live.recording ? t("liveOn") : t("liveOff");
  $("live-status").className = live.recording ? "live-on" : "live-off";
  const button = $("live-toggle");
  button.hidden = !live.may_control;
  button.textContent = live.recording ? t("liveStop") : t("liveStart");
  const hint = d.kind === "mediation"
    ? (live.may_control ? "" : live.acted_as ? t("liveHintWait") : t("liveHintNoSeat"))
    : d.kind === "deliberation" ? t("liveHintNever") : t("liveHintFull");
  $("live-hint").textContent = hint;
  $("live-hint").hidden = !hint;
}

async function toggleLive() {
  const button = $("live-toggle");
  button.disabled = true;
  notice("");
  try {
    app.live = await api.setLiveRecording(app.detail.id, !app.live.recording);
    notice(app.live.recording ? t("liveStarted") : t("liveStopped"));
    await loadRecording(app.detail.id);
    renderDetail();
  } catch (err) {
    notice(errorText(err));
  } finally {
    button.disabled = false;
  }
}

/** A recording names participants by their hearing participant id. */
function participantName(participantId) {
  const p = app.detail?.participants.find((x) => x.id === participantId);
  if (p) return nameOf(p.person_id);
  return participantId === "system" ? t("auSystem") : t("unknownPerson");
}

function forgetLink() {
  $("link-url").value = "";
  $("link-box").hidden = true;
  $("link-summons").hidden = true;
  $("summons-qr").replaceChildren();
  $("link-copy").textContent = t("copy");
}

/** The link's short code and QR code (server-made SVG of the /c#CODE address), for the summons. */
function showSummons(participant, short) {
  $("link-summons").hidden = !short;
  if (!short) return;
  const svg = new DOMParser().parseFromString(short.qr_svg, "image/svg+xml").documentElement;
  $("summons-qr").replaceChildren(document.importNode(svg, true));
  $("summons-for").textContent = t("summonsFor", { name: nameOf(participant.person_id), role: label("role", participant.role) });
  const d = app.detail;
  $("summons-when").textContent = d ? `${caseNumber(d.case_id)} · ${t("scheduled", { start: localTime(d.scheduled_start), end: localTime(d.scheduled_end) })}` : "";
  $("summons-code").textContent = short.code;
  $("summons-how").textContent = t("summonsHow", { address: short.code_url.split("#")[0] });
}

function printSummons() {
  document.body.classList.add("printing-summons");
  window.addEventListener("afterprint", () => document.body.classList.remove("printing-summons"), { once: true });
  window.print();
}

function showLink(participant, url, short = null) {
  showSummons(participant, short);
  $("link-for").textContent = t("linkFor", { name: nameOf(participant.person_id) });
  $("link-url").value = url;
  $("link-box").hidden = false;
  $("link-copy").textContent = t("copy");
  $("link-url").focus();
  $("link-url").select();
}

async function issueLink(participant) {
  notice("");
  try {
    const link = await api.issueLink(app.detail.id, participant.id);
    await loadDetail(app.detail.id); // the participant now has a bound link
    showLink(participant, link.url, link.short_code);
    return link.url;
  } catch (err) {
    notice(errorText(err));
    return null;
  }
}

async function copyLink() {
  const input = $("link-url");
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    document.execCommand?.("copy"); // older browsers, or clipboard permission refused
  }
  $("link-copy").textContent = t("copied");
}

async function move(transition) {
  notice("");
  for (const b of $("procedure-buttons").querySelectorAll("button")) b.disabled = true;
  try {
    const out = await api.procedure(app.detail.id, transition);
    await loadDetail(app.detail.id);
    notice(t("moved", { from: label("state", out.from_state), to: label("state", out.to_state) }));
  } catch (err) {
    notice(errorText(err));
    renderDetail();
  }
}

/** Into the hearing room in one's own seat: the link comes from one's own login (POST …/my-link), never from
 *  someone else; a staff member holding no seat here is told why. */
async function openRoom() {
  const help = $("open-room-help");
  help.hidden = true;
  notice("");
  if (!app.detail.your_role) {
    help.textContent = t("openRoomHelp");
    help.hidden = false;
    return;
  }
  try {
    const link = await api.myLink(app.detail.id);
    await loadDetail(app.detail.id);
    // An asynchronous trial (异步审理) is heard on its own page, with the same join link (the courtroom stays /join).
    const url = app.detail.kind === "async_trial" ? link.url.replace("/join#", "/async#") : link.url;
    showLink({ person_id: app.me.person_id }, url);
    window.open(url, "_blank", "noopener,noreferrer");
  } catch (err) {
    help.textContent = errorText(err);
    help.hidden = false;
  }
}

async function onAddParticipant(event) {
  event.preventDefault();
  showError("participant-error", null);
  const personId = $("participant-person").value;
  try {
    await api.addParticipant(app.detail.id, { person_id: personId, role: $("participant-role").value });
    await loadDetail(app.detail.id);
    notice(t("added"));
  } catch (err) {
    showError("participant-error", err);
  }
}

// ---- create: persons, cases, hearings -----------------------------------------------------------------------------

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

async function loadCreate() {
  await Promise.all([loadCases(), loadCourtStaff()]);
  if (!$("hearing-start").value) {
    const start = new Date(Date.now() + 3600_000);
    start.setMinutes(0, 0, 0);
    $("hearing-start").value = localInput(start);
    $("hearing-end").value = localInput(new Date(start.getTime() + 2 * 3600_000));
  }
  renderCreate();
}

/** The panel is picked from the court's judges, by name (the server refuses anyone else: panel_not_judge). */
function pickable() { return app.courtStaff.filter((s) => s.judge).map((s) => s.person_id); }

function renderCreate() {
  $("known-persons").replaceChildren(...app.known.map((id) => h("li", { dataset: { personId: id } },
    nameOf(id))));

  const parties = $("case-parties");
  const sides = new Map([...parties.querySelectorAll("select")].map((s) => [s.dataset.personId, s.value]));
  parties.replaceChildren(...app.known.map((id) => {
    const sel = h("select", { id: `side-${id}`, dataset: { personId: id } },
      h("option", { value: "" }, t("none")), ...SIDES.map((s) => h("option", { value: s }, label("side", s))));
    sel.value = sides.get(id) ?? "";
    return h("div", { class: "field" }, h("label", { for: `side-${id}` }, nameOf(id)), sel);
  }));

  const caseSel = $("hearing-case");
  const keep = caseSel.value;
  caseSel.replaceChildren(...app.cases.map((c) => h("option", { value: c.id }, `${c.case_number} · ${c.cause}`)));
  if (keep && app.cases.some((c) => c.id === keep)) caseSel.value = keep;
  fillSelect($("hearing-kind"), KINDS, "kind", false);

  app.panelOrder = app.panelOrder.filter((id) => pickable().includes(id));
  $("panel-none").hidden = pickable().length > 0;
  $("hearing-panel").replaceChildren(...pickable().map((id) => {
    const box = h("input", { type: "checkbox", id: `panel-${id}`, dataset: { personId: id },
      checked: app.panelOrder.includes(id), onchange: (e) => togglePanel(id, e.target.checked) });
    const pos = app.panelOrder.indexOf(id);
    return h("div", { class: "check" }, box, h("label", { for: `panel-${id}` },
      courtStaffName(id) ?? nameOf(id), pos === 0 ? ` — ${label("role", "presiding_judge")}` : pos > 0 ? ` — ${label("role", "judge")}` : ""));
  }));
}

function togglePanel(id, on) {
  app.panelOrder = app.panelOrder.filter((x) => x !== id);
  if (on) app.panelOrder.push(id);
  renderCreate();
}

async function onCreatePerson(event) {
  event.preventDefault();
  showError("person-error", null);
  const body = { name: $("person-name").value.trim() };
  const doc = $("person-doc").value.trim();
  if (doc) body.id_document = doc; // in the POST body only
  try {
    const person = await api.createPerson(body);
    app.persons.set(person.id, { id: person.id, name: person.name });
    app.known.push(person.id);
    $("person-name").value = "";
    $("person-doc").value = "";
    renderCreate();
    notice(t("personCreated", { name: person.name }));
  } catch (err) {
    showError("person-error", err);
  }
}

async function onCreateCase(event) {
  event.preventDefault();
  showError("case-error", null);
  const parties = [...$("case-parties").querySelectorAll("select")]
    .filter((s) => s.value).map((s) => ({ person_id: s.dataset.personId, side: s.value }));
  try {
    const created = await api.createCase({
      case_number: $("case-number").value.trim(), cause: $("case-cause").value.trim(), parties,
    });
    await loadCases();
    renderCreate();
    $("hearing-case").value = created.id;
    notice(t("caseCreated", { number: created.case_number }));
  } catch (err) {
    showError("case-error", err);
  }
}

async function onCreateHearing(event) {
  event.preventDefault();
  showError("hearing-error", null);
  const start = new Date($("hearing-start").value);
  const end = new Date($("hearing-end").value);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) {
    $("hearing-error").textContent = `${t("start")} / ${t("end")}?`;
    return;
  }
  try {
    const created = await api.createHearing({
      case_id: $("hearing-case").value, kind: $("hearing-kind").value,
      scheduled_start: start.toISOString(), scheduled_end: end.toISOString(),
      panel: [...app.panelOrder],
    });
    await go("detail", created.id);
    notice(t("hearingCreated"));
  } catch (err) {
    showError("hearing-error", err);
  }
}

// ---- dashboard ----------------------------------------------------------------------------------------------------

async function loadStats() {
  showError("stats-error", null);
  let stats;
  try {
    stats = await api.stats($("stats-since").value, $("stats-until").value);
  } catch (err) {
    if (err.status === 401 || err.status === 0) throw err;
    showError("stats-error", err);
    return;
  }
  app.stats = stats;
  renderStats();
}

function renderStats() {
  const stats = app.stats;
  if (!stats) return;
  const maxHeld = Math.max(1, ...stats.by_kind.map((r) => r.hearings_held));
  const maxMin = Math.max(1, ...stats.by_kind.map((r) => r.minutes_in_session));
  const bar = (value, max) => h("span", { class: "bar", "aria-hidden": "true",
    style: `width: ${Math.round((100 * value) / max)}%` });
  const rows = stats.by_kind.map((r) => h("tr", { dataset: { kind: r.kind } },
    h("th", { scope: "row" }, label("kind", r.kind)),
    h("td", {}, h("span", { class: "num" }, r.hearings_held), h("span", { class: "track" }, bar(r.hearings_held, maxHeld))),
    h("td", {}, h("span", { class: "num" }, r.minutes_in_session),
      h("span", { class: "track" }, bar(r.minutes_in_session, maxMin))),
  ));
  $("stats-table").querySelector("tbody").replaceChildren(...rows);
  $("stats-table").querySelector("tfoot").replaceChildren(h("tr", {},
    h("th", { scope: "row" }, t("total")), h("td", {}, stats.hearings_held), h("td", {}, stats.minutes_in_session)));
  // The API counts whole UTC days (until inclusive) and answers with the exclusive bound: show the days asked for.
  renderCallStats($("calls-table"), stats.calls, t);
  $("stats-range").textContent = t("statsRange", {
    since: stats.since ? $("stats-since").value || localTime(stats.since) : t("allTime"),
    until: stats.until ? $("stats-until").value || localTime(stats.until) : t("allTime"),
  }) + (stats.since || stats.until ? " (UTC)" : "");
}

// ---- wiring -------------------------------------------------------------------------------------------------------

function rerender() {
  applyStrings();
  if (app.me) {
    const roles = app.me.roles.map((r) => label("role", r)).join("、");
    $("whoami").textContent = t("loggedInAs", { name: app.me.display_name, roles });
  }
  if (app.view === "hearings") renderHearings();
  else if (app.view === "detail") renderDetail();
  else if (app.view === "create") renderCreate();
  else if (app.view === "dashboard") renderStats();
  else if (["links", "agencies", "audit"].includes(app.view)) go(app.view);
}

/** What the tools' views (tools.js, audit.js) need from here. */
function tools() {
  return { app, may, errorText, notice, nameOf, resolveNames, loadCases };
}

async function boot() {
  applyStrings();
  fillSelect($("filter-state"), STATES, "state", true);
  fillSelect($("filter-kind"), KINDS, "kind", true);
  setUnauthorizedHandler(() => toLogin(app.me ? t("sessionEnded") : ""));
  $("lang").onclick = () => { setLang(currentLang() === "zh" ? "en" : "zh"); rerender(); };
  $("login-form").addEventListener("submit", onLogin);
  $("logout").onclick = onLogout;
  $("notice-close").onclick = () => notice("");
  for (const b of document.querySelectorAll("[data-nav]")) b.onclick = () => go(b.dataset.nav);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); go("hearings"); });
  $("detail-back").onclick = () => go("hearings");
  $("link-copy").onclick = copyLink;
  $("summons-print").onclick = printSummons;
  $("open-room").onclick = openRoom;
  $("participant-form").addEventListener("submit", onAddParticipant);
  $("person-form").addEventListener("submit", onCreatePerson);
  $("case-form").addEventListener("submit", onCreateCase);
  $("hearing-form").addEventListener("submit", onCreateHearing);
  $("stats-form").addEventListener("submit", (e) => { e.preventDefault(); go("dashboard"); });
  $("live-toggle").onclick = toggleLive;
  wireTools(tools());
  wireAudit(tools());
  try {
    await enter(await api.me());
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) toLogin(errorText(err));
  }
}

boot();
