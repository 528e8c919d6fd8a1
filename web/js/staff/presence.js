// Where a participant is now, for the staff page's table: the register's status alone says "waiting" (未准入) for
// everyone not yet admitted, also for people who never opened their link. "候庭中" (waiting in the lobby) is only
// for those connected to the lobby now (GET /api/hearings/{id}/lobby); the others have not connected (未连线).
import { request } from "./api.js";

/** The participant ids connected to the hearing's lobby now; none when there is no live room or no right to see. */
export async function lobbyIds(hearing) {
  if (!["lobby_open", "in_session", "recess"].includes(hearing?.state) || !hearing.room_id) return new Set();
  try {
    const waiting = await request("GET", `/api/hearings/${encodeURIComponent(hearing.id)}/lobby`);
    return new Set((waiting ?? []).map((w) => w.participant_id));
  } catch {
    return new Set(); // not shown as waiting rather than a wrong "候庭中"
  }
}

/** The status label's key (LABELS.status): `waiting` only when connected to the lobby now. Pure: unit-tested. */
export function shownStatus(participant, inLobby) {
  if (participant.status !== "waiting") return participant.status;
  return inLobby.has(participant.id) ? "waiting" : "not_connected";
}
