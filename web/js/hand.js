// Raise hand (举手): the button, the queue the presiding judge and clerk see (first raised first, with "lower"),
// and each person's own place in it. The server keeps the queue (`hands`); this only shows it and asks.
import { roleLabel, t } from "./i18n.js";

/** Where `me` stands in the queue (1-based), or 0. Pure. */
export function placeInQueue(queue, me) {
  const i = (queue ?? []).indexOf(me);
  return i < 0 ? 0 : i + 1;
}

const el = (tag, attrs = {}, text = null) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
};

export class HandQueue {
  /** @param send (msg) => boolean */
  constructor({ send }) {
    this.send = send;
    this.queue = [];
    this.button = el("button", { id: "hand", type: "button", "aria-pressed": "false" });
    this.button.onclick = () => this.toggle();
    this.panel = el("section", { id: "hands", "aria-labelledby": "hands-h", hidden: "" });
    this.heading = el("h3", { id: "hands-h" });
    this.list = el("ol", { class: "hand-list" });
    this.panel.append(this.heading, this.list);
    this.list.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-lower]");
      if (b) this.send({ type: "hand", raised: false, participant_id: b.dataset.lower });
    });
  }

  onHands(msg) { this.queue = msg.queue ?? []; }

  forget(pid) { this.queue = this.queue.filter((id) => id !== pid); }

  raised(me) { return placeInQueue(this.queue, me) > 0; }

  toggle() {
    const raised = this.raised(this.me);
    this.send({ type: "hand", raised: !raised });
  }

  /** ctx: {me, people: Map, actions: string[]} */
  render({ me, people, actions }) {
    this.me = me?.id;
    const mayRaise = actions.includes("raise_hand");
    const raised = this.raised(this.me);
    this.button.hidden = !mayRaise && !raised;
    this.button.setAttribute("aria-pressed", String(raised));
    const n = placeInQueue(this.queue, this.me);
    this.button.textContent = raised ? t("handLower") : t("handRaise");
    this.button.title = raised ? t("handPlace", { n }) : "";
    const lead = actions.includes("give_floor");
    this.panel.hidden = !lead || this.queue.length === 0;
    this.heading.textContent = t("handsHeading", { n: this.queue.length });
    this.list.replaceChildren(...this.queue.map((pid) => {
      const p = people.get(pid);
      const li = el("li", { "data-hand": pid }, p ? `${p.name}（${roleLabel(p.role)}）` : t("someone"));
      if (lead) li.append(" ", el("button", { type: "button", "data-lower": pid }, t("handLowerFor")));
      return li;
    }));
  }
}
