// Connect-a-judge figures on the staff dashboard (`calls` of GET /api/stats): per court and per station, calls,
// answered, pickup rate, waiting time p50/p90 and minutes in calls. Stations are shown by name, never by id.
const pct = (x) => (x == null ? "—" : `${Math.round(x * 100)}%`);
const secs = (x) => (x == null ? "—" : `${Math.round(x)} s`);

export function renderCallStats(table, calls, t) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  if (!calls) { table.hidden = true; return; }
  table.hidden = false;
  const rows = [[t("callsAll"), calls.total, "total"],
    ...Object.entries(calls.by_court).map(([court, g]) => [court, g, "court"]),
    ...Object.values(calls.by_station).map((g) => [g.name, g, "station"])];
  for (const [name, g, kind] of rows) {
    const tr = body.insertRow();
    tr.dataset.kind = kind;
    for (const v of [name, g.calls, g.answered, pct(g.pickup_rate), secs(g.wait_p50_seconds), secs(g.wait_p90_seconds),
      g.minutes]) tr.insertCell().textContent = String(v);
  }
}
