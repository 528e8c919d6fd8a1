// Staff tools without a screen of their own before: integrity-code and points links for a case's parties, and the
// agencies that check integrity codes (integrity/api.py, points/api.py). People are picked by name from a case's
// parties; links and an agency's key are shown once and forgotten when the view is left.
import { api } from "./api.js";
import { $, h, linkField } from "./dom.js";
import { label, localTime, t } from "./vocab.js";

const SCOPES = ["procurement", "subsidy", "licensing", "hiring"]; // integrity/service.py AgencyScope

// ---- integrity and points links -----------------------------------------------------------------------------

export async function loadLinks(ctx) {
  await ctx.loadCases();
  const ids = ctx.app.cases.flatMap((c) => c.parties.map((p) => p.person_id));
  await ctx.resolveNames(ids);
  $("links-out").hidden = true;
  renderLinks(ctx);
}

function renderLinks(ctx) {
  const cases = ctx.app.cases;
  const caseSel = $("links-case");
  const keep = caseSel.value;
  caseSel.replaceChildren(...cases.map((c) => h("option", { value: c.id }, `${c.case_number} · ${c.cause}`)));
  if (cases.some((c) => c.id === keep)) caseSel.value = keep;
  renderParties(ctx);
}

function renderParties(ctx) {
  const chosen = ctx.app.cases.find((c) => c.id === $("links-case").value);
  const parties = chosen?.parties ?? [];
  $("links-person").replaceChildren(...parties.map((p) => h("option", { value: p.person_id },
    `${ctx.nameOf(p.person_id)} · ${label("side", p.side)}`)));
  const none = !ctx.app.cases.length ? t("linksNoCases") : !parties.length ? t("linksNoParties") : "";
  $("links-none").textContent = none;
  $("links-none").hidden = !none;
  for (const id of ["links-integrity", "links-points", "links-revoke-integrity", "links-revoke-points"]) {
    $(id).disabled = !parties.length;
  }
}

async function issue(ctx, kind) {
  const personId = $("links-person").value;
  $("links-error").textContent = "";
  try {
    const name = ctx.nameOf(personId);
    let url;
    let what;
    if (kind === "integrity") {
      url = (await api.integrityLink(personId)).url;
      what = t("linksIntegrityFor", { name });
    } else {
      const out = await api.pointsLink(personId);
      url = out.link;
      what = t("linksPointsFor", { name, until: localTime(out.expires_at) });
    }
    $("links-for").textContent = what;
    $("links-field").replaceChildren(linkField(url, t("copy"), t("copied")));
    $("links-out").hidden = false;
    $("links-out").dataset.kind = kind;
  } catch (err) {
    $("links-error").textContent = ctx.errorText(err);
  }
}

async function revoke(ctx, kind) {
  const personId = $("links-person").value;
  $("links-error").textContent = "";
  try {
    const out = kind === "integrity" ? await api.revokeIntegrityLinks(personId) : await api.revokePointsLinks(personId);
    $("links-out").hidden = true;
    ctx.notice(t("linksRevoked", { n: out.revoked }));
  } catch (err) {
    $("links-error").textContent = ctx.errorText(err);
  }
}

// ---- agencies ------------------------------------------------------------------------------------------------

export async function loadAgencies(ctx) {
  ctx.app.agencies = await api.agencies();
  renderAgencies(ctx);
}

function renderAgencies(ctx) {
  const scopes = $("agency-scopes");
  const ticked = new Set([...scopes.querySelectorAll("input:checked")].map((b) => b.value));
  scopes.replaceChildren(...SCOPES.map((s) => h("div", { class: "check" },
    h("input", { type: "checkbox", id: `scope-${s}`, value: s, checked: ticked.has(s) }),
    h("label", { for: `scope-${s}` }, label("scope", s)))));
  const rows = (ctx.app.agencies ?? []).map((a) => h("tr", { dataset: { agency: a.name, disabled: String(a.disabled) } },
    h("td", {}, a.name),
    h("td", {}, SCOPES.filter((s) => a.scopes.includes(s)).map((s) => label("scope", s)).join("、")),
    h("td", {}, localTime(a.created_at)),
    h("td", {}, a.disabled ? t("agDisabled") : t("agActive")),
    h("td", {}, h("button", { type: "button", class: "agency-toggle", onclick: () => toggleAgency(ctx, a) },
      a.disabled ? t("agEnable") : t("agDisable"))),
  ));
  $("agency-table").querySelector("tbody").replaceChildren(...rows);
  $("no-agencies").hidden = rows.length > 0;
}

async function toggleAgency(ctx, agency) {
  try {
    await api.setAgencyEnabled(agency.id, agency.disabled);
    await loadAgencies(ctx);
  } catch (err) {
    ctx.notice(ctx.errorText(err));
  }
}

async function onCreateAgency(ctx, event) {
  event.preventDefault();
  $("agency-error").textContent = "";
  const name = $("agency-name").value.trim();
  const scopes = [...$("agency-scopes").querySelectorAll("input:checked")].map((b) => b.value);
  if (!scopes.length) {
    $("agency-error").textContent = t("agNeedScope");
    return;
  }
  try {
    const made = await api.createAgency(name, scopes);
    $("agency-name").value = "";
    for (const b of $("agency-scopes").querySelectorAll("input")) b.checked = false;
    await loadAgencies(ctx);
    $("agency-key-for").textContent = t("agCreated", { name });
    $("agency-key-field").replaceChildren(linkField(made.api_key, t("copy"), t("copied")));
    $("agency-key").hidden = false;
  } catch (err) {
    $("agency-error").textContent = ctx.errorText(err);
  }
}

export function wireTools(ctx) {
  $("links-case").onchange = () => { $("links-out").hidden = true; renderParties(ctx); };
  $("links-person").onchange = () => { $("links-out").hidden = true; };
  $("links-integrity").onclick = () => issue(ctx, "integrity");
  $("links-points").onclick = () => issue(ctx, "points");
  $("links-revoke-integrity").onclick = () => revoke(ctx, "integrity");
  $("links-revoke-points").onclick = () => revoke(ctx, "points");
  $("links-form").addEventListener("submit", (e) => e.preventDefault());
  $("agency-form").addEventListener("submit", (e) => onCreateAgency(ctx, e));
}

/** Forget what was shown once (links, an agency's key) when the view is left. */
export function forgetTools() {
  $("links-out").hidden = true;
  $("links-field").replaceChildren();
  $("agency-key").hidden = true;
  $("agency-key-field").replaceChildren();
}
