// Building elements for the staff page: text always goes in as text, never as HTML.

export const $ = (id) => document.getElementById(id);

/** h("td", {class: "x", onclick}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Ids made by the server (hex digests, UUIDs) are never shown: "—" in their place. */
export function shownId(value) {
  return value && !/^[0-9a-f-]{16,}$/i.test(String(value)) ? String(value) : "—";
}

/** A one-time link in a read-only field with a copy button (the copy button says when it is copied). */
export function linkField(url, copyText, copiedText) {
  const input = h("input", { readonly: true, value: url, class: "link-url" });
  const copy = h("button", { type: "button", class: "copy-link" }, copyText);
  copy.onclick = async () => {
    input.select();
    try { await navigator.clipboard.writeText(url); } catch { document.execCommand?.("copy"); }
    copy.textContent = copiedText;
  };
  return h("div", { class: "row" }, input, copy);
}
