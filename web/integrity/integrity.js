// Integrity code pages: the person's code, the agency query and the judges' appeal queue.
// User-supplied text is only ever set with textContent; the QR is the server's own SVG.
"use strict";
const IntegrityPages = (() => {
  const $ = (id) => document.getElementById(id);
  const COLOURS = { green: "绿 green", yellow: "黄 yellow", red: "红 red", none: "不评 not scored" };
  // The server's limits (integrity/evidence.py), checked here only to spare a long upload that would be refused.
  const MAX_FILES = 10;
  const MAX_FILE_BYTES = 10 * 1024 * 1024;

  function sizeLabel(bytes) {
    return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${bytes} bytes`;
  }

  // Refusals read as the code's translation (js/i18n.js, Chinese by default), never the server's English sentence.
  async function refusal(body) {
    const { errorText } = await import("/static/js/i18n.js");
    return new Error(errorText(body));
  }

  async function call(path, options = {}) {
    let response;
    try {
      response = await fetch(`/api/integrity${path}`, { credentials: "same-origin", ...options });
    } catch {
      throw await refusal({ error: "network" });
    }
    const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
    if (!response.ok) throw await refusal(body?.error ? body : { error: "unknown_code", code: response.status });
    return body;
  }

  function row(table, cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.append(cell); else td.textContent = cell ?? "";
      tr.append(td);
    }
    $(table).querySelector("tbody").append(tr);
  }

  function badge(colour) {
    const el = $("colour");
    el.className = `badge ${colour || "none"}`;
    el.textContent = COLOURS[colour || "none"];
  }

  async function person() {
    const access = new URLSearchParams(location.hash.slice(1)).get("access");
    if (!access) { $("status").textContent = "Open the link the court gave you."; return; }
    const headers = { "X-Integrity-Access": access };
    const disputed = new Set();
    try {
      const code = await call("/me", { headers });
      const activity = await call("/me/activity", { headers });
      badge(code.colour);
      $("score").textContent = code.score ?? "—";
      $("valid").textContent = new Date(code.valid_until).toLocaleString();
      $("ruleset").textContent = code.ruleset_version;
      $("qr").innerHTML = code.qr_svg;
      $("token").textContent = code.verification_code;
      for (const r of code.reasons) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.onchange = () => r.fact_ids.forEach((id) => (box.checked ? disputed.add(id) : disputed.delete(id)));
        row("reasons", [r.code, r.points, r.case_numbers.join(", "), r.expires_on || "until lifted", box]);
      }
      for (const q of activity.queries) {
        row("queries", [new Date(q.at).toLocaleString(), q.agency, q.scope, q.purpose, q.colour || "none"]);
      }
      showAppeals(activity.appeals);
      $("code").hidden = false;
      $("status").textContent = "";
    } catch (err) { $("status").textContent = err.message; return; }
    $("appeal").onsubmit = async (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      const files = form.getAll("files").filter((f) => f instanceof File && f.name);
      const tooBig = files.find((f) => f.size > MAX_FILE_BYTES);
      if (files.length > MAX_FILES || tooBig) {
        $("appeal-status").textContent = tooBig
          ? `${tooBig.name} is over ${sizeLabel(MAX_FILE_BYTES)}; scan it at a lower resolution or split it.`
          : `Attach at most ${MAX_FILES} files; combine pages into one PDF.`;
        return;
      }
      // One multipart request: the appeal is filed with all its files or, if any is refused, not at all.
      const body = new FormData();
      body.append("kind", form.get("kind"));
      body.append("text", form.get("text"));
      for (const id of disputed) body.append("fact_ids", id);
      for (const line of String(form.get("evidence") || "").split("\n")) if (line.trim()) body.append("evidence", line);
      for (const file of files) body.append("files", file, file.name);
      $("appeal-status").textContent = files.length ? "Uploading…" : "Filing…";
      try {
        const filed = await call("/me/appeals", { method: "POST", headers, body });
        $("appeal-status").textContent = `Filed with ${filed.files.length} file(s): a judge will decide.`;
        event.target.reset();
        showAppeals((await call("/me/activity", { headers })).appeals);
      } catch (err) { $("appeal-status").textContent = err.message; }
    };
  }

  function showAppeals(appeals) {
    $("appeals").replaceChildren();
    for (const a of appeals) {
      const li = document.createElement("li");
      li.textContent = `${a.filed_at.slice(0, 10)} ${a.kind}: ${a.status}${a.decision ? ` — ${a.decision}` : ""}`;
      if (a.files.length) {
        const files = document.createElement("ul");
        files.className = "files";
        for (const f of a.files) {
          const item = document.createElement("li");
          item.textContent = `${f.name} (${sizeLabel(f.size)})`;
          files.append(item);
        }
        li.append(files);
      }
      $("appeals").append(li);
    }
  }

  function agency() {
    $("query").onsubmit = async (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      $("status").textContent = "";
      try {
        const answer = await call("/agency/query", { method: "POST",
          headers: { "X-Agency-Key": form.get("key"), "Content-Type": "application/json" },
          body: JSON.stringify({ person_id: form.get("person_id"), scope: form.get("scope"),
            purpose: form.get("purpose") }) });
        badge(answer.colour);
        $("valid").textContent = new Date(answer.valid_until).toLocaleString();
        $("token").textContent = answer.verification_code;
        $("answer").hidden = false;
      } catch (err) { $("answer").hidden = true; $("status").textContent = err.message; }
    };
  }

  async function appeals() {
    let queue;
    try { queue = await call("/appeals"); } catch (err) { $("status").textContent = err.message; return; }
    $("status").textContent = queue.length ? "" : "No pending appeals.";
    for (const a of queue) {
      const li = document.createElement("li");
      const text = document.createElement("p");
      text.textContent = `${a.filed_at.slice(0, 10)} · ${a.kind} · person ${a.person_id}: ${a.text}`;
      const evidence = document.createElement("p");
      evidence.textContent = `Evidence: ${a.evidence.join("; ") || "none"} · facts: ${a.fact_ids.join(", ") || "none"}`;
      const files = document.createElement("ul");
      files.className = "files";
      for (const f of a.files) files.append(evidenceItem(a, f));
      const reason = document.createElement("textarea");
      reason.placeholder = "Reasons for the decision";
      const decide = (grant) => async () => {
        try {
          const out = await call(`/appeals/${encodeURIComponent(a.id)}/decision`, { method: "POST",
            headers: { "Content-Type": "application/json" }, body: JSON.stringify({ grant, decision: reason.value }) });
          li.textContent = `Decided: ${out.status}; the code is now ${out.colour || "not scored"}.`;
        } catch (err) { $("status").textContent = err.message; }
      };
      const grant = document.createElement("button"); grant.textContent = "Grant"; grant.onclick = decide(true);
      const refuse = document.createElement("button"); refuse.textContent = "Refuse"; refuse.onclick = decide(false);
      li.append(text, evidence, files, reason, grant, refuse);
      $("queue").append(li);
    }
  }

  // One evidence file in the queue: "Open" asks the API for a short-lived link (the server audits each view)
  // and shows it in a new tab; the link is also left on the page in case a popup blocker stops the tab.
  function evidenceItem(appeal, file) {
    const item = document.createElement("li");
    item.dataset.evidence = file.id;
    item.append(`${file.name} · ${file.media_type} · ${sizeLabel(file.size)} `);
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = "Open";
    const link = document.createElement("a");
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.hidden = true;
    open.onclick = async () => {
      const tab = window.open("", "_blank");  // opened on the click, so popup blockers allow it
      try {
        const grant = await call(`/appeals/${encodeURIComponent(appeal.id)}/evidence/${encodeURIComponent(file.id)}`);
        link.href = grant.url;
        link.textContent = `link valid until ${new Date(grant.expires_at).toLocaleTimeString()}`;
        link.hidden = false;
        if (tab) { tab.opener = null; tab.location.href = grant.url; }
      } catch (err) {
        if (tab) tab.close();
        $("status").textContent = err.message;
      }
    };
    item.append(open, link);
    return item;
  }

  return { person, agency, appeals };
})();

// Each page names itself on its script tag (data-page): no inline script, so the Content-Security-Policy can
// forbid inline scripts everywhere (docs/security.md).
{
  const page = document.currentScript && document.currentScript.dataset.page;
  if (page && typeof IntegrityPages[page] === "function") IntegrityPages[page]();
}
