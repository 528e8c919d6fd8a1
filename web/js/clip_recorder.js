// Records a clip from the camera and microphone with MediaRecorder, for the one resumable clip upload
// (web/js/clip_upload.js): video petitions, the recorded message a station leaves when no judge answers, and the
// asynchronous trial's recorded questions and answers (web/async/async.js).

export const MAX_SECONDS = 180;

/** Records a clip from the camera and microphone with MediaRecorder (WebM VP8/Opus where supported, else MP4). */
export class ClipRecorder {
  constructor(preview, onTick) {
    this.preview = preview;
    this.onTick = onTick;
    this.stream = null;
    this.recorder = null;
    this.chunks = [];
    this.started = 0;
    this.timer = null;
  }

  static mimeType() {
    for (const type of ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"]) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(type)) return type;
    }
    return "";
  }

  async open() {
    if (!this.stream) {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 } }, audio: true,
      });
    }
    this.preview.srcObject = this.stream;
    this.preview.muted = true;
    await this.preview.play().catch(() => {});
  }

  async start() {
    await this.open();
    const mimeType = ClipRecorder.mimeType();
    this.chunks = [];
    this.recorder = new MediaRecorder(this.stream, mimeType ? { mimeType, videoBitsPerSecond: 600_000 } : {});
    this.recorder.ondataavailable = (ev) => { if (ev.data.size) this.chunks.push(ev.data); };
    this.done = new Promise((resolve) => { this.recorder.onstop = resolve; });
    this.recorder.start(1000);
    this.started = performance.now();
    this.timer = setInterval(() => {
      const s = this.seconds();
      this.onTick(s);
      if (s >= MAX_SECONDS) this.stop();
    }, 250);
  }

  seconds() { return Math.floor((performance.now() - this.started) / 1000); }

  /** Stop and return the clip as a Blob (its type without the codecs parameter's quirks). */
  async stop() {
    clearInterval(this.timer);
    if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
    await this.done;
    const type = (this.recorder.mimeType || "video/webm").split(";")[0];
    return new Blob(this.chunks, { type });
  }

  close() {
    clearInterval(this.timer);
    for (const track of this.stream?.getTracks() || []) track.stop();
    this.stream = null;
    this.preview.srcObject = null;
  }
}
