// The asynchronous trial's inbox (待办): on one page, every question waiting for this person's answer, with its
// deadline, overdue and reminder flags, extensions, and their notices. A party opens it with their own link
// (/async/inbox, the link kept from /async in this tab's session); a judge or clerk with their staff login
// (/async/inbox?as=staff), across every asynchronous trial where they hold a seat. Server: hearing/api/async_inbox.py.
import { applyI18n, currentLang, errorText, label, onLangChange, setLang, t } from "/static/js/i18n.js";
import { readLink } from "/static/js/token.js";
import { dueText, when } from "/static/async/dates.js";

const $ = (id) => document.getElementById(id);
const asStaff = new URLSearchParams(window.location.search).get("as") === "staff";
const link = asStaff ? { token: null, claims: null } : readLink();
const room = link.claims?.room;
let inbox = null;
window.asyncInbox = { loads: 0 }; // what the browser test waits on

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c) node.append(c);
  return node;
}

class Failure extends Error { constructor(body) { super("failed"); this.body = body; } }

async function call(method, path) {
  const headers = { Accept: "application/json" };
  if (link.token) headers.Authorization = `Bearer ${link.token}`;
  let r;
  try { r = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store" }); } catch {
    throw new Failure({ error: "network" });
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Failure({ ...data, status: r.status });
  return data;
}

/** Staff open a trial's /async page with their own seat's link (as the staff page does: POST …/my-link). */
async function openAsStaff(hearingId) {
  try {
    const issued = await call("POST", `/api/hearings/${encodeURIComponent(hearingId)}/my-link`);
    window.location.assign(issued.url.replace("/join#", "/async#"));
  } catch (e) { $("ib-error").textContent = errorText(e.body); }
}

function item(i) {
  const flags = el("p", { class: "flags" },
    i.overdue ? el("span", { class: "flag overdue", text: t("ibOverdue") }) : null,
    i.due_soon ? el("span", { class: "flag soon", text: t("ibDueSoon") }) : null);
  const open = inbox.staff
    ? el("button", { type: "button", class: "open", onclick: () => openAsStaff(i.hearing_id), text: t("ibOpenStaff") })
    : el("a", { class: "open button", href: "/async", text: t("ibOpen") });
  return el("li", { class: `ib-item${i.overdue ? " is-overdue" : ""}`, "data-question": i.question_id },
    el("p", { class: "case", text: t("ibCase", { number: i.case_number }) }),
    el("h3", { text: t("ibQuestion", { stage: t(`atStage_${i.stage_kind}`), n: i.question_number }) }),
    i.text ? el("p", { class: "qtext", text: i.text }) : null,
    i.has_clip ? el("p", { text: t("ibVideoAsked") }) : null,
    inbox.staff ? el("p", { text: t("ibWho", { name: i.name }) }) : null,
    el("p", { class: "due", text: t("ibDue", { date: dueText(i.due_at) }) }),
    i.extended ? el("p", { class: "extended", text: t("ibExtended", { date: dueText(i.due_at), reason: i.extension_reason }) }) : null,
    flags, open);
}

function render() {
  const late = inbox.items.filter((i) => i.overdue).length;
  const asked = el("section", { class: "card", id: "ib-items" },
    el("h2", { text: t(inbox.staff ? "ibStaff" : "ibParty") }),
    inbox.items.length ? el("p", { id: "ib-counts", text: t("ibCounts", { n: inbox.items.length, late }) }) : null,
    inbox.items.length ? el("ul", { class: "ib-list" }, inbox.items.map(item))
      : el("p", { text: t(inbox.staff ? "ibNothingStaff" : "ibNothing") }));
  const notices = el("section", { class: "card", id: "ib-notices" }, el("h2", { text: t("ibNotices") }),
    inbox.notices.length ? el("ul", {}, inbox.notices.map((n) => el("li", { class: `notice-item${n.read ? "" : " unread"}`, "data-code": n.code },
      el("p", { text: label("notice", n.code) }),
      el("p", { class: "meta", text: t("ibNoticeAt", { at: when(n.created_at), case: n.case_number ?? "" })
        + (n.name ? ` · ${t("ibWho", { name: n.name })}` : "") }))))
      : el("p", { text: t("ibNoNotices") }));
  const back = inbox.staff ? null : el("p", {}, el("a", { href: "/async", text: t("ibBack") }));
  $("ib-view").replaceChildren(asked, notices, ...(back ? [back] : []));
}

async function load() {
  try {
    inbox = await call("GET", asStaff ? "/api/me/async-inbox" : `/api/rooms/${encodeURIComponent(room)}/async/inbox`);
    $("ib-error").textContent = "";
    $("ib-status").textContent = "";
    render();
    window.asyncInbox.loads += 1;
  } catch (e) {
    $("ib-status").textContent = "";
    if (asStaff && e.body?.status === 401) {
      $("ib-view").replaceChildren(el("p", { id: "ib-login", text: t("ibLogin") }), el("a", { href: "/staff", text: t("ibLoginLink") }));
    } else $("ib-error").textContent = errorText(e.body);
  }
}

function start() {
  if (link.lang) setLang(link.lang, { remember: false });
  applyI18n(document);
  $("lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(() => { if (inbox) render(); });
  if (!asStaff && (!link.token || !room)) { $("ib-status").textContent = t("atNoLink"); return; }
  load();
  setInterval(load, 60_000); // deadlines pass while the page is open: the flags follow
}

start();
