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
