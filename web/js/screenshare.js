// Screen sharing for counsel presenting a document: getDisplayMedia, sent on its own m-line (media.js), announced
// by its mid before the offer that adds it; the SFU forwards it like a camera and the recorder records it, while
// the court's rules allow (`share_screen`: counsel, prosecutors, staff, in session). Receivers show the screen of
// whoever `screen-shared` names on the stage.

export class ScreenShare extends EventTarget {
  /** @param send (msg) => boolean; media () => MediaSession|null */
  constructor({ send, media, onError }) {
    super();
    this.send = send;
    this.media = media;
    this.onError = onError;
    this.track = null;
    this.sharer = null;      // {participant_id, track_id} from `screen-shared`
    this._wired = new WeakSet();
  }

  get sharing() { return !!this.track; }

  /** Called for each new MediaSession: its screen mid goes to the server before the offer. */
  attach(media) {
    if (!media || this._wired.has(media)) return;
    this._wired.add(media);
    media.addEventListener("screen-mid", ({ detail }) => {
      this.send({ type: "screen-share", sharing: true, mid: detail.mid });
    });
    if (this.track) media.addScreen(this.track);
  }

  async start() {
    if (this.track) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    } catch (e) {
      this.onError?.(e);
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    track.contentHint = "detail";  // text on a document: sharpness over motion
    track.addEventListener("ended", () => this.stop());  // the browser's own "stop sharing"
    this.track = track;
    await this.media()?.addScreen(track);
    this.dispatchEvent(new CustomEvent("change"));
  }

  async stop() {
    if (!this.track) return;
    const track = this.track;
    this.track = null;
    this._announced = false;
    this.send({ type: "screen-share", sharing: false });
    await this.media()?.removeScreen();
    track.stop();
    this.dispatchEvent(new CustomEvent("change"));
  }

  /** The court ended our sharing (a recess, another state): stop sending too. */
  onShared(msg, meId) {
    this.sharer = msg.participant_id ? msg : null;
    if (msg.track_id) this.media()?.markScreen(msg.track_id);
    if (msg.participant_id === meId) this._announced = true;
    else if (this.track && this._announced) this.stop();
  }
}
