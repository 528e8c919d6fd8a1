// The staff API over fetch with the HttpOnly session cookie (credentials "same-origin"). The page never sees or keeps
// the session token, and never puts identity numbers or tokens in URLs: those go only in POST bodies.

/** An error answer of the API: HTTP status plus its JSON body ({error, message, ...}). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.error || "";
  }
}

let onUnauthorized = () => {};

/** Called whenever a request (other than login) answers 401: the session is gone, show the login form. */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function request(method, path, body) {
  const init = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, { error: "network", message: "" });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 300) }; }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, data);
    if (response.status === 401 && path !== "/api/login") onUnauthorized(err);
    throw err;
  }
  return data;
}

const q = (params) => {
  const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  return s ? `?${s}` : "";
};

export const api = {
  login: (username, password) => request("POST", "/api/login", { username, password }),
  logout: () => request("POST", "/api/logout"),
  me: () => request("GET", "/api/me"),
  hearings: (filters = {}) => request("GET", `/api/hearings${q(filters)}`),
  hearing: (id) => request("GET", `/api/hearings/${encodeURIComponent(id)}`),
  createHearing: (body) => request("POST", "/api/hearings", body),
  addParticipant: (hearingId, body) =>
    request("POST", `/api/hearings/${encodeURIComponent(hearingId)}/participants`, body),
  issueLink: (hearingId, participantId) =>
    request("POST", `/api/hearings/${encodeURIComponent(hearingId)}/participants/${encodeURIComponent(participantId)}/link`, {}),
  myLink: (hearingId) => request("POST", `/api/hearings/${encodeURIComponent(hearingId)}/my-link`, {}),
  mySeats: () => request("GET", "/api/me/seats"),
  procedure: (hearingId, transition) =>
    request("POST", `/api/hearings/${encodeURIComponent(hearingId)}/procedure`, { transition }),
  createPerson: (body) => request("POST", "/api/persons", body),
  person: (id) => request("GET", `/api/persons/${encodeURIComponent(id)}`),
  cases: () => request("GET", "/api/cases"),
  createCase: (body) => request("POST", "/api/cases", body),
  stats: (since, until) => request("GET", `/api/stats${q({ since, until })}`),
  courtStaff: () => request("GET", "/api/court-staff"),
  liveRecording: (hearingId) => request("GET", `/api/hearings/${encodeURIComponent(hearingId)}/recording/live`),
  setLiveRecording: (hearingId, on) =>
    request("PUT", `/api/hearings/${encodeURIComponent(hearingId)}/recording/live`, { on }),
  integrityLink: (personId) => request("POST", "/api/integrity/access-links", { person_id: personId }),
  revokeIntegrityLinks: (personId) => request("POST", "/api/integrity/access-links/revoke", { person_id: personId }),
  pointsLink: (personId) => request("POST", "/api/points/staff/person-tokens", { person_id: personId }),
  revokePointsLinks: (personId) => request("POST", "/api/points/staff/person-tokens/revoke", { person_id: personId }),
  agencies: () => request("GET", "/api/integrity/agencies"),
  createAgency: (name, scopes) => request("POST", "/api/integrity/agencies", { name, scopes }),
  setAgencyEnabled: (agencyId, on) =>
    request("POST", `/api/integrity/agencies/${encodeURIComponent(agencyId)}/${on ? "enable" : "disable"}`),
  audit: (filters) => request("GET", `/api/audit${q(filters)}`),
  staffNames: () => request("GET", "/api/staff-names"),
  recording: (hearingId) => request("GET", `/api/hearings/${encodeURIComponent(hearingId)}/recording`),
  recordingSegments: (hearingId, trackId, afterSeq = 0) =>
    request("GET", `/api/hearings/${encodeURIComponent(hearingId)}/recording/tracks/${encodeURIComponent(trackId)}/segments${q({ after_seq: afterSeq })}`),
};
