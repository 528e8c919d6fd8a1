// The court's controls (庭审管理), shown to whoever may moderate now (permissions admit_deny, mute_others, remove
// or change_procedure_state): the lobby with identity check and admit/deny, per-person controls for the room
// (mute, back to the lobby, remove), the room lock and the procedure moves the server offers. The server decides
// everything; refusals come back as `error` and the page shows them.
//
// Hooks: [data-lobby-participant=<id>] rows (select[data-verification], button[data-action=admit|deny]),
// [data-participant-row=<id>] rows (button[data-action=mute|send-to-lobby|remove]), the confirm step of deny and
// remove (input[data-reason], button[data-action=confirm|cancel]), button[data-action=lock] (aria-pressed),
// button[data-transition=<transition>] (close and seal ask once more: data-armed); private rooms (with
// open_private_room): input[data-private-pick] per room row, input[data-private-label],
// button[data-action=open-private], and the hearing's open rooms [data-private-room=<room id>] (label,
// .c-members: who is in it) with button[data-action=close-private].
import { label, roleLabel, t } from "./i18n.js";
import { STAFF_ROLES, may } from "./roomstate.js";

export const VERIFICATION_METHODS = ["id_card_at_station", "id_card_on_video", "face_match", "known_to_court"];
const CONFIRM_TRANSITIONS = new Set(["close", "seal"]);
/** The procedure's own order (hearing/procedure.py), whatever order the server lists them in. */
export const TRANSITION_ORDER = ["open_lobby", "start_session", "recess", "resume", "close", "seal"];
const byProcedure = (a, b) => (TRANSITION_ORDER.indexOf(a) + 1 || 99) - (TRANSITION_ORDER.indexOf(b) + 1 || 99);
const ARM_MS = 5000;

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

export class StaffConsole {
  /**
   * @param root  the #console element
   * @param send  (msg) => boolean: sends a signalling message
   * @param onUnsent  called when a message could not be sent (not connected)
   */
  constructor(root, { send, onUnsent = () => {} }) {
    this.root = root;
    this.send = send;
    this.onUnsent = onUnsent;
    this.rows = new Map(); // participant id -> {li, kind: "lobby"|"room", confirm: null|"deny"|"remove", ...}
    this.armed = null;     // transition awaiting its confirmation click
    this.armTimer = 0;
    this.state = { me: null, people: [], permissions: null, roomState: null };
    this.build();
    root.addEventListener("click", (ev) => this.onClick(ev));
  }

  build() {
    this.heading = el("h2", { id: "console-h" });
    this.procH = el("h3");
    this.transitions = el("div", { class: "c-transitions" });
    this.lock = el("button", { type: "button", "data-action": "lock", "aria-pressed": "false", class: "c-lock" });
    this.lockedHint = el("p", { class: "c-hint", hidden: true });
    this.proc = el("section", { class: "c-proc" });
    this.proc.append(this.procH, this.transitions, this.lock, this.lockedHint);
    this.lobbyH = el("h3");
    this.lobbyList = el("ul", { class: "c-list", id: "console-lobby" });
    this.lobbyEmpty = el("p", { class: "c-empty" });
    this.lobby = el("section", { class: "c-lobby" });
    this.lobby.append(this.lobbyH, this.lobbyList, this.lobbyEmpty);
    this.roomH = el("h3");
    this.roomList = el("ul", { class: "c-list", id: "console-room" });
    this.roomEmpty = el("p", { class: "c-empty" });
    this.room = el("section", { class: "c-room" });
    this.room.append(this.roomH, this.roomList, this.roomEmpty);
    // Private rooms (caucus): tick people in the room list, name the room, open it; close the ones we know.
    this.privH = el("h3");
    this.privHint = el("p", { class: "c-hint" });
    const labelId = "c-private-label";
    this.privLabelFor = el("label", { for: labelId });
    this.privLabel = el("input", { type: "text", id: labelId, "data-private-label": "", maxLength: 100 });
    this.privOpen = el("button", { type: "button", "data-action": "open-private", class: "primary" });
    const form = el("div", { class: "c-actions c-private-form" });
    form.append(this.privLabelFor, this.privLabel, this.privOpen);
    this.privList = el("ul", { class: "c-list", id: "console-private" });
    this.priv = el("section", { class: "c-private" });
    this.priv.append(this.privH, this.privHint, form, this.privList);
    this.picked = new Set();
    this.root.setAttribute("aria-labelledby", "console-h");
    this.root.replaceChildren(this.heading, this.proc, this.lobby, this.room, this.priv);
    this.root.addEventListener("change", (ev) => {
      const box = ev.target.closest("input[data-private-pick]");
      if (!box) return;
      if (box.checked) this.picked.add(box.dataset.privatePick); else this.picked.delete(box.dataset.privatePick);
      this.rerender();
    });
  }

  /** Redraw from the current state. people: everyone else known (staff also see the lobby). */
  render({ me, people, permissions, roomState, privateRooms = [] }) {
    this.state = { me, people, permissions, roomState, privateRooms };
    const p = permissions;
    const admitDeny = may(p, "admit_deny");
    const locked = !!roomState?.locked;
    this.heading.textContent = t("console");

    // Procedure and lock.
    this.procH.textContent = t("consoleProcedure");
    const wanted = [...(p?.transitions ?? [])].sort(byProcedure);
    const have = new Map([...this.transitions.children].map((b) => [b.dataset.transition, b]));
    for (const [name, b] of have) if (!wanted.includes(name)) b.remove();
    if (this.armed && !wanted.includes(this.armed)) this.armed = null;
    wanted.forEach((name, i) => {
      let b = have.get(name);
      if (!b) b = el("button", { type: "button", "data-transition": name });
      if (this.transitions.children[i] !== b) this.transitions.insertBefore(b, this.transitions.children[i] ?? null);
      const armed = this.armed === name;
      b.dataset.armed = String(armed);
      b.className = armed || CONFIRM_TRANSITIONS.has(name) ? "danger" : "primary";
      b.textContent = armed ? t("confirmTransition", { label: label("transition", name) }) : label("transition", name);
    });
    this.lock.hidden = !admitDeny;
    this.lock.textContent = t("lockRoom");
    this.lock.setAttribute("aria-pressed", String(locked));
    this.lockedHint.hidden = !(admitDeny && locked);
    this.lockedHint.textContent = t("lockedHint");
    this.proc.hidden = wanted.length === 0 && !admitDeny;

    // The lobby and the room.
    const waiting = people.filter((x) => x.place === "lobby");
    const inRoom = people.filter((x) => x.place !== "lobby");
    this.lobby.hidden = !admitDeny && waiting.length === 0;
    this.lobbyH.textContent = t("consoleLobby", { n: waiting.length });
    this.lobbyEmpty.textContent = t("consoleLobbyEmpty");
    this.lobbyEmpty.hidden = waiting.length > 0;
    this.roomH.textContent = t("consoleRoom", { n: inRoom.length });
    this.roomEmpty.textContent = t("consoleRoomEmpty");
    this.roomEmpty.hidden = inRoom.length > 0;
    const seen = new Set();
    this.sync(this.lobbyList, waiting, "lobby", seen, (row, x) => this.updateLobbyRow(row, x, admitDeny, locked));
    this.sync(this.roomList, inRoom, "room", seen, (row, x) => this.updateRoomRow(row, x, p));
    for (const [id, row] of this.rows) if (!seen.has(id)) { row.li.remove(); this.rows.delete(id); }
    this.renderPrivate(p, inRoom, privateRooms);
  }

  renderPrivate(p, inRoom, privateRooms) {
    const canOpen = may(p, "open_private_room");
    for (const id of [...this.picked]) {
      if (!inRoom.some((x) => x.id === id && x.place !== "private")) this.picked.delete(id);
    }
    this.priv.hidden = !canOpen && privateRooms.length === 0;
    this.privH.textContent = t("consolePrivate");
    this.privHint.textContent = t("privatePickHint");
    this.privLabelFor.textContent = t("privateLabel");
    this.privLabel.placeholder = t("privateLabelPlaceholder");
    this.privOpen.textContent = t("openPrivate", { n: this.picked.size });
    this.privOpen.disabled = !canOpen || this.picked.size === 0;
    this.privLabel.disabled = !canOpen;
    const items = privateRooms.map((r) => {
      let li = this.privList.querySelector(`[data-private-room="${CSS.escape(r.id)}"]`);
      if (!li) {
        li = el("li", { "data-private-room": r.id });
        const who = el("span", { class: "c-who" });
        who.append(el("span", { class: "c-name" }), el("span", { class: "c-members" }));
        li.append(who, el("button", { type: "button", "data-action": "close-private", class: "danger" }));
      }
      li.querySelector(".c-name").textContent = r.label || t("privateDefaultLabel");
      const members = li.querySelector(".c-members");
      members.textContent = r.members?.length ? t("privateMembers", { names: r.members.join("、") }) : "";
      members.hidden = !r.members?.length;
      li.lastChild.textContent = t("closePrivateShort");
      li.lastChild.hidden = !canOpen;
      li.lastChild.setAttribute("aria-label", `${t("closePrivateShort")}：${r.label || t("privateDefaultLabel")}`);
      return li;
    });
    if (items.length === 0) items.push(el("li", { class: "c-empty" }, t("privateNone")));
    this.privList.replaceChildren(...items);
  }

  /** Keyed rows: a person's row survives re-renders (a chosen verification or a typed reason stays). */
  sync(list, people, kind, seen, update) {
    people.forEach((x, i) => {
      let row = this.rows.get(x.id);
      if (row && row.kind !== kind) { row.li.remove(); this.rows.delete(x.id); row = null; }
      if (!row) {
        row = kind === "lobby" ? this.lobbyRow(x) : this.roomRow(x);
        this.rows.set(x.id, row);
      }
      seen.add(x.id);
      if (list.children[i] !== row.li) list.insertBefore(row.li, list.children[i] ?? null);
      update(row, x);
    });
  }

  personCells(x) {
    const who = el("span", { class: "c-who" });
    const name = el("span", { class: "c-name" });
    const role = el("span", { class: "c-role" });
    const flags = el("span", { class: "c-flags" });
    who.append(name, role, flags);
    return { who, name, role, flags };
  }

  confirmArea() {
    const box = el("div", { class: "c-confirm", hidden: true });
    const id = `c-reason-${Math.random().toString(36).slice(2, 9)}`;
    const reasonLabel = el("label", { for: id });
    const reason = el("input", { type: "text", id, "data-reason": "", maxLength: 500 });
    const ok = el("button", { type: "button", "data-action": "confirm", class: "danger" });
    const cancel = el("button", { type: "button", "data-action": "cancel" });
    box.append(reasonLabel, reason, ok, cancel);
    return { box, reasonLabel, reason, ok, cancel };
  }

  lobbyRow(x) {
    const li = el("li", { "data-lobby-participant": x.id });
    const cells = this.personCells(x);
    const select = el("select", { "data-verification": "" });
    select.append(el("option", { value: "" }));
    for (const m of VERIFICATION_METHODS) select.append(el("option", { value: m }));
    const admit = el("button", { type: "button", "data-action": "admit", class: "primary" });
    const deny = el("button", { type: "button", "data-action": "deny", class: "danger" });
    const actions = el("div", { class: "c-actions" });
    actions.append(select, admit, deny);
    const confirm = this.confirmArea();
    li.append(cells.who, actions, confirm.box);
    return { li, kind: "lobby", id: x.id, ...cells, select, admit, deny, confirm, confirming: null };
  }

  roomRow(x) {
    const li = el("li", { "data-participant-row": x.id });
    const cells = this.personCells(x);
    const mute = el("button", { type: "button", "data-action": "mute" });
    const toLobby = el("button", { type: "button", "data-action": "send-to-lobby" });
    const remove = el("button", { type: "button", "data-action": "remove", class: "danger" });
    const pick = el("input", { type: "checkbox", "data-private-pick": x.id, class: "c-pick" });
    const actions = el("div", { class: "c-actions" });
    actions.append(pick, mute, toLobby, remove);
    const confirm = this.confirmArea();
    li.append(cells.who, actions, confirm.box);
    return { li, kind: "room", id: x.id, ...cells, pick, mute, toLobby, remove, confirm, confirming: null };
  }

  updatePerson(row, x) {
    row.person = x;
    row.li.dataset.role = x.role;
    row.name.textContent = x.name;
    row.role.textContent = roleLabel(x.role);
    const flags = [];
    if (x.place !== "lobby" && x.audio_muted) flags.push(t("micOff"));
    if (x.connection === "reconnecting") flags.push(t("away"));
    if (x.place === "private") flags.push(t("inPrivate"));
    row.flags.textContent = flags.length ? flags.join("，") : "";
    const who = t("rowActions", { name: x.name, role: roleLabel(x.role) });
    row.li.setAttribute("aria-label", who);
    const c = row.confirm;
    c.box.hidden = !row.confirming;
    c.reasonLabel.textContent = t("reasonLabel");
    c.ok.textContent = t(row.confirming === "deny" ? "confirmDeny" : "confirmRemove");
    c.cancel.textContent = t("cancel");
  }

  updateLobbyRow(row, x, admitDeny, locked) {
    this.updatePerson(row, x);
    const [pick, ...methods] = row.select.options;
    pick.textContent = t("verificationPick");
    methods.forEach((o) => { o.textContent = label("verification", o.value); });
    row.select.setAttribute("aria-label", `${t("verification")}：${x.name}`);
    row.select.disabled = !admitDeny;
    row.admit.textContent = t("admit");
    row.admit.disabled = !admitDeny || locked;
    row.deny.textContent = t("deny");
    row.deny.disabled = !admitDeny;
    row.admit.setAttribute("aria-label", `${t("admit")}：${x.name}`);
    row.deny.setAttribute("aria-label", `${t("deny")}：${x.name}`);
  }

  updateRoomRow(row, x, p) {
    this.updatePerson(row, x);
    const staff = STAFF_ROLES.includes(x.role);
    row.pick.hidden = !may(p, "open_private_room");
    row.pick.disabled = x.place === "private";
    row.pick.checked = this.picked.has(x.id);
    row.pick.setAttribute("aria-label", `${t("privatePick")}：${x.name}`);
    row.mute.hidden = !may(p, "mute_others");
    row.mute.disabled = !!x.audio_muted;
    row.mute.textContent = t("muteOther");
    row.mute.setAttribute("aria-label", `${t("muteOther")}：${x.name}`);
    row.toLobby.hidden = !may(p, "remove") || staff;
    row.toLobby.textContent = t("sendToLobby");
    row.toLobby.setAttribute("aria-label", `${t("sendToLobby")}：${x.name}`);
    row.remove.hidden = !may(p, "remove") || x.role === "presiding_judge";
    row.remove.textContent = t("remove");
    row.remove.setAttribute("aria-label", `${t("remove")}：${x.name}`);
    if (row.remove.hidden && row.confirming) row.confirming = null;
  }

  // ---- actions ----------------------------------------------------------------------------------------------

  emit(msg) {
    if (!this.send(msg)) this.onUnsent(msg);
  }

  rerender() { this.render(this.state); }

  onClick(ev) {
    const button = ev.target.closest("button");
    if (!button || !this.root.contains(button) || button.disabled) return;
    if (button.dataset.transition) { this.onTransition(button.dataset.transition); return; }
    const action = button.dataset.action;
    if (action === "open-private") {
      const ids = [...this.picked];
      if (ids.length === 0) return;
      this.emit({ type: "open-private-room", participant_ids: ids, label: this.privLabel.value.trim().slice(0, 100) });
      this.picked.clear();
      this.privLabel.value = "";
      this.rerender();
      return;
    }
    if (action === "close-private") {
      const li = button.closest("[data-private-room]");
      if (li) this.emit({ type: "close-private-room", id: li.dataset.privateRoom });
      return;
    }
    if (action === "lock") {
      this.emit({ type: "lock", locked: button.getAttribute("aria-pressed") !== "true" });
      return;
    }
    const li = button.closest("[data-lobby-participant],[data-participant-row]");
    const row = li && this.rows.get(li.dataset.lobbyParticipant ?? li.dataset.participantRow);
    if (!row) return;
    const id = row.id;
    switch (action) {
      case "admit":
        this.emit({ type: "admit", participant_id: id, verification: row.select.value || null });
        break;
      case "mute":
        this.emit({ type: "mute-participant", participant_id: id, kind: "audio" });
        break;
      case "send-to-lobby":
        this.emit({ type: "send-to-lobby", participant_id: id, reason: "" });
        break;
      case "deny": case "remove":
        row.confirming = action;
        row.confirm.reason.value = "";
        this.rerender();
        row.confirm.reason.focus();
        break;
      case "confirm": {
        const reason = row.confirm.reason.value.trim().slice(0, 500);
        if (row.confirming) this.emit({ type: row.confirming, participant_id: id, reason });
        row.confirming = null;
        this.rerender();
        break;
      }
      case "cancel":
        row.confirming = null;
        this.rerender();
        break;
      default:
        break;
    }
  }

  onTransition(name) {
    clearTimeout(this.armTimer);
    if (CONFIRM_TRANSITIONS.has(name) && this.armed !== name) {
      // Closing and sealing cannot be undone: ask once more on the same button.
      this.armed = name;
      this.armTimer = setTimeout(() => { this.armed = null; this.rerender(); }, ARM_MS);
      this.rerender();
      return;
    }
    this.armed = null;
    this.emit({ type: "procedure", transition: name });
    this.rerender();
  }
}
