// Times of the asynchronous trial's pages, in the court's time zone (Asia/Shanghai), in the page's language.
import { currentLang } from "/static/js/i18n.js";

export function when(iso) {
  return new Date(iso).toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN",
    { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

/** A deadline is the exclusive end of its last working day (midnight): shown as that day's last minute. */
export function dueText(iso) { return when(new Date(Date.parse(iso) - 60_000).toISOString()); }
