// SDP alignment with the SFU (aiortc 1.16, pinned by the server).
//
// aiortc's createOffer() resets every transceiver's RTP header-extension ids and codec payload types to its own
// defaults. When a browser's first offer used other numbers (Chromium: ssrc-audio-level=1, sdes:mid=4, opus=111,
// VP8=96...), the server's next offer re-numbers m-lines that are already negotiated and Chromium refuses it
// ("RTP extension ID reassignment not supported"). So before sending our offer we number it the way aiortc
// will: the same header-extension ids and payload types it uses in its own offers, dropping what aiortc does
// not support anyway (it would leave them out of its answer). Everyone then agrees on one numbering for the
// whole BUNDLE, for the life of the PeerConnection. Pure string functions: unit-tested in the browser.

/** aiortc's header extensions (aiortc/codecs/__init__.py HEADER_EXTENSIONS), by media kind. */
export const SERVER_EXTENSIONS = {
  audio: { "urn:ietf:params:rtp-hdrext:sdes:mid": 1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level": 2 },
  video: { "urn:ietf:params:rtp-hdrext:sdes:mid": 1,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 3 },
};

/** aiortc's codecs and payload types (aiortc/codecs/__init__.py CODECS after init_codecs). */
export const SERVER_CODECS = {
  audio: [
    { name: "opus", clock: 48000, pt: 96 },
    { name: "G722", clock: 8000, pt: 9 },
    { name: "PCMU", clock: 8000, pt: 0 },
    { name: "PCMA", clock: 8000, pt: 8 },
  ],
  video: [
    { name: "VP8", clock: 90000, pt: 97, rtx: 98 },
    { name: "H264", clock: 90000, pt: 99, rtx: 100, fmtp: { "packetization-mode": "1", "profile-level-id": "42001f" } },
    { name: "H264", clock: 90000, pt: 101, rtx: 102, fmtp: { "packetization-mode": "1", "profile-level-id": "42e01f" } },
  ],
};

function parseFmtp(text) {
  const out = {};
  for (const part of (text || "").split(";")) {
    const [k, v] = part.split("=");
    if (k && v !== undefined) out[k.trim().toLowerCase()] = v.trim().toLowerCase();
  }
  return out;
}

/** Map one m-section's payload types to the server's; returns Map(oldPt -> newPt). */
function payloadMap(kind, lines) {
  const rtpmap = new Map();
  const fmtp = new Map();
  for (const line of lines) {
    let m = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(line);
    if (m) rtpmap.set(Number(m[1]), { name: m[2], clock: Number(m[3]) });
    m = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (m) fmtp.set(Number(m[1]), parseFmtp(m[2]));
  }
  const map = new Map();
  const table = SERVER_CODECS[kind] ?? [];
  for (const [pt, c] of rtpmap) {
    const f = fmtp.get(pt) ?? {};
    const match = table.find((s) => s.name.toLowerCase() === c.name.toLowerCase() && s.clock === c.clock
      && Object.entries(s.fmtp ?? {}).every(([k, v]) => f[k] === v.toLowerCase()));
    if (match && ![...map.values()].includes(match.pt)) map.set(pt, match.pt);
  }
  for (const [pt, c] of rtpmap) {
    if (c.name.toLowerCase() !== "rtx") continue;
    const apt = Number((fmtp.get(pt) ?? {}).apt);
    const media = map.get(apt);
    const entry = table.find((s) => s.pt === media);
    if (entry?.rtx != null && ![...map.values()].includes(entry.rtx)) map.set(pt, entry.rtx);
  }
  return map;
}

function alignSection(lines) {
  const mline = lines[0];
  const kind = mline.slice(2).split(" ")[0];
  if (kind !== "audio" && kind !== "video") return lines;
  const pts = payloadMap(kind, lines);
  if (pts.size === 0) return lines; // nothing the server could use: leave it, the server will refuse it clearly
  const exts = SERVER_EXTENSIONS[kind];
  const out = [];
  const parts = mline.split(" ");
  const keptPts = parts.slice(3).map(Number).filter((pt) => pts.has(pt)).map((pt) => pts.get(pt));
  out.push([...parts.slice(0, 3), ...keptPts].join(" "));
  for (const line of lines.slice(1)) {
    let m = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)( .*)$/.exec(line);
    if (m) {
      const pt = Number(m[2]);
      if (!pts.has(pt)) continue;
      let rest = m[3];
      if (m[1] === "fmtp") rest = rest.replace(/apt=(\d+)/, (_, a) => `apt=${pts.get(Number(a)) ?? a}`);
      out.push(`a=${m[1]}:${pts.get(pt)}${rest}`);
      continue;
    }
    m = /^a=extmap:(\d+)(\/\w+)? (\S+)(.*)$/.exec(line);
    if (m) {
      const id = exts[m[3]];
      if (id != null) out.push(`a=extmap:${id}${m[2] ?? ""} ${m[3]}${m[4]}`);
      continue;
    }
    out.push(line);
  }
  return out;
}

/** Renumber an offer's payload types and header-extension ids the way the server numbers its own offers. */
export function alignOfferToServer(sdp) {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  const sections = [[]];
  for (const line of lines) {
    if (line.startsWith("m=")) sections.push([]);
    sections[sections.length - 1].push(line);
  }
  const [session, ...media] = sections;
  return [...session, ...media.flatMap(alignSection)].join(eol) + eol;
}
