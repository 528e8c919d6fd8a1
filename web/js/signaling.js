// The signalling session: one WebSocket at a time, `join` then `resume` across drops (docs/protocol.md).
//
// Events (EventTarget):
//   "message"  detail: a server message (every type except ping/pong)
//   "status"   detail: {phase, code?, reason?, attempt?}
//       phase: "connecting" (before the first `joined`, or re-joining), "joined", "reconnecting",
//              "ended" (left, grace window over, replaced...), "error" (refused: the link cannot work)

/** What to do after the socket closed with `code` (protocol.md, "Close codes"). Pure: unit-tested. */
export function closeAction(code) {
  switch (code) {
    case 1000: return "ended";            // left (or the server ended the session)
    case 4010: return "ended";            // replaced by a newer connection of the same person
    case 4013: return "ended";            // removed by the court
    case 1009: case 4000: case 4001: case 4002: case 4003: case 4004: case 4005: case 4006: case 4012:
      return "error";                     // the link or the client cannot work: show why, stop
    case 4007: return "rejoin";           // resume failed: join again with the join token
    case 4015: return "redirect";         // the room lives on another node: connect there at once
    case 4008: return "resume-slow";      // rate limited: slow down, then resume
    default: return "resume";             // 1001, 1006, 1011, 4009, 4014, anything unknown: take the place back
  }
}

/** Delay before reconnect attempt n (0-based): quick first, then backing off, with jitter. Pure. */
export function backoffMs(attempt, random = Math.random) {
  const base = Math.min(4000, 250 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** The URL to connect to after a close with `action` (from closeAction): a redirect goes to the room's owner
 * node, anything else back to the entry URL (the proxy), which routes to the room's owner now — after the owner
 * died that is the node the room was re-placed on, so a client never keeps knocking on a dead node. Pure. */
export function urlAfterClose(action, entryUrl, currentUrl) {
  return action === "redirect" ? currentUrl : entryUrl;
}

const PING_EVERY_MS = 15000;
const SILENCE_LIMIT_MS = 40000;   // no frame at all for this long: the link is dead even if TCP has not noticed
const OPEN_TIMEOUT_MS = 10000;
const JOINED_TIMEOUT_MS = 15000;

export class Signaling extends EventTarget {
  constructor({ room, joinToken, resume = null, url = null }) {
    super();
    this.room = room;
    this.joinToken = joinToken;
    this.resumeToken = resume?.token ?? null;
    this.graceMs = resume?.graceMs ?? 30000;
    this.url = url ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/${encodeURIComponent(room)}`;
    this.entryUrl = this.url;   // where every reconnect starts again, except a redirect's (urlAfterClose)
    this.ws = null;
    this.joined = false;        // the current socket has been admitted
    this.everJoined = !!resume; // we hold (or held) a place in the room
    this.droppedAt = resume ? Date.now() : 0;
    this.attempt = 0;
    this.done = false;
    this.lastHeard = 0;
    this._timers = new Set();
    this._ping = null;
    this._onOnline = () => { if (!this.done && !this.ws) this._connectNow(); };
    this._onOffline = () => { if (this.ws && !this.done) this._drop(1006, "offline"); };
    window.addEventListener("online", this._onOnline);
    window.addEventListener("offline", this._onOffline);
  }

  start() { this._connectNow(); }

  get open() { return this.joined && this.ws?.readyState === WebSocket.OPEN; }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN && (this.joined || msg.type === "join" || msg.type === "resume")) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /** Leave on purpose: others see `participant-left` (reason left). */
  leave() {
    if (this.done) return;
    this.send({ type: "leave" });
    this._finish("ended", 1000, "left");
    const ws = this.ws;
    this._detach();
    // Give the leave a moment to flush before closing our side.
    if (ws) setTimeout(() => { try { ws.close(1000, "left"); } catch { /* already closed */ } }, 300);
  }

  /** Stop without telling the server (page unload): the place is kept for the grace window. */
  stop() {
    this._finish(null);
    const ws = this.ws;
    this._detach();
    try { ws?.close(1000); } catch { /* ignore */ }
  }

  // ---- internals -------------------------------------------------------------------------------------------

  _status(phase, extra = {}) {
    this.dispatchEvent(new CustomEvent("status", { detail: { phase, ...extra } }));
  }

  _later(fn, ms) {
    const id = setTimeout(() => { this._timers.delete(id); fn(); }, ms);
    this._timers.add(id);
    return id;
  }

  _clearTimers() {
    for (const id of this._timers) clearTimeout(id);
    this._timers.clear();
  }

  _connectNow() {
    if (this.done) return;
    this._clearTimers();
    this._detach();
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this._drop(1006, String(e));
      return;
    }
    this.ws = ws;
    this.joined = false;
    const openTimer = this._later(() => { if (this.ws === ws) this._drop(1006, "open timeout"); }, OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(openTimer);
      this._timers.delete(openTimer);
      this.lastHeard = Date.now();
      const first = this.resumeToken
        ? { type: "resume", v: 1, resume_token: this.resumeToken }
        : { type: "join", v: 1, token: this.joinToken };
      ws.send(JSON.stringify(first));
      this._later(() => { if (this.ws === ws && !this.joined) this._drop(1006, "no answer to join"); },
        JOINED_TIMEOUT_MS);
    };
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this._onMessage(msg);
    };
    ws.onclose = (ev) => { if (this.ws === ws) this._closed(ev.code, ev.reason); };
    ws.onerror = () => { /* a close event follows */ };
  }

  _onMessage(msg) {
    if (msg.type === "ping") { this.send({ type: "pong", id: msg.id ?? null }); return; }
    if (msg.type === "pong") return;
    if (msg.type === "redirect") {
      // Only a ws(s) URL for this same room; the close (4015) that follows reconnects there.
      if (/^wss?:\/\//.test(msg.url) && msg.url.endsWith(`/ws/${encodeURIComponent(this.room)}`)) this.url = msg.url;
      return;
    }
    if (msg.type === "joined") {
      this.redirects = 0;
      this.joined = true;
      this.everJoined = true;
      this.resumeToken = msg.resume_token;
      this.graceMs = msg.resume_grace_seconds * 1000;
      this.droppedAt = 0;
      this.attempt = 0;
      clearTimeout(this._graceTimer);
      this._startPing();
    }
    // A refusal before `joined` explains the close that follows; later errors answer single messages.
    if (msg.type === "error" && !this.joined) this.lastError = msg;
    this.dispatchEvent(new CustomEvent("message", { detail: msg }));
    if (msg.type === "joined") this._status("joined", { resumed: !!msg.resumed });
  }

  _startPing() {
    clearInterval(this._ping);
    this._ping = setInterval(() => {
      if (!this.ws || this.done) return;
      if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) { this._drop(1006, "silent"); return; }
      this.send({ type: "ping", id: Date.now() });
    }, PING_EVERY_MS);
  }

  _detach() {
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.ws = null;
    this.joined = false;
  }

  /** The link died without a close frame we can trust: treat as 1006 now instead of waiting for TCP. */
  _drop(code, reason) {
    const ws = this.ws;
    this._detach();
    try { ws?.close(4000 + 999, "client drop"); } catch { /* not open yet */ }
    this._closed(code, reason);
  }

  _closed(code, reason) {
    this._detach();
    clearInterval(this._ping);
    if (this.done) return;
    const action = closeAction(code);
    this.url = urlAfterClose(action, this.entryUrl, this.url);
    // The refusal before the close (an `error` {code, reason, params}) is what the page translates; the close
    // frame's own reason is an English sentence for logs (the court's own words follow its first ": ").
    const refusal = this.lastError;
    const serverReason = reason || "";
    this.lastError = null;
    if (action === "ended" || action === "error") {
      this._finish(action, code, serverReason, { refusal });
      return;
    }
    if (action === "redirect" && (this.redirects = (this.redirects ?? 0) + 1) <= 3) {
      this._later(() => this._connectNow(), 0);  // no backoff: the owner node is up
      return;
    }
    if (action === "rejoin") {
      if (!this.joinToken) { this._finish("ended", code, serverReason); return; }
      this.resumeToken = null;
      this.droppedAt = 0;
      this._status("connecting", { code, reason: serverReason, rejoin: true });
      this._later(() => this._connectNow(), backoffMs(0));
      return;
    }
    if (this.everJoined && this.resumeToken) {
      if (!this.droppedAt) {
        this.droppedAt = Date.now();
        // However the attempts go (a connection attempt may hang), the place is gone when the window closes.
        clearTimeout(this._graceTimer);
        this._graceTimer = setTimeout(() => {
          if (!this.done && !this.joined && this.droppedAt) this._finish("ended", code, "grace", { graceOver: true });
        }, this.graceMs + 50);
      }
      if (Date.now() - this.droppedAt > this.graceMs) {
        this._finish("ended", code, "grace", { graceOver: true });
        return;
      }
      this._status("reconnecting", { code, reason: serverReason, attempt: this.attempt });
    } else {
      this._status("connecting", { code, reason: serverReason, attempt: this.attempt, unreachable: code === 1006 });
    }
    let delay = backoffMs(this.attempt++);
    if (action === "resume-slow") delay = Math.max(delay, 5000);
    if (this.droppedAt) delay = Math.min(delay, Math.max(0, this.droppedAt + this.graceMs - Date.now()) + 10);
    this._later(() => {
      if (this.droppedAt && this.resumeToken && Date.now() - this.droppedAt > this.graceMs) {
        this._finish("ended", code, "grace", { graceOver: true });
        return;
      }
      this._connectNow();
    }, delay);
  }

  _finish(phase, code, reason, extra = {}) {
    this.done = true;
    this._clearTimers();
    clearTimeout(this._graceTimer);
    if (phase === "ended" && extra.graceOver && this.ws) {
      const ws = this.ws;
      this._detach();
      try { ws.close(1000); } catch { /* still connecting */ }
    }
    clearInterval(this._ping);
    window.removeEventListener("online", this._onOnline);
    window.removeEventListener("offline", this._onOffline);
    if (phase) this._status(phase, { code, reason, ...extra });
  }
}
