// Camera and microphone: acquire with fallbacks (full → audio only → watch only), list devices, measure level.

// 960x540 is the smallest capture from which the browser sends all three simulcast layers (media.js SIMULCAST):
// each subscriber gets the one layer its link carries (240x135, 480x270 or 960x540), so a village link costs
// nobody else anything; the browser stops the upper layers by itself when our own uplink is short.
export const VIDEO_CONSTRAINTS = { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 24, max: 30 } };
export const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/** Why a getUserMedia call failed, as a message key. Pure. */
export function failureKey(err) {
  switch (err?.name) {
    case "NotAllowedError": case "SecurityError": return "whyDenied";
    case "NotFoundError": case "OverconstrainedError": return "whyMissing";
    case "NotReadableError": case "AbortError": return "whyBusy";
    case "InsecureContextError": return "whyInsecure";
    default: return "whyOther";
  }
}

function constraints(kind, deviceId) {
  const base = kind === "video" ? VIDEO_CONSTRAINTS : AUDIO_CONSTRAINTS;
  return deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
}

/**
 * Get what can be had: {stream, audio, video, mode: "full"|"audio"|"watch", videoError, audioError}.
 * Never throws: a failure is reported so the page can offer audio-only or watch-only.
 */
export async function acquire({ audioId = null, videoId = null, wantVideo = true } = {}) {
  const md = navigator.mediaDevices;
  const result = { stream: new MediaStream(), audio: null, video: null, mode: "watch", videoError: null,
    audioError: null };
  if (!md?.getUserMedia) {
    // A plain-http origin other than localhost is not a secure context: browsers hide getUserMedia there.
    const name = globalThis.isSecureContext === false ? "InsecureContextError" : "NotSupportedError";
    result.audioError = result.videoError = { name };
    return result;
  }
  try {
    const s = await md.getUserMedia({ audio: constraints("audio", audioId),
      video: wantVideo ? constraints("video", videoId) : false });
    result.audio = s.getAudioTracks()[0] ?? null;
    result.video = s.getVideoTracks()[0] ?? null;
  } catch (err) {
    // One of the two may still work: try each alone.
    if (wantVideo) result.videoError = err;
    result.audioError = err;
    try {
      const s = await md.getUserMedia({ audio: constraints("audio", audioId) });
      result.audio = s.getAudioTracks()[0] ?? null;
      result.audioError = null;
    } catch (e) { result.audioError = e; }
    if (wantVideo && result.audio) {
      try {
        const s = await md.getUserMedia({ video: constraints("video", videoId) });
        result.video = s.getVideoTracks()[0] ?? null;
        result.videoError = null;
      } catch (e) { result.videoError = e; }
    }
  }
  for (const tr of [result.audio, result.video]) if (tr) result.stream.addTrack(tr);
  result.mode = result.audio && result.video ? "full" : result.audio ? "audio" : "watch";
  if (!wantVideo && result.audio) result.mode = "audio";
  return result;
}

/** Open one kind again on another device; returns the new track (the caller stops the old one). */
export async function reopen(kind, deviceId) {
  const s = await navigator.mediaDevices.getUserMedia({ [kind]: constraints(kind, deviceId) });
  return kind === "audio" ? s.getAudioTracks()[0] : s.getVideoTracks()[0];
}

export async function listDevices() {
  try {
    const all = await navigator.mediaDevices.enumerateDevices();
    return { audio: all.filter((d) => d.kind === "audioinput"), video: all.filter((d) => d.kind === "videoinput") };
  } catch {
    return { audio: [], video: [] };
  }
}

/** A microphone level meter: calls onLevel(0..1) about 10 times a second until stop(). */
export class LevelMeter {
  constructor(track, onLevel) {
    this.onLevel = onLevel;
    this.ctx = new AudioContext();
    this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.source.connect(this.analyser);
    this.buf = new Float32Array(this.analyser.fftSize);
    this.peak = 0;
    // Autoplay rules may start the context suspended until the person interacts with the page.
    this._resume = () => { if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {}); };
    window.addEventListener("pointerdown", this._resume);
    window.addEventListener("keydown", this._resume);
    this._resume();
    this.timer = setInterval(() => this._tick(), 100);
  }

  _tick() {
    this.analyser.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const x of this.buf) sum += x * x;
    const rms = Math.sqrt(sum / this.buf.length);
    // Speech sits around -40..-10 dBFS: map -60 dBFS..0 to 0..1 and let the bar fall back slowly.
    const db = 20 * Math.log10(rms + 1e-9);
    const level = Math.min(1, Math.max(0, (db + 60) / 60));
    this.peak = Math.max(level, this.peak * 0.8);
    this.onLevel(this.peak);
  }

  stop() {
    clearInterval(this.timer);
    window.removeEventListener("pointerdown", this._resume);
    window.removeEventListener("keydown", this._resume);
    try { this.source.disconnect(); } catch { /* ignore */ }
    this.ctx.close().catch(() => {});
  }
}
