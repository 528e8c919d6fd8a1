// Connection quality from getStats snapshots (see MediaSession.counters). Pure functions: unit-tested.

/** Verdict for a round-trip time (seconds), a loss fraction (0..1) and an available bitrate (bit/s). */
export function verdict({ rtt = null, loss = null, bitrate = null }) {
  const r = rtt ?? 0;
  const l = loss ?? 0;
  const b = bitrate ?? Infinity;
  // The available bitrate starts low and ramps up, so on its own it only ever makes a link "fair".
  if (r > 0.4 || l > 0.08) return "poor";
  if (r > 0.15 || l > 0.02 || b < 150_000) return "fair";
  return "good";
}

/** Summarise the change between two counter snapshots. */
export function summarise(prev, cur) {
  const dRecv = prev ? cur.received - prev.received : 0;
  const dLost = prev ? Math.max(0, cur.lost - prev.lost) : 0;
  const loss = dRecv + dLost > 0 ? dLost / (dRecv + dLost) : (prev ? 0 : null);
  const seconds = prev ? (cur.at - prev.at) / 1000 : 0;
  const inKbps = prev && seconds > 0 ? Math.max(0, (cur.bytesIn - prev.bytesIn) * 8 / seconds / 1000) : null;
  const bitrate = cur.availableOut ?? null;
  return { rtt: cur.rtt, loss, bitrate, inKbps, level: verdict({ rtt: cur.rtt, loss, bitrate }) };
}

/** Network-check verdict from /healthz round trips (milliseconds); null RTT = unreachable. */
export function networkVerdict(rttsMs) {
  const ok = rttsMs.filter((x) => x != null);
  if (ok.length === 0) return { level: "unreachable", rtt: null };
  const sorted = [...ok].sort((a, b) => a - b);
  const rtt = sorted[Math.floor(sorted.length / 2)];
  const failed = rttsMs.length - ok.length;
  let level = rtt < 150 ? "good" : rtt < 400 ? "fair" : "poor";
  if (failed > 0 && level === "good") level = "fair";
  if (failed > rttsMs.length / 2) level = "poor";
  return { level, rtt: Math.round(rtt) };
}

export function formatRtt(rttSeconds) {
  return rttSeconds == null ? "–" : `${Math.round(rttSeconds * 1000)} ms`;
}

export function formatLoss(loss) {
  return loss == null ? "–" : `${(loss * 100).toFixed(1)}%`;
}

export function formatBitrate(bps) {
  if (bps == null) return "–";
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbps` : `${Math.round(bps / 1000)} kbps`;
}

// ---- adapting instead of reconnecting -------------------------------------------------------------------------

/** ICE grace before a "disconnected" transport counts as gone when no bytes arrive meanwhile (congestion makes
 * consent checks miss for seconds while media still flows: rebuilding then makes a weak link worse). */
export const DISCONNECTED_GRACE_MS = 15000;

/** Rebuild the PeerConnection? Only when the transport is really gone: ICE failed or closed, or disconnected for
 * the whole grace with no bytes received meanwhile. Never because stats look bad. Pure. */
export function transportGone({ ice, disconnectedForMs = 0, bytesMoved = false }) {
  if (ice === "failed" || ice === "closed") return true;
  return ice === "disconnected" && disconnectedForMs >= DISCONNECTED_GRACE_MS && !bytesMoved;
}

// Below this not even the quarter layer (libwebrtc's floor for a VP8 layer is 30 kbit/s) fits: stop our video.
// The estimate is the video's share (the SFU's REMB covers video, audio goes on beside it, and never asks for less
// than 30 kbit/s); at 150 kbit/s it reads 30-100 kbit/s, where the quarter layer keeps moving, as two browsers peer
// to peer do on the same link. Stopping video there would also stop the estimate from rising again.
export const UPLINK_LOW_BPS = 30_000;
export const UPLINK_OK_BPS = 80_000;
// While our video is off the estimate cannot rise (nothing is sent to measure): try again after this, doubling.
export const UPLINK_PROBE_MS = 10_000;
export const UPLINK_MAX_PROBE_MS = 60_000;
const LOW_RUNS = 3;
const OK_RUNS = 5;

/**
 * Our own uplink: stop sending video when the browser's outgoing estimate (availableOutgoingBitrate) stays low,
 * send it again when it stays comfortably high or, since a paused video cannot show the link recovered, on trial
 * after `probeMs` (10 s, doubling to 60 s after each trial that ends low again). `state` = {sendVideo, low, ok,
 * pausedAt, probeMs}; `now` in ms. Returns the next state and whether sending changed. Pure.
 */
export function uplinkVideo(state, availableOut, now = 0) {
  const s = { sendVideo: true, low: 0, ok: 0, pausedAt: null, probeMs: UPLINK_PROBE_MS, trial: false, ...state };
  if (availableOut == null) return { state: s, changed: false };
  s.low = availableOut < UPLINK_LOW_BPS ? s.low + 1 : 0;
  s.ok = availableOut >= UPLINK_OK_BPS ? s.ok + 1 : 0;
  let changed = false;
  if (s.sendVideo && s.low >= LOW_RUNS) {
    if (s.trial) s.probeMs = Math.min(s.probeMs * 2, UPLINK_MAX_PROBE_MS);  // the trial did not hold
    Object.assign(s, { sendVideo: false, ok: 0, pausedAt: now, trial: false });
    changed = true;
  } else if (!s.sendVideo && s.ok >= OK_RUNS) {
    Object.assign(s, { sendVideo: true, low: 0, pausedAt: null, probeMs: UPLINK_PROBE_MS, trial: false });
    changed = true;
  } else if (!s.sendVideo && s.pausedAt != null && now - s.pausedAt >= s.probeMs) {
    Object.assign(s, { sendVideo: true, low: 0, pausedAt: null, trial: true });
    changed = true;
  } else if (s.sendVideo && s.trial && s.ok >= OK_RUNS) {
    Object.assign(s, { trial: false, probeMs: UPLINK_PROBE_MS });  // the trial held
  }
  return { state: s, changed };
}
