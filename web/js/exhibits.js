// Exhibits (证据, 电子质证) over the in-hearing HTTP API (hearing/api/in_hearing.py), authenticated with our own join
// token (`Authorization: Bearer`): the side panel lists the hearing's exhibits, uploads a PDF or an image (the
// server's refusal, e.g. 415 or 413, is shown as it says it), lets whoever may `present_exhibit` show one to
// everyone, turn its pages and stop presenting, lets parties give their opinion (质证意见) and shows the opinions
// given so far under each exhibit. On `exhibit-presented` every page fetches a short-lived view link and shows the
// file (PDF in an <iframe> at #page=N, images as <img>). Court staff (judges, the clerk, the mediator) also see
// under each exhibit who viewed it and when (GET /exhibit-views: every view link handed out is audited), read again
// when the panel opens, after an exhibit is presented, and on "refresh".
//
// Hooks: #exhibits (the panel): #exhibit-file, #exhibit-upload, #exhibits-error, #exhibit-stop (stop presenting),
// #exhibits-list with [data-exhibit=<id>] rows (button[data-action=present]; select[data-stance],
// input[data-opinion-text], button[data-action=opinion]; .x-opinions li[data-opinion-by=<participant id>];
// staff: .x-views li[data-viewed-by=<participant id>][data-views=<count>]); staff: #exhibit-views-refresh;
// #exhibit-view[data-exhibit-id][data-page] (iframe | img; button[data-action=hide]; for presenters
// button[data-action=page-prev|page-next|stop-presenting]).
import { currentLang, errorText, roleLabel, t } from "./i18n.js";

export const STANCES = ["agree", "object", "partially_agree"];
/** Roles that give opinions on evidence (the parties' side). */
export const OPINION_ROLES = ["plaintiff", "defendant", "counsel", "prosecutor"];
/** Court staff (hearing/exhibits.py COURT_STAFF): they see who viewed each exhibit. */
export const STAFF_ROLES = ["presiding_judge", "judge", "clerk", "mediator"];

/** `fetch` on /api/rooms/{room}/... with the join token; throws an Error carrying the server's message. Pure-ish. */
export async function roomApi(room, token, method, path, body = undefined) {
  const headers = { Authorization: `Bearer ${token}` };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(`/api/rooms/${encodeURIComponent(room)}${path}`, { method, headers, body: payload,
      cache: "no-store" });
  } catch {
    throw Object.assign(new Error(errorText({ error: "network" })), { status: 0, data: null });
  }
  if (r.status === 204) return null;
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json().catch(() => null) : null;
  if (!r.ok) {
    // The code's translation (i18n.js), never the server's English sentence.
    const e = new Error(errorText(data ?? { error: r.status >= 500 ? "internal" : "unknown_code", code: r.status }));
    e.status = r.status;
    e.data = data;
    throw e;
  }
  return data ?? r;
}

const el = (tag, attrs = {}, text = null) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "type" || k === "for" || k === "id") {
      e.setAttribute(k, v);
    } else e[k] = v;
  }
  if (text != null) e.textContent = text;
  return e;
};

/** The latest opinion of each participant (a later one replaces the earlier; the server keeps the history). Pure. */
export function latestOpinions(opinions) {
  const by = new Map();
  for (const o of opinions ?? []) {
    const had = by.get(o.participant_id);
    if (!had || o.revision > had.revision) by.set(o.participant_id, o);
  }
  return [...by.values()].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
}

/** Who viewed an exhibit (its views from GET /exhibit-views, oldest first): one entry per participant, in the order
 *  of their first view, with how many views and the latest. Pure: unit-tested. */
export function viewersOf(views) {
  const by = new Map();
  for (const v of views ?? []) {
    const had = by.get(v.participant_id);
    if (!had) by.set(v.participant_id, { participant_id: v.participant_id, name: v.name ?? null, role: v.role,
      count: 1, last: v.at });
    else {
      had.count += 1;
      if (Date.parse(v.at) >= Date.parse(had.last)) { had.last = v.at; had.role = v.role; }
    }
  }
  return [...by.values()];
}

/** The page a presenter moves to: `delta` pages on, kept within 1..pageCount (null: no move). Pure. */
export function turnPage(page, pageCount, delta) {
  const next = Math.min(Math.max(1, (page | 0) + delta), Math.max(1, pageCount | 0));
  return next === page ? null : next;
}

/** The viewer's fragment for a PDF page. Pure: unit-tested. */
export function pdfSrc(url, page) {
  return `${url.split("#")[0]}#page=${Math.max(1, page | 0)}`;
}

export class ExhibitsPanel {
  /** @param panel the #exhibits aside; @param view the #exhibit-view section; api (method, path, body) => data;
   *  people () => participants known (names for the opinions) */
  constructor(panel, view, { api, people = () => [] }) {
    this.panel = panel;
    this.view = view;
    this.api = api;
    this.items = [];
    this.permissions = null;
    this.role = null;
    this.people = people;
    this.opinions = new Map(); // exhibit id -> opinions (GET .../opinions)
    this.opinionLoads = new Map(); // exhibit id -> number of the latest opinions request
    this.listLoads = 0;
    this.views = new Map(); // exhibit id -> views (GET /exhibit-views; court staff only)
    this.viewLoads = 0;
    this.shown = null; // the last exhibit-presented with an exhibit
    this.build();
    panel.addEventListener("click", (ev) => this.onClick(ev));
    view.addEventListener("click", (ev) => this.onViewClick(ev));
  }

  build() {
    this.heading = el("h2", { id: "exhibits-h" });
    this.fileLabel = el("label", { for: "exhibit-file" });
    this.file = el("input", { type: "file", id: "exhibit-file", accept: "application/pdf,image/png,image/jpeg,image/webp" });
    this.upload = el("button", { type: "button", id: "exhibit-upload", class: "primary" });
    this.error = el("p", { id: "exhibits-error", class: "x-error", role: "alert" });
    this.status = el("p", { class: "x-status", role: "status" });
    this.list = el("ul", { id: "exhibits-list", class: "c-list" });
    this.empty = el("p", { class: "c-empty" });
    this.stop = el("button", { type: "button", id: "exhibit-stop", "data-action": "stop-presenting", hidden: true });
    this.viewsRefresh = el("button", { type: "button", id: "exhibit-views-refresh", "data-action": "refresh-views",
      hidden: true });
    const form = el("div", { class: "x-upload" });
    form.append(this.fileLabel, this.file, this.upload);
    this.panel.setAttribute("aria-labelledby", "exhibits-h");
    this.panel.replaceChildren(this.heading, form, this.error, this.status, this.stop, this.viewsRefresh, this.list,
      this.empty);
    this.upload.onclick = () => this.doUpload();
    this.stop.onclick = () => this.present(null);
    this.viewsRefresh.onclick = () => this.loadViews();
  }

  setContext({ permissions, role }) {
    this.permissions = permissions;
    this.role = role;
    this.render();
    this.renderViewControls();
  }

  mayPresent() { return (this.permissions?.actions ?? []).includes("present_exhibit"); }

  isStaff() { return STAFF_ROLES.includes(this.role); }

  showError(text) { this.error.textContent = text ? t("exhibitError", { message: text }) : ""; }

  async refresh() {
    const generation = ++this.listLoads; // as for opinions: a slower, older answer never replaces a newer one
    try {
      const items = await this.api("GET", "/exhibits");
      if (generation !== this.listLoads) return;
      this.items = items;
      this.showError("");
    } catch (e) {
      this.showError(e.message);
    }
    this.render();
    await Promise.all([...this.items.filter((x) => !x.withdrawn).map((x) => this.loadOpinions(x.id)),
      this.loadViews()]);
  }

  /** Court staff: who viewed each exhibit, and when (the audited views). */
  async loadViews() {
    if (!this.isStaff()) return;
    const generation = ++this.viewLoads; // only the newest answer counts
    let found;
    try {
      found = await this.api("GET", "/exhibit-views");
    } catch (e) {
      this.showError(e.message);
      return;
    }
    if (generation !== this.viewLoads) return;
    this.views = new Map(found.map((x) => [x.exhibit_id, x.views]));
    this.render();
  }

  /** The opinions given on an exhibit so far (shown to everyone in the panel). */
  async loadOpinions(id) {
    // Only the newest request's answer counts: an older GET (e.g. from opening the panel) that answers after the
    // one made just after sending an opinion must not put the list back to what it was before.
    const generation = (this.opinionLoads.get(id) ?? 0) + 1;
    this.opinionLoads.set(id, generation);
    let found;
    try {
      found = await this.api("GET", `/exhibits/${encodeURIComponent(id)}/opinions`);
    } catch (e) {
      this.showError(e.message);
      return;
    }
    if (this.opinionLoads.get(id) !== generation) return;
    this.opinions.set(id, found);
    this.render();
  }

  /** POST /presentation: show `exhibitId` at `page` to everyone, or nothing (null). */
  async present(exhibitId, page = 1) {
    try {
      await this.api("POST", "/presentation", { exhibit_id: exhibitId, page });
      this.showError("");
    } catch (e) {
      this.showError(e.message);
    }
  }

  render() {
    this.heading.textContent = t("exhibits");
    this.fileLabel.textContent = t("exhibitFile");
    this.upload.textContent = t("exhibitUpload");
    this.empty.textContent = t("exhibitsEmpty");
    this.empty.hidden = this.items.length > 0;
    const present = this.mayPresent();
    const opinions = OPINION_ROLES.includes(this.role);
    const rows = this.items.filter((x) => !x.withdrawn).map((x) => {
      let li = this.list.querySelector(`[data-exhibit="${CSS.escape(x.id)}"]`);
      if (!li) li = this.row(x);
      li.querySelector(".x-name").textContent = x.name;
      li.querySelector(".x-meta").textContent = t("exhibitMeta", { pages: x.page_count, kb: Math.ceil(x.size / 1024) });
      const b = li.querySelector("button[data-action=present]");
      b.hidden = !present;
      b.textContent = t("exhibitPresent");
      b.setAttribute("aria-label", `${t("exhibitPresent")}：${x.name}`);
      li.querySelector(".x-opinion").hidden = !opinions;
      const select = li.querySelector("select[data-stance]");
      [...select.options].forEach((o) => { o.textContent = t(`stance_${o.value}`); });
      li.querySelector("input[data-opinion-text]").placeholder = t("opinionText");
      li.querySelector("button[data-action=opinion]").textContent = t("opinionSend");
      this.renderOpinions(li.querySelector(".x-opinions"), x.id);
      this.renderViews(li.querySelector(".x-views"), x.id);
      return li;
    });
    this.list.replaceChildren(...rows);
    this.stop.hidden = !(present && this.shown);
    this.stop.textContent = t("exhibitStop");
    this.viewsRefresh.hidden = !this.isStaff();
    this.viewsRefresh.textContent = t("viewsRefresh");
  }

  /** Court staff: "viewed by" under the exhibit, one line per viewer (name, role, latest time, how many times). */
  renderViews(box, id) {
    const known = this.isStaff() ? this.views.get(id) : undefined;
    box.hidden = !known;
    if (!known) return;
    const people = this.people();
    const locale = currentLang() === "en" ? "en-GB" : "zh-CN";
    box.querySelector(".x-views-h").textContent = t("viewedBy");
    const items = viewersOf(known).map((v) => {
      const name = v.name ?? people.find((p) => p.id === v.participant_id)?.name;
      const who = name ? `${name}（${roleLabel(v.role)}）` : roleLabel(v.role);
      const time = new Date(v.last).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit",
        second: "2-digit" });
      return el("li", { "data-viewed-by": v.participant_id, "data-views": String(v.count) },
        t("viewLine", { who, time, n: v.count }));
    });
    if (items.length === 0) items.push(el("li", { class: "c-empty" }, t("viewsNone")));
    box.querySelector("ul").replaceChildren(...items);
  }

  renderOpinions(ul, id) {
    const known = this.opinions.get(id);
    ul.hidden = !known;
    if (!known) return;
    const people = this.people();
    const items = latestOpinions(known).map((o) => {
      const name = people.find((p) => p.id === o.participant_id)?.name;
      const who = name ? `${name}（${roleLabel(o.role)}）` : roleLabel(o.role);
      const li = el("li", { "data-opinion-by": o.participant_id, "data-stance": o.stance });
      li.append(el("strong", {}, t("opinionLine", { who, stance: t(`stance_${o.stance}`) })));
      if (o.text) li.append(document.createTextNode(` ${o.text}`));
      return li;
    });
    if (items.length === 0) items.push(el("li", { class: "c-empty" }, t("opinionsNone")));
    ul.replaceChildren(...items);
  }

  row(x) {
    const li = el("li", { "data-exhibit": x.id });
    const who = el("div", { class: "c-who" });
    who.append(el("span", { class: "c-name x-name" }), el("span", { class: "c-role x-meta" }));
    const present = el("button", { type: "button", "data-action": "present" });
    const op = el("div", { class: "c-actions x-opinion" });
    const select = el("select", { "data-stance": "" });
    // No stance is preset: an opinion on evidence (质证意见) is the party's explicit choice.
    for (const s of ["", ...STANCES]) select.append(el("option", { value: s }));
    op.append(select, el("input", { type: "text", "data-opinion-text": "", maxLength: 20000 }),
      el("button", { type: "button", "data-action": "opinion" }));
    const views = el("div", { class: "x-views", hidden: true });
    views.append(el("p", { class: "x-views-h" }), el("ul"));
    li.append(who, present, op, el("ul", { class: "x-opinions", hidden: true }), views);
    return li;
  }

  async doUpload() {
    const f = this.file.files?.[0];
    if (!f) { this.showError(t("exhibitPickFile")); return; }
    const form = new FormData();
    form.append("file", f, f.name);
    this.upload.disabled = true;
    this.status.textContent = t("exhibitUploading");
    try {
      await this.api("POST", "/exhibits", form);
      this.showError("");
      this.status.textContent = t("exhibitUploaded", { name: f.name });
      this.file.value = "";
      await this.refresh();
    } catch (e) {
      this.status.textContent = "";
      this.showError(e.message);
    } finally {
      this.upload.disabled = false;
    }
  }

  async onClick(ev) {
    const b = ev.target.closest("button[data-action]");
    const li = b?.closest("[data-exhibit]");
    if (!b || !li || b.disabled) return;
    const id = li.dataset.exhibit;
    try {
      if (b.dataset.action === "present") {
        await this.api("POST", "/presentation", { exhibit_id: id, page: 1 });
      } else if (b.dataset.action === "opinion") {
        const stance = li.querySelector("select[data-stance]").value;
        if (!stance) { this.showError(t("stanceRequired")); return; }
        const text = li.querySelector("input[data-opinion-text]").value;
        await this.api("POST", `/exhibits/${encodeURIComponent(id)}/opinion`, { stance, text });
        this.status.textContent = t("opinionSent");
        await this.loadOpinions(id);
      }
      this.showError("");
    } catch (e) {
      this.showError(e.message);
    }
  }

  /** The viewer's buttons: whoever may present turns the pages and stops presenting. */
  onViewClick(ev) {
    const b = ev.target.closest("button[data-action]");
    if (!b || b.disabled) return;
    const shown = this.shown;
    switch (b.dataset.action) {
      case "hide": this.view.hidden = true; break;
      case "stop-presenting": this.present(null); break;
      case "page-prev": case "page-next": {
        const page = shown && turnPage(shown.page, shown.page_count, b.dataset.action === "page-next" ? 1 : -1);
        if (page) this.present(shown.exhibit_id, page);
        break;
      }
      default: break;
    }
  }

  renderViewControls() {
    const box = this.view.querySelector(".xv-pages");
    if (!box) return;
    const shown = this.shown;
    box.hidden = !this.mayPresent() || !shown;
    if (box.hidden) return;
    const [prev, where, next, stop] = box.children;
    prev.textContent = `‹ ${t("exhibitPrev")}`;
    next.textContent = `${t("exhibitNext")} ›`;
    prev.disabled = shown.page <= 1;
    next.disabled = shown.page >= (shown.page_count || 1);
    where.textContent = `${shown.page} / ${shown.page_count || 1}`;
    stop.textContent = t("exhibitStop");
  }

  /** `exhibit-presented`: show it to everyone (or hide the viewer when nothing is shown). */
  async onPresented(msg) {
    if (!msg.exhibit_id) {
      this.shown = null;
      this.view.hidden = true;
      this.view.removeAttribute("data-exhibit-id");
      this.view.removeAttribute("data-page");
      this.view.replaceChildren();
      this.render();
      return;
    }
    this.shown = msg;
    let grant;
    try {
      grant = await this.api("GET", `/exhibits/${encodeURIComponent(msg.exhibit_id)}/view`);
    } catch (e) {
      this.showError(e.message);
      return;
    }
    if (this.shown !== msg) return; // something else was presented meanwhile
    const type = msg.media_type || grant.exhibit.media_type;
    const title = el("h3", { class: "xv-title" }, t("exhibitShown", { name: msg.name || grant.exhibit.name,
      page: msg.page, pages: msg.page_count }));
    const hide = el("button", { type: "button", "data-action": "hide" }, t("exhibitHide"));
    const pages = el("span", { class: "xv-pages", role: "group", hidden: true });
    pages.append(el("button", { type: "button", "data-action": "page-prev" }), el("span", { class: "xv-page" }),
      el("button", { type: "button", "data-action": "page-next" }),
      el("button", { type: "button", "data-action": "stop-presenting", class: "danger" }));
    pages.setAttribute("aria-label", t("exhibitShown", { name: msg.name || grant.exhibit.name, page: msg.page,
      pages: msg.page_count }));
    const head = el("div", { class: "xv-head" });
    head.append(title, pages, hide);
    let body;
    if (type === "application/pdf") {
      body = el("iframe", { src: pdfSrc(grant.url, msg.page), title: msg.name || "exhibit" });
    } else {
      body = el("img", { src: grant.url, alt: msg.name || "exhibit" });
    }
    this.view.dataset.exhibitId = msg.exhibit_id;
    this.view.dataset.page = String(msg.page);
    this.view.dataset.mediaType = type;
    this.view.replaceChildren(head, body);
    this.view.hidden = false;
    this.renderViewControls();
    this.render();
    if (!this.panel.hidden) this.loadViews(); // our own view is on the record now
  }
}
