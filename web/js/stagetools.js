// The stage's own tools: the elapsed-time clock (since the hearing entered its state: `room-state.since`), full
// screen, pinning a tile for oneself and the chair's spotlight for everyone (`spotlighted`).

/** "hh:mm:ss" from milliseconds (never negative). Pure. */
export function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/** Who takes the stage: one's own pin first, else the chair's spotlight, if that person is still here. Pure. */
export function focusOf({ pinned, spotlit, present }) {
  if (pinned && present.has(pinned)) return pinned;
  if (spotlit && present.has(spotlit)) return spotlit;
  return null;
}

const CLOCK_STATES = new Set(["in_session", "recess", "lobby_open"]);

export class StageTools {
  constructor({ t, onChange }) {
    this.t = t;
    this.onChange = onChange;
    this.pinned = null;
    this.spotlit = null;
    this.since = null;
    this.state = null;
    this.clock = document.createElement("p");
    this.clock.id = "elapsed";
    this.clock.setAttribute("role", "timer");
    this.clock.hidden = true;
    this.fullscreen = document.createElement("button");
    this.fullscreen.id = "fullscreen";
    this.fullscreen.type = "button";
    this.fullscreen.onclick = () => this.toggleFullscreen();
    this.spotlightButton = document.createElement("button");
    this.spotlightButton.id = "spotlight";
    this.spotlightButton.type = "button";
    this.spotlightButton.hidden = true;
    this._timer = setInterval(() => this.tick(), 1000);
    document.addEventListener("fullscreenchange", () => this.render());
  }

  /** A click on a tile pins it for us (a second click unpins). */
  wire(...containers) {
    for (const c of containers) {
      c.addEventListener("click", (ev) => {
        const tile = ev.target.closest("[data-tile-for]");
        if (!tile || tile.dataset.tileFor === "self") return;
        this.pin(this.pinned === tile.dataset.tileFor ? null : tile.dataset.tileFor);
      });
    }
  }

  pin(id) { this.pinned = id; this.onChange?.(); }

  onSpotlight(msg) { this.spotlit = msg.participant_id ?? null; }

  onRoomState(msg) { this.since = msg.since ? Date.parse(msg.since) : null; this.state = msg.state; this.tick(); }

  focus(present) { return focusOf({ pinned: this.pinned, spotlit: this.spotlit, present }); }

  tick() {
    const on = this.since != null && CLOCK_STATES.has(this.state);
    this.clock.hidden = !on;
    if (!on) return;
    const key = { in_session: "clockSession", recess: "clockRecess", lobby_open: "clockLobby" }[this.state];
    this.clock.textContent = this.t(key, { time: elapsed(Date.now() - this.since) });
  }

  async toggleFullscreen() {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await document.documentElement.requestFullscreen({ navigationUI: "hide" });
    } catch (e) {
      console.warn("hearing: full screen refused", e);
    }
    this.render();
  }

  render(opts = {}) {
    const full = !!document.fullscreenElement;
    this.fullscreen.textContent = this.t(full ? "fullscreenExit" : "fullscreenEnter");
    this.fullscreen.setAttribute("aria-pressed", String(full));
    if (opts.send) this._send = opts.send;
    if ("mayGiveFloor" in opts) this._lead = opts.mayGiveFloor;
    // The chair puts whoever they pinned in everyone's main view, or ends the spotlight.
    const target = this.pinned && this.pinned !== this.spotlit ? this.pinned : null;
    this.spotlightButton.hidden = !this._lead || (!target && !this.spotlit);
    this.spotlightButton.textContent = this.t(target ? "spotlightFor" : "spotlightEnd");
    this.spotlightButton.onclick = () => this._send?.({ type: "spotlight", participant_id: target });
    this.tick();
  }
}
