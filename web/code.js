// The short-code page (/c): a person types the code from the summons (or scans its QR code, which opens /c#CODE)
// and is sent to the seat's join link, where the pre-join check starts. A withdrawn or expired code says what to
// do here, before any camera check. The code in the fragment never reaches a server log and is cleared at once.
import { applyI18n, currentLang, errorText, setLang, t } from "/static/js/i18n.js";

const $ = (id) => document.getElementById(id);
const page = $("code-page");

async function resolve(code) {
  $("code-submit").disabled = true;
  $("code-error").textContent = t("codeChecking");
  try {
    let r;
    try {
      r = await fetch("/api/seat-codes/resolve", { method: "POST", cache: "no-store",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ code }) });
    } catch {
      throw { error: "network" };
    }
    const body = await r.json().catch(() => null);
    if (!r.ok) throw body?.error ? body : { error: "unknown_code", code: r.status };
    page.dataset.state = "found";
    location.replace(body.url); // /join#token=…: the join page scrubs it from the address bar
  } catch (refusal) {
    page.dataset.state = { seat_code_withdrawn: "withdrawn", seat_code_expired: "expired" }[refusal.error] ?? "error";
    page.dataset.error = refusal.error;
    $("code-error").textContent = errorText(refusal);
    $("code-submit").disabled = false;
    $("code-input").focus();
  }
}

$("code-form").addEventListener("submit", (e) => {
  e.preventDefault();
  resolve($("code-input").value);
});
$("code-lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
applyI18n(document);
document.title = `${t("codeTitle")} · Hearing`;

const fromLink = decodeURIComponent(location.hash.slice(1));
if (fromLink) {
  history.replaceState(null, "", location.pathname);
  $("code-input").value = fromLink;
  resolve(fromLink);
}
