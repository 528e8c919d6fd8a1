// The points page: balance, history and catalogue with a redeem button. The access token arrives in the URL
// fragment (#t=...), which browsers never send to the server; it is moved to sessionStorage and the fragment cleared.
(() => {
  "use strict";
  const KEY = "points-token";
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("t")) {
    sessionStorage.setItem(KEY, fragment.get("t"));
    history.replaceState(null, "", location.pathname);
  }
  const token = sessionStorage.getItem(KEY);
  const $ = (id) => document.getElementById(id);

  function say(text, isError = false) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  async function call(method, path, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body) headers["Content-Type"] = "application/json";
    // Refusals read as the code's translation (js/i18n.js), never the server's English sentence.
    const { errorText } = await import("/static/js/i18n.js");
    let r;
    try {
      r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    } catch {
      throw new Error(errorText({ error: "network" }));
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(errorText(data.error ? data : { error: "unknown_code", code: r.status }));
    return data;
  }

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  async function redeem(item, button) {
    button.disabled = true;
    // One key per click: a retried request (flaky link) is answered with the first result, never charged twice.
    const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    try {
      const r = await call("POST", "/api/points/me/redemptions", { item_id: item.id, quantity: 1, idempotency_key: key });
      say(`已兑换 Redeemed: ${item.name} (−${r.points})`);
      await load();
    } catch (e) {
      say(e.message, true);
      button.disabled = false;
    }
  }

  async function load() {
    const [history, items] = await Promise.all([call("GET", "/api/points/me/history"), call("GET", "/api/points/catalogue")]);
    $("balance").textContent = String(history.balance);
    const hist = $("history").tBodies[0];
    hist.replaceChildren();
    for (const e of [...history.entries].reverse()) {
      const row = hist.insertRow();
      cell(row, new Date(e.at).toLocaleString());
      cell(row, e.reason_text);
      cell(row, (e.points > 0 ? "+" : "") + e.points, `num ${e.points < 0 ? "neg" : "pos"}`);
      cell(row, String(e.balance_after), "num");
    }
    const cat = $("catalogue").tBodies[0];
    cat.replaceChildren();
    for (const item of items) {
      const row = cat.insertRow();
      cell(row, item.name).title = item.description;
      cell(row, String(item.price), "num");
      cell(row, String(item.stock), "num");
      const button = document.createElement("button");
      button.textContent = "兑换 Redeem";
      button.disabled = item.stock < 1 || item.price > history.balance;
      button.addEventListener("click", () => redeem(item, button));
      row.insertCell().append(button);
    }
  }

  if (!token) {
    $("signed-out").hidden = false;
  } else {
    $("signed-in").hidden = false;
    load().catch((e) => say(e.message, true));
  }
})();
