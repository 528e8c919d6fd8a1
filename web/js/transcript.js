// The transcript (笔录) over the in-hearing HTTP API (hearing/api/in_hearing.py; rules: hearing/transcript.py),
// authenticated with our own join token like the exhibits (`roomApi`).
//
// The clerk and the presiding judge write it while the hearing runs (until the first signature freezes it): a
// textarea that autosaves ~1.5 s after typing stops and on blur, each save naming the version it was edited
// from (`base_version`); a newer version saved meanwhile (409 `conflict`) shows that text with a button to take
// it (or to keep ours and save it on top). Everyone else reads the latest text, fetched again on
// `transcript-updated`. Once the hearing is closed, whoever may `sign_transcript` sees the final text with its
// version and full SHA-256 and signs it: re-entering their ID number (`id_document`) or with the clerk confirming
// them on video (`staff_confirmed`, confirmed_by = the clerk's participant id). Everyone can download the PDF.
//
// Hooks: #transcript (the panel): #transcript-text (textarea, editors) or #transcript-read (read-only text),
// #transcript-status (e.g. "已保存 第2版"), #transcript-error, #transcript-conflict (.tc-text,
// button[data-action=take-latest|keep-mine]), #transcript-sign (.ts-version, .ts-sha, select[data-sign-method],
// input[data-id-document], button[data-action=sign]), #transcript-signed, button[data-action=download-pdf].
import { currentLang, t } from "./i18n.js";

/** Roles that write the transcript (hearing/transcript.py EDITORS) and the states they write in (EDIT_STATES). */
export const EDITORS = ["clerk", "presiding_judge"];
export const EDIT_STATES = ["lobby_open", "in_session", "recess", "closed"];
export const SIGN_METHODS = ["id_document", "staff_confirmed", "none"];
/** Roles that re-verify before signing unless the hearing says otherwise (hearing/transcript.py
 *  DEFAULT_REVERIFY_ROLES); the others (the court, counsel, prosecutors) are also offered "none". */
export const REVERIFY_ROLES = ["plaintiff", "defendant", "witness", "detainee", "interpreter"];

/** The identity checks offered to a role, the first being the default. Pure: unit-tested. */
export function signMethods(role) {
  return REVERIFY_ROLES.includes(role) ? ["staff_confirmed", "id_document"] : ["none", "id_document", "staff_confirmed"];
}
export const AUTOSAVE_MS = 1500;

/** May this role write the transcript now? Pure: unit-tested. (The server decides; this only picks the view.) */
export function mayEdit(role, state, frozen) {
  return EDITORS.includes(role) && EDIT_STATES.includes(state) && !frozen;
}

/** The clerk who can confirm a signer on video: an admitted clerk in the room other than us. Pure. */
export function confirmingClerk(people, meId) {
  return people.find((p) => p.role === "clerk" && p.id !== meId && p.place !== "lobby") ?? null;
}

/** The body of POST /transcript/sign. Pure: unit-tested. */
export function signBody({ sha256, method, idDocument = "", clerkId = null }) {
  const body = { sha256, method };
  if (method === "id_document") body.id_document = idDocument.trim();
  if (method === "staff_confirmed") body.confirmed_by = clerkId;
  return body;
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
    this.stale = true;        // a newer version exists than the one shown (fetch when opened)
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
    this.clerkNote = el("p", { class: "c-hint ts-clerk" });
    this.signButton = el("button", { type: "button", "data-action": "sign", class: "primary" });
    const mRow = el("div", { class: "c-actions" });
    mRow.append(this.methodLabel, this.method);
    this.signBox.append(this.signH, this.signVersion, this.signSha, mRow, this.idRow, this.clerkNote, this.signButton);
    this.signedNote = el("p", { id: "transcript-signed", class: "t-signed", role: "status", hidden: true });
    this.pending = el("p", { class: "c-hint t-pending" });
    this.pdf = el("button", { type: "button", "data-action": "download-pdf" });
    this.panel.setAttribute("aria-labelledby", "transcript-h");
    this.panel.replaceChildren(this.heading, this.status, this.error, this.conflictBox, this.textLabel, this.text,
      this.read, this.signBox, this.signedNote, this.pending, this.pdf);

    this.text.addEventListener("input", () => this.scheduleSave());
    this.text.addEventListener("blur", () => { if (this.dirty()) this.saveNow(); });
    this.method.addEventListener("change", () => this.render());
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

  async refresh() {
    try {
      this.apply(await this.api("GET", "/transcript"));
      this.showError("");
    } catch (e) {
      this.showError(e.message);
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
      const methods = signMethods(this.role);
      if ([...this.method.options].map((o) => o.value).join() !== methods.join()) {
        this.method.replaceChildren(...methods.map((m) => el("option", { value: m })));
      }
      for (const o of this.method.options) o.textContent = t(`signMethod_${o.value}`);
      const byId = this.method.value === "id_document";
      this.idRow.hidden = !byId;
      this.idLabel.textContent = t("signIdDocument");
      const clerk = confirmingClerk(this.people, this.me?.id);
      this.clerkNote.hidden = this.method.value !== "staff_confirmed";
      this.clerkNote.textContent = clerk ? t("signClerkConfirms", { name: clerk.name }) : t("signNoClerk");
      this.signButton.textContent = t("sign");
      this.signButton.disabled = this.signing || (this.method.value === "staff_confirmed" && !clerk);
    }
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
    const clerk = confirmingClerk(this.people, this.me?.id);
    this.signing = true;
    this.signButton.disabled = true;
    try {
      this.signed = await this.api("POST", "/transcript/sign", signBody({ sha256: data.sha256, method,
        idDocument: this.idDoc.value, clerkId: clerk?.id ?? null }));
      this.idDoc.value = "";
      this.showError("");
      await this.refresh();
    } catch (e) {
      this.showError(e.message);
      if (e.data?.error === "stale_hash") await this.refresh().then(() => this.showError(e.message));
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
