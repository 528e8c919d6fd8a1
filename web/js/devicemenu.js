// Switching camera or microphone inside the room: the new device's track replaces the old one on the same sender
// (RTCRtpSender.replaceTrack: no renegotiation, nobody else notices more than a frame), the old track is stopped,
// and whether it is muted stays as it was.
import { listDevices, reopen } from "./devices.js";
import { t } from "./i18n.js";

const el = (tag, attrs = {}, text = null) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
};

export class DeviceMenu {
  /**
   * @param local   () => {stream, audio, video}: the tracks we publish (app.local)
   * @param medias  () => MediaSession[]: every session sending them (main room, private room)
   * @param onSwitched (kind, track) => void: the page updates its own view (self tile, enabled state)
   */
  constructor({ local, medias, onSwitched, onError }) {
    this.local = local;
    this.medias = medias;
    this.onSwitched = onSwitched;
    this.onError = onError;
    this.menu = el("div", { id: "device-menu", role: "group" });
    this.heading = el("p", { class: "dm-h" });
    this.menu.append(this.heading);
    this.selects = {};
    for (const kind of ["video", "audio"]) {
      const id = `dm-${kind}`;
      const label = el("label", { for: id });
      const select = el("select", { id, "data-kind": kind });
      select.addEventListener("change", () => this.switchTo(kind, select.value));
      this.selects[kind] = { label, select };
      this.menu.append(label, select);
    }
  }

  async fill() {
    const devices = await listDevices();
    for (const kind of ["video", "audio"]) {
      const { select } = this.selects[kind];
      const current = this.local()[kind]?.getSettings?.().deviceId ?? "";
      select.replaceChildren(...devices[kind].map((d, i) =>
        el("option", { value: d.deviceId }, d.label || t("deviceDefault", { n: i + 1 }))));
      select.value = current;
      select.disabled = !this.local()[kind] || devices[kind].length < 2;
    }
  }

  async switchTo(kind, deviceId) {
    const local = this.local();
    const old = local[kind];
    if (!old || old.getSettings?.().deviceId === deviceId) return;
    let track;
    try {
      track = await reopen(kind, deviceId);
    } catch (e) {
      this.onError?.(e);
      return;
    }
    track.enabled = old.enabled;  // muted stays muted
    for (const media of this.medias()) await media?.replaceTrack(kind, track);
    local[kind] = track;
    if (local.stream) { local.stream.removeTrack(old); local.stream.addTrack(track); }
    old.stop();
    this.onSwitched?.(kind, track);
  }

  render({ publisher }) {
    this.menu.hidden = !publisher;
    this.heading.textContent = t("devicesButton");
    this.selects.video.label.textContent = t("camera");
    this.selects.audio.label.textContent = t("microphone");
  }
}
