// The pre-join check: camera preview, device pickers, a microphone level meter and a quick network check
// (timed fetches of /healthz). Resolves with the local media to publish when the person presses join.
import { LevelMeter, acquire, failureKey, listDevices, reopen } from "./devices.js";
import { onLangChange, roleLabel, t } from "./i18n.js";
import { networkVerdict } from "./quality.js";

const $ = (id) => document.getElementById(id);

/** Round trips to /healthz in ms (null = failed); the first warms the connection up and is dropped. */
export async function measureNetwork(count = 5, timeoutMs = 3000) {
  const rtts = [];
  for (let i = 0; i <= count; i++) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const t0 = performance.now();
    try {
      const r = await fetch(`/healthz?probe=${i}-${Date.now()}`, { cache: "no-store", signal: ctl.signal });
      await r.text();
      rtts.push(r.ok ? performance.now() - t0 : null);
    } catch {
      rtts.push(null);
    } finally {
      clearTimeout(timer);
    }
    if (i === 0 && rtts[0] === null) return [null]; // unreachable: do not wait for five more timeouts
  }
  return rtts.slice(1);
}

export class Prejoin {
  constructor({ claims }) {
    this.claims = claims;
    this.publisher = (claims.grants ?? []).includes("publish");
    this.local = null;
    this.meter = null;
    this.net = null;
  }

  /** Show the check; resolves with {local} when the person joins. */
  run() {
    $("prejoin-view").hidden = false;
    this._who();
    onLangChange(() => { this._who(); this._showNotice(); this._showNet(); this._joinLabel(); this._fillPickers(); });
    $("pj-devices").hidden = !this.publisher;
    $("pj-observer").hidden = this.publisher;
    $("pj-net-again").onclick = () => this.checkNetwork();
    $("pj-audio-only").onchange = () => { this._audioOnlyTouched = true; };
    $("pj-retry-devices").onclick = () => this.openDevices();
    $("pj-camera").onchange = () => this._switch("video", $("pj-camera").value);
    $("pj-mic").onchange = () => this._switch("audio", $("pj-mic").value);
    this.checkNetwork();
    if (this.publisher) this.openDevices(); else this._joinLabel();
    return new Promise((resolve) => {
      $("pj-join").onclick = () => {
        this.meter?.stop();
        this.meter = null;
        $("pj-video").srcObject = null;
        $("prejoin-view").hidden = true;
        resolve({ local: this.local, audioOnly: $("pj-audio-only").checked });
      };
    });
  }

  _who() {
    const c = this.claims;
    $("pj-who").textContent = t("joiningAs", { role: roleLabel(c.role), name: c.name ?? "" });
    $("pj-room").textContent = t("room", { room: c.room ?? "" });
  }

  async openDevices() {
    $("pj-join").disabled = true;
    for (const tr of [this.local?.audio, this.local?.video]) tr?.stop();
    this.local = await acquire();
    $("pj-video").srcObject = this.local.video ? new MediaStream([this.local.video]) : null;
    $("pj-video").classList.toggle("off", !this.local.video);
    this._startMeter();
    this.devices = await listDevices();
    this._fillPickers();
    this._showNotice();
    this._joinLabel();
    $("pj-join").disabled = false;
  }

  _startMeter() {
    this.meter?.stop();
    this.meter = null;
    const meter = $("pj-level");
    meter.value = 0;
    if (!this.local?.audio) return;
    try {
      this.meter = new LevelMeter(this.local.audio, (v) => { meter.value = v; });
    } catch (e) {
      console.warn("hearing: no level meter", e);
    }
  }

  _fillPickers() {
    if (!this.devices) return;
    const fill = (select, list, current) => {
      const options = list.map((d, i) => {
        const o = document.createElement("option");
        o.value = d.deviceId;
        o.textContent = d.label || t("deviceDefault", { n: i + 1 });
        return o;
      });
      if (options.length === 0) {
        const o = document.createElement("option");
        o.value = "";
        o.textContent = t("noDevice");
        options.push(o);
      }
      select.replaceChildren(...options);
      select.disabled = list.length === 0;
      const id = current?.getSettings?.().deviceId;
      if (id && list.some((d) => d.deviceId === id)) select.value = id;
    };
    fill($("pj-camera"), this.devices.video, this.local?.video);
    fill($("pj-mic"), this.devices.audio, this.local?.audio);
  }

  async _switch(kind, deviceId) {
    if (!deviceId || !this.local) return;
    try {
      const track = await reopen(kind, deviceId);
      const old = this.local[kind];
      if (old) { this.local.stream.removeTrack(old); old.stop(); }
      this.local[kind] = track;
      this.local.stream.addTrack(track);
      if (kind === "video") $("pj-video").srcObject = new MediaStream([track]);
      else this._startMeter();
      this.local.mode = this.local.audio && this.local.video ? "full" : this.local.audio ? "audio" : "watch";
      this._showNotice();
      this._joinLabel();
    } catch (e) {
      console.warn("hearing: device switch failed", e);
    }
  }

  _showNotice() {
    const n = $("pj-notice");
    const retry = $("pj-retry-devices");
    if (!this.publisher || !this.local) { n.textContent = ""; retry.hidden = true; return; }
    const { mode } = this.local;
    if (mode === "full") { n.textContent = ""; retry.hidden = true; return; }
    const why = t(failureKey(mode === "audio" ? this.local.videoError : this.local.audioError));
    n.textContent = t(mode === "audio" ? "camDenied" : "allDenied", { why });
    retry.hidden = false;
  }

  _joinLabel() {
    const mode = this.publisher ? this.local?.mode ?? "full" : "watch";
    $("pj-join").textContent = t(!this.publisher || mode === "full" ? "join"
      : mode === "audio" ? "joinAudioOnly" : "joinWatchOnly");
  }

  async checkNetwork() {
    this.net = null;
    this._showNet();
    $("pj-net-again").disabled = true;
    this.net = networkVerdict(await measureNetwork());
    $("pj-net-again").disabled = false;
    if (this.net.level === "poor" && !this._audioOnlyTouched) $("pj-audio-only").checked = true;
    this._showNet();
  }

  _showNet() {
    const out = $("pj-net");
    if (!this.net) { out.textContent = t("netChecking"); out.dataset.level = "checking"; return; }
    out.dataset.level = this.net.level;
    out.textContent = this.net.level === "unreachable" ? t("netUnreachable")
      : t("netResult", { rtt: this.net.rtt, verdict: t({ good: "netGood", fair: "netFair", poor: "netPoor" }[this.net.level]) });
  }
}
