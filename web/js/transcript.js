// The transcript (笔录) over the in-hearing HTTP API (hearing/api/in_hearing.py; rules: hearing/transcript.py),
// authenticated with our own join token like the exhibits (`roomApi`).
//
// The clerk and the presiding judge write it while the hearing runs (until the first signature freezes it): a
// textarea that autosaves ~1.5 s after typing stops and on blur, each save naming the version it was edited
// from (`base_version`); a newer version saved meanwhile (409 `conflict`) shows that text with a button to take
// it (or to keep ours and save it on top). Everyone else reads the latest text, fetched again on
// `transcript-updated`. Once the hearing is closed, whoever may `sign_transcript` sees the final text with its
// version and full SHA-256 and signs it: re-entering their ID number (`id_document`) or with the clerk's
// confirmation on video (`staff_confirmed`). That confirmation is the clerk's own act: the clerk's panel lists who
// still has to sign and is in the room, each with "confirm identity for signing" (POST /transcript/confirmations,
// with the clerk's link); the server keeps it for a few minutes and for one signature. The signer's panel asks for
// it, polls the transcript (which lists the usable confirmations) until it is there, then lets them sign; the
// clerk's list follows the same way until the confirmed person has signed. The client never names a clerk — the
// server finds the clerk's record. Everyone can download the PDF.
//
// The editors also set which roles must re-verify their identity before signing in this hearing: one checkbox per
// role that signs this kind of hearing's transcript (TranscriptOut.signer_roles), ticked as the rule in force says
// (reverify_roles); each change is saved at once (PUT /transcript/reverification {roles}), "restore the default"
// sends null. The server's refusal (e.g. `not_a_signer`, or `frozen` once signing has begun) is shown as it says it.
//
// Hooks: #transcript (the panel): #transcript-text (textarea, editors) or #transcript-read (read-only text),
// #transcript-status (e.g. "已保存 第2版"), #transcript-error, #transcript-conflict (.tc-text,
// button[data-action=take-latest|keep-mine]), #transcript-sign (.ts-version, .ts-sha, select[data-sign-method],
// input[data-id-document], .ts-clerk[data-confirmed], button[data-action=sign]), #transcript-signed,
// #transcript-confirm (clerks: li[data-confirm-participant=<id>][data-confirmed] with
// button[data-action=confirm-identity][data-participant=<id>]), #transcript-reverify[data-roles][data-saving]
// (editors: input[type=checkbox][data-reverify-role=<role>], button[data-action=reverify-default], .tr-status),
// button[data-action=download-pdf].
import { currentLang, roleLabel, t } from "./i18n.js";

/** Roles that write the transcript (hearing/transcript.py EDITORS) and the states they write in (EDIT_STATES). */
export const EDITORS = ["clerk", "presiding_judge"];
export const EDIT_STATES = ["lobby_open", "in_session", "recess", "closed"];
/** When the editors may set the re-verification rule (CONFIGURE_STATES): also before the hearing opens. */
export const CONFIGURE_STATES = ["scheduled", ...EDIT_STATES];
export const SIGN_METHODS = ["id_document", "staff_confirmed", "none"];
/** Roles that re-verify before signing unless the hearing says otherwise (hearing/transcript.py
 *  DEFAULT_REVERIFY_ROLES); the others (the court, counsel, prosecutors) are also offered "none". */
export const REVERIFY_ROLES = ["plaintiff", "defendant", "witness", "detainee", "interpreter"];

/** Roles that confirm signers on video (hearing/transcript.py CONFIRMERS), and when (CONFIRM_STATES). */
export const CONFIRMERS = ["clerk"];
export const CONFIRM_STATES = ["in_session", "recess"]; // closed: no video any more

/** The identity checks offered to a role, the first being the default; `reverifyRoles`: the hearing's rule as the
 *  server says (TranscriptOut.reverify_roles), else the court's default. Pure: unit-tested. */
export function signMethods(role, reverifyRoles = null) {
  const required = reverifyRoles ?? REVERIFY_ROLES;
  return required.includes(role) ? ["staff_confirmed", "id_document"] : ["none", "id_document", "staff_confirmed"];
}
export const AUTOSAVE_MS = 1500;
/** While a signer waits for the clerk's confirmation, how often the transcript (and its confirmations) is re-read. */
export const CONFIRM_POLL_MS = 2000;

/** May this role write the transcript now? Pure: unit-tested. (The server decides; this only picks the view.) */
export function mayEdit(role, state, frozen) {
  return EDITORS.includes(role) && EDIT_STATES.includes(state) && !frozen;
}

/** May this role set who re-verifies before signing now (until the first signature)? Pure: unit-tested. */
export function mayConfigureReverify(role, state, frozen) {
  return EDITORS.includes(role) && CONFIGURE_STATES.includes(state) && !frozen;
}

/** The re-verification checkboxes: one per role that signs this hearing's transcript (the server's
 *  `signer_roles`), ticked if the rule in force (`reverify_roles`) names it. Pure: unit-tested. */
export function reverifyChoices(data) {
  const inForce = new Set(data?.reverify_roles ?? REVERIFY_ROLES);
  return (data?.signer_roles ?? []).map((role) => ({ role, checked: inForce.has(role) }));
}

/** A clerk in the room, other than us, who can confirm us on video (for the hint only). Pure. */
export function confirmingClerk(people, meId) {
  return people.find((p) => CONFIRMERS.includes(p.role) && p.id !== meId && p.place !== "lobby"
    && p.connection !== "reconnecting") ?? null;
}

/** Our usable confirmation in a TranscriptOut (the server lists only unused, unexpired ones), or null. Pure. */
export function myConfirmation(data, meId, now = Date.now()) {
  const mine = (data?.confirmations ?? []).filter((c) => c.participant_id === meId
    && Date.parse(c.expires_at) > now);
  return mine.sort((a, b) => Date.parse(b.expires_at) - Date.parse(a.expires_at))[0] ?? null;
}

/** May this role confirm signers now? Pure. (The server decides; this only shows the control.) */
export function mayConfirm(role, state) {
  return CONFIRMERS.includes(role) && CONFIRM_STATES.includes(state);
}

/** Whom a clerk can confirm now: those still to sign (TranscriptOut.pending) who are connected in the room, not
 *  the clerk; each with their usable confirmation (or null). Pure: unit-tested. */
export function confirmTargets(data, people, meId, now = Date.now()) {
  const pending = new Set(data?.pending ?? []);
  return people
    .filter((p) => pending.has(p.id) && p.id !== meId && p.place === "room" && p.connection !== "reconnecting")
    .map((p) => ({ person: p, confirmation: myConfirmation(data, p.id, now) }));
}

/** The body of POST /transcript/sign: no clerk is named, the server finds the clerk's record. Pure. */
export function signBody({ sha256, method, idDocument = "" }) {
  const body = { sha256, method };
  if (method === "id_document") body.id_document = idDocument.trim();
  return body;
}

const clock = (iso) => new Date(iso).toLocaleTimeString(currentLang() === "en" ? "en-GB" : "zh-CN",
  { hour: "2-digit", minute: "2-digit" });

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

export class TranscriptPanel {
  /**
   * @param panel the #transcript aside
   * @param api   (method, path, body) => data (roomApi with our join token); throws Error {status, data, message}
   * @param download (path) => Promise<Blob> (fetch with the bearer header)
   */
  constructor(panel, { api, download }) {
    this.panel = panel;
    this.api = api;
    this.download = download;
    this.me = null;
    this.role = null;
    this.roomState = null;
    this.permissions = null;
    this.people = [];
    this.data = null;         // the last TranscriptOut
    this.loaded = false;
    this.version = 0;         // the version the editor's text is based on
    this.savedText = null;    // the text of that version (what the server has)
    this.saving = null;       // the PUT in flight
    this.again = false;       // typed while saving: save once more afterwards
    this.timer = 0;
    this.conflict = null;     // {version, text} of a newer version saved meanwhile
    this.signed = null;       // our SignOut, once signed here
    this.signing = false;
    this.confirming = new Set(); // participant ids whose confirmation the clerk is sending
    this.poll = 0;            // the timer re-reading the transcript while we wait for the clerk's confirmation
    this.stale = true;        // a newer version exists than the one shown (fetch when opened)
    this.reverifySaving = false; // the PUT /transcript/reverification in flight
    this.reverifyStatusKey = null;
    this.build();
  }

  get open() { return !this.panel.hidden; }

  build() {
    this.heading = el("h2", { id: "transcript-h" });
    this.status = el("p", { id: "transcript-status", class: "x-status", role: "status" });
    this.error = el("p", { id: "transcript-error", class: "x-error", role: "alert" });
    this.textLabel = el("label", { for: "transcript-text", class: "sr-only" });
    this.text = el("textarea", { id: "transcript-text", rows: 14, spellcheck: false });
    this.read = el("div", { id: "transcript-read", class: "t-read", tabIndex: 0 });
    this.conflictBox = el("div", { id: "transcript-conflict", class: "t-conflict", hidden: true });
    this.conflictNote = el("p", { class: "tc-note" });
    this.conflictText = el("pre", { class: "tc-text" });
    this.take = el("button", { type: "button", "data-action": "take-latest", class: "primary" });
    this.keep = el("button", { type: "button", "data-action": "keep-mine" });
    const cActions = el("div", { class: "c-actions" });
    cActions.append(this.take, this.keep);
    this.conflictBox.append(this.conflictNote, this.conflictText, cActions);
    // Signing.
    this.signBox = el("section", { id: "transcript-sign", class: "t-sign", hidden: true });
    this.signH = el("h3");
    this.signVersion = el("p", { class: "ts-version" });
    this.signSha = el("p", { class: "ts-sha" });
    this.methodLabel = el("label", { for: "transcript-sign-method" });
    this.method = el("select", { id: "transcript-sign-method", "data-sign-method": "" });
    this.idLabel = el("label", { for: "transcript-id-document" });
    this.idDoc = el("input", { type: "text", id: "transcript-id-document", "data-id-document": "", maxLength: 64,
      autocomplete: "off" });
    this.idRow = el("div", { class: "c-actions ts-id" });
    this.idRow.append(this.idLabel, this.idDoc);
    this.clerkNote = el("p", { class: "c-hint ts-clerk", role: "status" });
    this.signButton = el("button", { type: "button", "data-action": "sign", class: "primary" });
    const mRow = el("div", { class: "c-actions" });
    mRow.append(this.methodLabel, this.method);
    this.signBox.append(this.signH, this.signVersion, this.signSha, mRow, this.idRow, this.clerkNote, this.signButton);
    this.signedNote = el("p", { id: "transcript-signed", class: "t-signed", role: "status", hidden: true });
    // The clerk's identity checks for signing.
    this.confirmBox = el("section", { id: "transcript-confirm", class: "t-sign t-confirm", hidden: true });
    this.confirmH = el("h3");
    this.confirmHint = el("p", { class: "c-hint" });
    this.confirmList = el("ul", { class: "tv-list" });
    this.confirmBox.append(this.confirmH, this.confirmHint, this.confirmList);
    // The editors' re-verification rule: who must re-check their identity before signing.
    this.reverifyBox = el("fieldset", { id: "transcript-reverify", class: "t-sign t-reverify", hidden: true });
    this.reverifyLegend = el("legend");
    this.reverifyHint = el("p", { class: "c-hint" });
    this.reverifyRoles = el("div", { class: "tr-roles" });
    this.reverifyDefault = el("button", { type: "button", "data-action": "reverify-default" });
    this.reverifyStatus = el("p", { class: "c-hint tr-status", role: "status" });
    this.reverifyBox.append(this.reverifyLegend, this.reverifyHint, this.reverifyRoles, this.reverifyDefault,
      this.reverifyStatus);
    this.pending = el("p", { class: "c-hint t-pending" });
    this.pdf = el("button", { type: "button", "data-action": "download-pdf" });
    this.panel.setAttribute("aria-labelledby", "transcript-h");
    this.panel.replaceChildren(this.heading, this.status, this.error, this.conflictBox, this.textLabel, this.text,
      this.read, this.signBox, this.signedNote, this.confirmBox, this.reverifyBox, this.pending, this.pdf);

    this.text.addEventListener("input", () => this.scheduleSave());
    this.text.addEventListener("blur", () => { if (this.dirty()) this.saveNow(); });
    this.method.addEventListener("change", () => this.render());
    this.reverifyRoles.addEventListener("change", (ev) => {
      if (ev.target.matches("input[data-reverify-role]")) this.saveReverify(this.tickedRoles());
    });
    this.panel.addEventListener("click", (ev) => this.onClick(ev));
  }

  /** What the page knows: who we are, the hearing's state, our permissions, who is here. */
  setContext({ me, role, roomState, permissions, people }) {
    const wasClosed = this.roomState?.state === "closed";
    this.me = me;
    this.role = role;
    this.roomState = roomState;
    this.permissions = permissions;
    this.people = people;
    this.render();
    // Closing the hearing (or a signature) changes what we may do: read the latest again.
    if (this.open && !wasClosed && roomState?.state === "closed") this.refresh();
  }

  maySign() { return (this.permissions?.actions ?? []).includes("sign_transcript"); }

  editing() { return mayEdit(this.role, this.roomState?.state, this.data?.frozen ?? false); }

  dirty() { return this.editing() && this.savedText !== null && this.text.value !== this.savedText; }

  /** The status line as an i18n key (so that it follows a language switch). */
  setStatus(key, vars = {}) {
    this.statusKey = key ? [key, vars] : null;
    this.status.textContent = key ? t(key, vars) : "";
  }

  showError(text) { this.error.textContent = text ? t("transcriptError", { message: text }) : ""; }

  /** Read the transcript again; `quiet` (polling) leaves the error line as it is, whatever happens. */
  async refresh({ quiet = false } = {}) {
    try {
      this.apply(await this.api("GET", "/transcript"));
      if (!quiet) this.showError("");
    } catch (e) {
      if (!quiet) this.showError(e.message);
    }
  }

  /** A TranscriptOut from the server: what we show, and (editors, when nothing is unsaved) the editor's text. */
  apply(data) {
    const first = !this.loaded;
    this.data = data;
    this.loaded = true;
    this.stale = false;
    if (first || (!this.dirty() && !this.saving)) {
      this.version = data.version;
      this.savedText = data.text;
      if (this.text.value !== data.text) this.text.value = data.text;
    }
    this.render();
  }

  /** `transcript-updated`: a new version was saved (by us or someone else). */
  async onUpdated(msg) {
    if (this.data && msg.version <= this.data.version && msg.sha256 === this.data.sha256) return;
    if (this.saving && msg.version === this.version + 1) return; // most likely our own save: its answer tells
    this.stale = true;
    if (this.open) await this.refresh();
  }

  scheduleSave() {
    clearTimeout(this.timer);
    this.setStatus("transcriptEditing");
    this.timer = setTimeout(() => this.saveNow(), AUTOSAVE_MS);
  }

  async saveNow() {
    clearTimeout(this.timer);
    if (!this.editing() || this.conflict || !this.loaded) return;
    if (this.saving) { this.again = true; return; }
    const text = this.text.value;
    if (text === this.savedText) return;
    this.setStatus("transcriptSaving");
    this.saving = this.api("PUT", "/transcript", { text, base_version: this.version });
    try {
      const data = await this.saving;
      this.version = data.version;
      this.savedText = text.replace(/\r\n?/g, "\n");
      this.data = data;
      this.stale = false;
      this.showError("");
      this.setStatus("transcriptSaved", { n: data.version });
    } catch (e) {
      if (e.status === 409 && e.data?.error === "conflict") {
        this.conflict = { version: e.data.latest_version, text: e.data.latest_text ?? "" };
        this.setStatus(null);
      } else {
        this.setStatus("transcriptNotSaved");
        this.showError(e.message);
        if (e.status === 409) this.refresh(); // frozen (signed) or the state moved on: show what is stored
      }
    } finally {
      this.saving = null;
    }
    this.render();
    if (this.again) {
      this.again = false;
      if (this.dirty()) this.saveNow();
    }
  }

  render() {
    const state = this.roomState?.state;
    const editing = this.editing();
    const data = this.data;
    this.heading.textContent = t("transcript");
    if (this.statusKey) this.status.textContent = t(...this.statusKey);
    this.textLabel.textContent = t("transcript");
    this.text.hidden = !editing;
    this.text.readOnly = !!this.conflict || !this.loaded; // typing before the stored text arrived would be lost
    this.panel.dataset.loaded = String(this.loaded);
    this.panel.dataset.version = String(data?.version ?? 0);
    this.read.hidden = editing;
    const shown = data?.text ?? "";
    if (this.read.textContent !== shown) this.read.textContent = shown;
    this.read.dataset.version = String(data?.version ?? 0);
    this.read.dataset.empty = String(!shown);
    this.read.setAttribute("aria-label", t("transcript"));
    if (!editing && this.loaded) {
      // For readers the status line says which version they read.
      if (data?.version) this.setStatus("transcriptVersion", { n: data.version });
      else this.setStatus("transcriptEmpty");
    }
    // A newer version saved meanwhile.
    this.conflictBox.hidden = !this.conflict;
    if (this.conflict) {
      this.conflictNote.textContent = t("transcriptConflict", { n: this.conflict.version });
      this.conflictText.textContent = this.conflict.text;
      this.take.textContent = t("transcriptTakeLatest");
      this.keep.textContent = t("transcriptKeepMine");
    }
    // Signing, once closed.
    const signedHere = this.signed || (data?.signed_by ?? []).includes(this.me?.id);
    const canSign = state === "closed" && this.maySign() && !!data?.version && !signedHere;
    this.signBox.hidden = !canSign;
    if (canSign) {
      this.signH.textContent = t("transcriptSignHeading");
      this.signVersion.textContent = t("transcriptVersion", { n: data.version });
      this.signSha.textContent = `SHA-256: ${data.sha256}`;
      this.methodLabel.textContent = t("signMethod");
      const methods = signMethods(this.role, data.reverify_roles ?? null);
      if ([...this.method.options].map((o) => o.value).join() !== methods.join()) {
        this.method.replaceChildren(...methods.map((m) => el("option", { value: m })));
        // Closed, there is no video for the clerk to confirm on: without a confirmation made before the close,
        // the ID number is the way to sign.
        if (!myConfirmation(data, this.me?.id) && methods.includes("id_document")
          && methods[0] === "staff_confirmed") this.method.value = "id_document";
      }
      for (const o of this.method.options) o.textContent = t(`signMethod_${o.value}`);
      const byId = this.method.value === "id_document";
      this.idRow.hidden = !byId;
      this.idLabel.textContent = t("signIdDocument");
      const byClerk = this.method.value === "staff_confirmed";
      const mine = myConfirmation(data, this.me?.id);
      this.clerkNote.hidden = !byClerk;
      this.clerkNote.dataset.confirmed = String(!!mine);
      if (mine) {
        const by = this.people.find((p) => p.id === mine.confirmed_by)?.name ?? roleLabel("clerk");
        this.clerkNote.textContent = t("signConfirmedBy", { name: by, time: clock(mine.expires_at) });
      } else {
        this.clerkNote.textContent = t("signNoVideoAfterClose");
      }
      this.signButton.textContent = t("sign");
      this.signButton.disabled = this.signing || (byClerk && !mine);
    }
    this.renderReverify();
    const clerkWaits = this.renderConfirm(); // a confirmed person has yet to sign
    this.keepPolling(clerkWaits
      || (canSign && this.method.value === "staff_confirmed" && !myConfirmation(data, this.me?.id)));
    this.signedNote.hidden = !signedHere;
    if (signedHere) {
      const locale = currentLang() === "en" ? "en-GB" : "zh-CN";
      this.signedNote.textContent = this.signed
        ? t("signedAt", { when: new Date(this.signed.signed_at).toLocaleString(locale), n: this.signed.version })
        : t("signedAlready");
    }
    const pending = data?.pending?.length ?? 0;
    this.pending.hidden = state !== "closed" || !data?.version;
    this.pending.textContent = data?.complete ? t("transcriptComplete") : t("transcriptPending", { n: pending });
    this.pdf.textContent = t("downloadPdf");
    this.pdf.disabled = !data?.version;
  }

  /** The clerk's list: whom they may confirm now (still to sign, in the room), each with a confirm button.
   *  Returns whether someone confirmed has yet to sign (the list then follows the transcript by polling). */
  renderConfirm() {
    const data = this.data;
    const show = this.loaded && mayConfirm(this.role, this.roomState?.state) && !!data;
    this.confirmBox.hidden = !show;
    if (!show) return false;
    this.confirmH.textContent = t("confirmHeading");
    this.confirmHint.textContent = t("confirmHint");
    const targets = confirmTargets(data, this.people, this.me?.id);
    // Rebuilt only when something shown changes: render() runs on every roster change, and a button replaced
    // under the pointer would swallow the click.
    const key = JSON.stringify([currentLang(), [...this.confirming],
      targets.map(({ person, confirmation }) => [person.id, person.name, confirmation?.expires_at ?? null])]);
    const waiting = targets.some((x) => x.confirmation);
    if (key === this.confirmKey) return waiting;
    this.confirmKey = key;
    if (!targets.length) {
      this.confirmList.replaceChildren(el("li", { class: "c-empty" }, t("confirmNobody")));
      return waiting;
    }
    this.confirmList.replaceChildren(...targets.map(({ person, confirmation }) => {
      const li = el("li", { "data-confirm-participant": person.id, "data-confirmed": String(!!confirmation) });
      const who = el("span", { class: "tv-who" }, `${person.name} · ${roleLabel(person.role)}`);
      const state = el("span", { class: "c-hint tv-state" },
        confirmation ? t("confirmedUntil", { time: clock(confirmation.expires_at) }) : "");
      const button = el("button", { type: "button", "data-action": "confirm-identity", "data-participant": person.id },
        t(confirmation ? "confirmAgain" : "confirmIdentity"));
      button.disabled = this.confirming.has(person.id);
      li.append(who, state, button);
      return li;
    }));
    return waiting;
  }

  /** The editors' re-verification rule: a checkbox per signing role, ticked as the rule in force says (while a
   *  change is being saved they stay as ticked, disabled). */
  renderReverify() {
    const data = this.data;
    const show = this.loaded && !!data && EDITORS.includes(this.role);
    this.reverifyBox.hidden = !show;
    if (!show) return;
    const editable = mayConfigureReverify(this.role, this.roomState?.state, data.frozen);
    const choices = reverifyChoices(data);
    this.reverifyLegend.textContent = t("reverifyHeading");
    this.reverifyHint.textContent = editable ? t("reverifyHint") : t(data.frozen ? "reverifyFrozen" : "reverifyLocked");
    this.reverifyBox.dataset.roles = (data.reverify_roles ?? []).join(" ");
    this.reverifyBox.dataset.saving = String(this.reverifySaving);
    // Rebuilt only when the roles offered (or the language) change, so a box is never replaced under the pointer.
    const key = JSON.stringify([currentLang(), choices.map((c) => c.role)]);
    if (key !== this.reverifyKey) {
      this.reverifyKey = key;
      this.reverifyRoles.replaceChildren(...choices.map(({ role }) => {
        const label = el("label", { class: "tr-role" });
        label.append(el("input", { type: "checkbox", "data-reverify-role": role }), ` ${roleLabel(role)}`);
        return label;
      }));
    }
    for (const box of this.reverifyRoles.querySelectorAll("input[data-reverify-role]")) {
      if (!this.reverifySaving) box.checked = choices.some((c) => c.role === box.dataset.reverifyRole && c.checked);
      box.disabled = !editable || this.reverifySaving;
    }
    this.reverifyDefault.textContent = t("reverifyDefault");
    this.reverifyDefault.hidden = !editable;
    this.reverifyDefault.disabled = this.reverifySaving;
    this.reverifyStatus.textContent = this.reverifySaving ? t("reverifySaving")
      : (this.reverifyStatusKey ? t(this.reverifyStatusKey) : "");
  }

  tickedRoles() {
    return [...this.reverifyRoles.querySelectorAll("input[data-reverify-role]:checked")]
      .map((b) => b.dataset.reverifyRole);
  }

  /** PUT /transcript/reverification: `roles` must re-verify before signing (null: the court's default). */
  async saveReverify(roles) {
    if (this.reverifySaving) return;
    this.reverifySaving = true;
    this.reverifyStatusKey = null;
    this.renderReverify();
    try {
      const out = await this.api("PUT", "/transcript/reverification", { roles });
      if (this.data) this.data = { ...this.data, reverify_roles: out.roles };
      this.reverifyStatusKey = out.default ? "reverifyDefaultSaved" : "reverifySaved";
      this.showError("");
    } catch (e) {
      this.showError(e.message); // as the server says it (e.g. not_a_signer, frozen)
      if (e.status === 409) await this.refresh({ quiet: true }); // signing has begun: show the rule as it stays
    } finally {
      this.reverifySaving = false;
      this.render();
    }
  }

  /** Re-read the transcript every CONFIRM_POLL_MS while a confirmation or the signature relying on it is awaited
   *  (no signalling event announces either). */
  keepPolling(waiting) {
    if (waiting && this.open && !this.poll) {
      this.poll = setInterval(() => {
        if (!this.open) this.keepPolling(false);
        else if (!this.signing) this.refresh({ quiet: true });
      }, CONFIRM_POLL_MS);
    } else if ((!waiting || !this.open) && this.poll) {
      clearInterval(this.poll);
      this.poll = 0;
    }
  }

  async confirmIdentity(participantId) {
    this.confirming.add(participantId);
    this.renderConfirm();
    try {
      await this.api("POST", "/transcript/confirmations", { participant_id: participantId });
      this.showError("");
      await this.refresh();
    } catch (e) {
      this.showError(e.message);
    } finally {
      this.confirming.delete(participantId);
      this.renderConfirm();
    }
  }

  async onClick(ev) {
    const b = ev.target.closest("button[data-action]");
    if (!b || b.disabled || !this.panel.contains(b)) return;
    switch (b.dataset.action) {
      case "take-latest": {
        const c = this.conflict;
        this.conflict = null;
        this.version = c.version;
        this.savedText = c.text;
        this.text.value = c.text;
        this.setStatus("transcriptTook", { n: c.version });
        await this.refresh();
        break;
      }
      case "keep-mine": {
        // Ours goes on top of the newer version (its words are lost unless merged by hand first).
        this.version = this.conflict.version;
        this.savedText = this.conflict.text;
        this.conflict = null;
        this.render();
        await this.saveNow();
        break;
      }
      case "sign": await this.sign(); break;
      case "confirm-identity": await this.confirmIdentity(b.dataset.participant); break;
      case "reverify-default": await this.saveReverify(null); break;
      case "download-pdf": await this.downloadPdf(); break;
      default: break;
    }
  }

  async sign() {
    const data = this.data;
    if (!data) return;
    const method = this.method.value;
    if (method === "id_document" && !this.idDoc.value.trim()) {
      this.showError(t("signNeedId"));
      this.idDoc.focus();
      return;
    }
    this.signing = true;
    this.signButton.disabled = true;
    try {
      this.signed = await this.api("POST", "/transcript/sign", signBody({ sha256: data.sha256, method,
        idDocument: this.idDoc.value }));
      this.idDoc.value = "";
      this.showError("");
      await this.refresh();
    } catch (e) {
      this.showError(e.message);
      // e.g. the confirmation expired meanwhile, or the editors changed who must re-verify since we loaded
      if (["stale_hash", "not_confirmed", "bad_confirmer", "reverification_required"].includes(e.data?.error)) {
        await this.refresh().then(() => this.showError(e.message));
      }
    } finally {
      this.signing = false;
      this.render();
    }
  }

  async downloadPdf() {
    try {
      const blob = await this.download("/transcript.pdf");
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: "transcript.pdf" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this.showError("");
    } catch (e) {
      this.showError(e.message);
    }
  }
}
