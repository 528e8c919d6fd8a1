// The room's chat, shown in the transcript panel because it is on the record: each message of a hearing's room is
// kept and goes into the transcript (笔录) at the close (docs/protocol.md, "Room tools"). In a private room the
// chat reaches its members only and is kept nowhere; the panel says which.
import { roleLabel, t } from "./i18n.js";

export const MAX_CHAT_CHARS = 1000;

/** The clock time a message was sent, for its line (local time of the browser). Pure. */
export function sentAt(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toTimeString().slice(0, 8);
}

const el = (tag, attrs = {}, text = null) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
};

export class ChatPanel {
  /** @param send (msg) => boolean, on the connection of the room we are in (main or private) */
  constructor({ send, onUnsent }) {
    this.send = send;
    this.onUnsent = onUnsent;
    this.entries = [];      // the main room's record
    this.private = [];      // the private room's messages while we are there
    this.inPrivate = false;
    this.root = el("section", { id: "chat", "aria-labelledby": "chat-h" });
    this.heading = el("h3", { id: "chat-h" });
    this.note = el("p", { class: "c-hint chat-note" });
    this.list = el("ol", { class: "chat-list", "aria-live": "polite" });
    this.form = el("form", { class: "chat-form" });
    this.label = el("label", { for: "chat-text", class: "sr-only" });
    this.text = el("textarea", { id: "chat-text", rows: "2", maxlength: String(MAX_CHAT_CHARS) });
    this.submit = el("button", { type: "submit", class: "primary", "data-action": "chat-send" });
    this.form.append(this.label, this.text, this.submit);
    this.root.append(this.heading, this.note, this.list, this.form);
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.sendNow(); });
    this.text.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); this.sendNow(); }
    });
  }

  sendNow() {
    const text = this.text.value.trim();
    if (!text) return;
    if (this.send({ type: "chat", text })) this.text.value = "";
    else this.onUnsent?.();
  }

  onHistory(msg) { this.entries = msg.entries ?? []; }

  onMessage(msg) {
    const e = msg.entry;
    if (e.private) this.private.push(e);
    else if (!this.entries.some((x) => x.seq === e.seq)) this.entries.push(e);
  }

  setPrivate(inPrivate) {
    if (!inPrivate) this.private = [];
    this.inPrivate = inPrivate;
  }

  /** ctx: {actions} — what the room we are in lets us do. */
  render({ actions }) {
    const shown = this.inPrivate ? this.private : this.entries;
    this.heading.textContent = t("chatHeading");
    this.note.textContent = t(this.inPrivate ? "chatPrivateNote" : "chatRecordNote");
    this.label.textContent = t("chatLabel");
    this.text.placeholder = t("chatPlaceholder");
    this.submit.textContent = t("chatSend");
    const may = actions.includes("chat");
    this.form.hidden = !may;
    this.list.replaceChildren(...(shown.length ? shown.map((e) => {
      const li = el("li", { "data-chat-seq": String(e.seq), "data-from": e.participant_id });
      li.append(el("span", { class: "chat-meta" }, `${sentAt(e.sent_at)} ${roleLabel(e.role)} ${e.name}`),
        el("span", { class: "chat-text" }, e.text));
      return li;
    }) : [el("li", { class: "c-empty" }, t("chatEmpty"))]));
  }
}
