// 离开 for whoever may close the hearing (the presiding judge, a mediator): leaving alone must not look like the
// end of the hearing, nor the other way round. A dialog asks: leave (the hearing goes on without you; you may
// come back with your link) or end it for everyone (闭庭: the `close` transition, then leave). Everyone else
// leaves at once, as before.
import { t } from "./i18n.js";

/** What 离开 does for someone: "ask" when they may close the hearing now, else "leave". Pure: unit-tested. */
export function leaveMode(permissions) {
  return (permissions?.transitions ?? []).includes("close") ? "ask" : "leave";
}

const el = (tag, attrs = {}, text = null) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
};

/** Ask, then call `leave()` or `endForAll()`; Cancel (or Esc) does nothing. Hooks: dialog#leave-dialog with
 *  button[data-choice=leave|end|cancel]. */
export function askLeave({ leave, endForAll }) {
  document.getElementById("leave-dialog")?.remove();
  const dialog = el("dialog", { id: "leave-dialog", "aria-labelledby": "leave-dialog-h" });
  const choices = el("div", { class: "ld-choices" });
  const button = (choice, cls, key) => el("button", { type: "button", "data-choice": choice, class: cls }, t(key));
  choices.append(button("leave", "primary", "leaveJustMe"), button("end", "danger", "leaveEndForAll"),
    button("cancel", "", "leaveCancel"));
  dialog.append(el("h2", { id: "leave-dialog-h" }, t("leaveAsk")), el("p", { class: "ld-leave" }, t("leaveJustMeHint")),
    el("p", { class: "ld-end" }, t("leaveEndForAllHint")), choices);
  dialog.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-choice]");
    if (!b) return;
    dialog.close();
    dialog.remove();
    if (b.dataset.choice === "leave") leave();
    else if (b.dataset.choice === "end") endForAll();
  });
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector("button[data-choice=cancel]").focus();
  return dialog;
}
