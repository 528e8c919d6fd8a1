// One RTCPeerConnection with the SFU: our camera/mic go up on our own m-lines, everyone else's tracks come
// down on m-lines the server adds with its own offers. We are the POLITE peer of perfect negotiation: a
// server offer that crosses ours wins (implicit rollback), and we offer again if still needed.
//
// aiortc cannot restart ICE on a transport, so recovery = a NEW RTCPeerConnection offered on the same
// signalling session; the server replaces our media session when it sees the new ICE credentials.
//
// Events (EventTarget):
//   "tracks"   the participant → {audio, video} track map changed (see `remoteTracks`)
//   "state"    detail: {state: "new"|"connecting"|"connected"|"stalled"|"lost"}
//   "ready"    the server answered the first offer of a (new) PeerConnection: per-session requests
//              such as `subscription` can be (re)sent now
//   "lost"     detail: {reason}: media died; the owner calls restart() once signalling is up
//   "notice"   detail: the server's `media-notice` ({code, params}), e.g. no_common_video_codec: our video was
//              refused (audio goes on); later PeerConnections no longer offer it, so nothing retries
//   "stalled"  detail: {stalled: bool}: connected, others publish, yet no media arrived for NO_MEDIA_MS
//              (state "stalled"). A failure to report, not to rebuild over: a new PeerConnection would not help
//              when the cause is the far end (e.g. keys for the wrong DTLS role), and rebuild loops hide it.

import { DISCONNECTED_GRACE_MS, transportGone } from "./quality.js";

const SETUP_TIMEOUT_MS = 20000;
const RESTART_SETTLE_MS = 2000;
const NO_MEDIA_MS = 10000;
const NO_MEDIA_CHECK_MS = 2000;
/** Camera video as three simulcast layers, lowest first (the SFU takes this order as its layer index) at 1/4, 1/2
 * and full resolution: the SFU forwards each subscriber the one its link carries (media/simulcast_forward.py). */
export const SIMULCAST = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 60_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 300_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 900_000 },
];

/**
 * Pure: is a connected session starved? `samples` are {at, bytesIn, tracks} (tracks = remote tracks announced);
 * true when tracks were announced throughout the last `windowMs` and no inbound byte arrived in that time.
 */
export function starved(samples, windowMs = NO_MEDIA_MS) {
  if (samples.length < 2) return false;
  const last = samples[samples.length - 1];
  const start = samples.findLast((s) => last.at - s.at >= windowMs);
  if (!start) return false;
  const span = samples.slice(samples.indexOf(start));
  return span.every((s) => s.tracks > 0) && last.bytesIn <= start.bytesIn;
}

/** The `a=ice-ufrag` of an SDP (first one), or null. Pure. */
export function iceUfrag(sdp) {
  const m = /^a=ice-ufrag:(\S+)/m.exec(sdp || "");
  return m ? m[1] : null;
}

export class MediaSession extends EventTarget {
  /**
   * @param send      (msg) => boolean: sends a signalling message
   * @param local     {stream, audio, video}: local tracks to publish (null tracks are not published)
   * @param publish   may this person publish at all (grant)
   */
  constructor({ send, iceServers = [], local = null, publish = true, simulcast = true }) {
    super();
    this.send = send;
    this.iceServers = iceServers;
    this.local = local ?? { stream: null, audio: null, video: null };
    this.publish = publish;
    this.pc = null;
    this.generation = 0;
    this.state = "new";
    this.mids = new Map();          // mid -> {participantId, trackId, kind}
    this.remoteTracks = new Map();  // participantId -> {audio, video, screen: MediaStreamTrack|null}
    this.screenIds = new Set();     // forwarded track ids announced as screens (`screen-shared`): not cameras
    this.screen = null;             // our own shared screen track (screenshare.js), sent on its own m-line
    this._screenMid = null;         // the mid we last announced for it
    this.oldUfrags = new Set();     // the server's ICE ufrags of replaced PeerConnections: their messages are stale
    this._queue = Promise.resolve();
    this._timers = { disconnected: 0, setup: 0, starve: 0 };
    this.videoRefused = null;       // the server's media-notice refusing our video, if any
    this.simulcast = simulcast;     // camera video as SIMULCAST layers
    this._inbound = [];             // {at, bytesIn, tracks} samples while connected (see starved())
    this.stats = { restarts: 0, offers: 0, serverOffers: 0, rollbacks: 0 };
    this.closed = false;
  }

  start() { this._newPc(); }

  /**
   * Replace the PeerConnection (ICE restart). On the same signalling connection it first waits briefly for an
   * outstanding offer to be answered (`settle`); after a signalling resume nothing old can arrive any more.
   */
  async restart(reason = "restart", { settle = true } = {}) {
    if (this.closed) return;
    const old = this.pc;
    if (settle && old && old.signalingState !== "stable") {
      // An answer in flight for the old PeerConnection must not land on the new one.
      await new Promise((resolve) => {
        const done = () => { clearTimeout(timer); old.removeEventListener("signalingstatechange", check); resolve(); };
        const check = () => { if (old.signalingState === "stable" || old.signalingState === "closed") done(); };
        const timer = setTimeout(done, RESTART_SETTLE_MS);
        old.addEventListener("signalingstatechange", check);
      });
    }
    if (this.closed || this.pc !== old) return;
    this.stats.restarts += 1;
    console.info("hearing: new PeerConnection", reason);
    this._newPc();
  }

  close() {
    this.closed = true;
    this._clearTimers();
    if (this.pc) this._retire(this.pc);
    this.pc = null;
    this.mids.clear();
    this._reconcile();
  }

  setIceServers(servers) { this.iceServers = servers ?? []; }

  /** Swap a local track (device change) without renegotiation. */
  async replaceTrack(kind, track) {
    this.local[kind] = track;
    const senders = this.pc?.getSenders() ?? [];  // the camera's sender, never the screen's
    const sender = senders.find((s) => s._kind === kind) ?? senders.find((s) => !s._kind && s.track?.kind === kind);
    if (sender) await sender.replaceTrack(track);
  }

  /** Share a screen (a track from getDisplayMedia): its own transceiver, no simulcast. The mid is announced
   *  ("screen-mid" event) after setLocalDescription and before the offer goes out (docs/protocol.md). */
  addScreen(track) {
    this.screen = track;
    const t = this.pc?.getTransceivers().find((x) => x.sender._kind === "screen");
    if (t) {  // shared before on this PeerConnection: same m-line, no renegotiation
      this.dispatchEvent(new CustomEvent("screen-mid", { detail: { mid: t.mid } }));
      return t.sender.replaceTrack(track);
    }
    if (this.pc) this._addScreenTransceiver(this.pc);
    return Promise.resolve();
  }

  /** Stop sending the screen; the m-line stays for the next share (no renegotiation either way). */
  removeScreen() {
    this.screen = null;
    const t = this.pc?.getTransceivers().find((x) => x.sender._kind === "screen");
    return t ? t.sender.replaceTrack(null) : Promise.resolve();
  }

  /** `screen-shared`: remember which forwarded track is a screen, so it never takes a camera's place. */
  markScreen(trackId) {
    if (trackId && !this.screenIds.has(trackId)) { this.screenIds.add(trackId); this._reconcile(true); }
  }

  _addScreenTransceiver(pc) {
    const t = pc.addTransceiver(this.screen, { direction: "sendonly" });
    t.sender._kind = "screen";
    this._screenMid = null;
  }

  /** Route a signalling message; returns true when it was a media message. */
  handle(msg) {
    switch (msg.type) {
      case "offer": case "answer":
        this._enqueue(() => this._onDescription({ type: msg.type, sdp: msg.sdp }));
        return true;
      case "media-notice":
        if (msg.code === "no_common_video_codec") this.videoRefused = msg;
        this.dispatchEvent(new CustomEvent("notice", { detail: msg }));
        return true;
      case "ice-candidate":
        // The server puts all its candidates in its SDP; accept trickled ones anyway.
        if (msg.candidate) this._enqueue(() => this.pc?.addIceCandidate(msg).catch(() => {}));
        return true;
      // Announcements go through the same queue as descriptions: their order on the wire matters.
      case "track-published":
        this._enqueue(() => {
          if (this.awaitingAnswer || msg.mid == null) return; // for the PeerConnection we replaced
          this.mids.set(msg.mid, { participantId: msg.participant_id, trackId: msg.track_id, kind: msg.kind });
          this._reconcile();
        });
        return true;
      case "track-removed":
        this._enqueue(() => {
          if (this.awaitingAnswer) return;
          for (const [mid, info] of this.mids) if (info.trackId === msg.track_id) this.mids.delete(mid);
          this._reconcile();
        });
        return true;
      default:
        return false;
    }
  }

  /** Forget whatever a participant sent (they left). */
  forget(participantId) {
    for (const [mid, info] of this.mids) if (info.participantId === participantId) this.mids.delete(mid);
    this._reconcile();
  }

  // ---- PeerConnection lifecycle ------------------------------------------------------------------------------

  _newPc() {
    this._clearTimers();
    if (this.pc) {
      const u = iceUfrag(this.pc.remoteDescription?.sdp);
      if (u) this.oldUfrags.add(u);
      this._retire(this.pc);
    }
    this.mids.clear();
    this._reconcile();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require" });
    this.pc = pc;
    this.generation += 1;
    this.awaitingAnswer = true;
    this.makingOffer = false;
    this._pendingCandidates = [];
    this._offerSent = false;
    const { stream, audio, video } = this.local;
    const published = [];
    for (const [kind, track] of [["audio", audio], ["video", video]]) {
      if (kind === "video" && this.videoRefused) continue; // refused for want of a common codec: do not ask again
      if (this.publish && track) {
        const init = { direction: "sendonly", streams: stream ? [stream] : [] };
        if (kind === "video" && this.simulcast) init.sendEncodings = SIMULCAST.map((e) => ({ ...e }));
        const t = pc.addTransceiver(track, init);
        t.sender._kind = kind;
        published.push(kind);
      }
    }
    if (this.publish && this.screen) this._addScreenTransceiver(pc);
    if (published.length === 0) {
      // Watch only: recvonly m-lines set the transport up; the server's own m-lines carry what we receive.
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.onnegotiationneeded = () => this._enqueue(() => this._makeOffer(pc));
    pc.onicecandidate = ({ candidate }) => {
      if (pc !== this.pc) return;
      const msg = candidate
        ? { type: "ice-candidate", candidate: candidate.candidate, sdpMid: candidate.sdpMid,
            sdpMLineIndex: candidate.sdpMLineIndex }
        : { type: "ice-candidate", candidate: null, sdpMid: null, sdpMLineIndex: null };
      if (this._offerSent) this.send(msg); else this._pendingCandidates.push(msg);
    };
    pc.ontrack = () => { if (pc === this.pc) this._reconcile(); };
    pc.oniceconnectionstatechange = () => this._watchIce(pc);
    pc.onconnectionstatechange = () => this._watchConnection(pc);
    this._setState("connecting");
    this._timers.setup = setTimeout(() => {
      if (pc === this.pc && pc.connectionState !== "connected") this._lost(pc, "setup timeout");
    }, SETUP_TIMEOUT_MS);
  }

  _retire(pc) {
    pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = null;
    pc.oniceconnectionstatechange = pc.onconnectionstatechange = null;
    try { pc.close(); } catch { /* already closed */ }
  }

  _clearTimers() {
    clearTimeout(this._timers.disconnected);
    clearTimeout(this._timers.setup);
    clearInterval(this._timers.starve);
    this._timers.starve = 0;
    this._inbound = [];
  }

  /** While connected, sample inbound bytes; starved for NO_MEDIA_MS → state "stalled", media again → "connected". */
  _watchInbound(pc) {
    if (this._timers.starve) return;
    this._timers.starve = setInterval(async () => {
      if (pc !== this.pc || this.closed) return;
      const c = await this.counters();
      const tracks = [...this.remoteTracks.values()].filter((e) => e.audio || e.video).length;
      this._inbound.push({ at: c.at, bytesIn: c.bytesIn, tracks });
      if (this._inbound.length > 2 + NO_MEDIA_MS / NO_MEDIA_CHECK_MS) this._inbound.shift();
      const isStarved = starved(this._inbound);
      if (isStarved && this.state === "connected") {
        console.warn("hearing: connected but no media arrives", { bytesIn: c.bytesIn, tracks });
        this._setState("stalled");
        this.dispatchEvent(new CustomEvent("stalled", { detail: { stalled: true } }));
      } else if (!isStarved && this.state === "stalled") {
        this._setState("connected");
        this.dispatchEvent(new CustomEvent("stalled", { detail: { stalled: false } }));
      }
    }, NO_MEDIA_CHECK_MS);
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state } }));
  }

  _watchIce(pc) {
    if (pc !== this.pc) return;
    const s = pc.iceConnectionState;
    clearTimeout(this._timers.disconnected);
    if (transportGone({ ice: s })) this._lost(pc, `ice ${s}`);
    else if (s === "disconnected") this._armDisconnected(pc, Date.now(), null);
  }

  /** Disconnected: a weak link misses consent checks while media still flows. Rebuild only when the grace has
   * passed with no bytes received (a congested link adapts; a new PeerConnection would only make it worse). */
  async _armDisconnected(pc, since, bytesAtStart) {
    const bytes = bytesAtStart ?? (await this._bytesIn(pc));
    this._timers.disconnected = setTimeout(async () => {
      if (pc !== this.pc || pc.iceConnectionState !== "disconnected") return;
      const now = await this._bytesIn(pc);
      const moved = now > bytes;
      if (transportGone({ ice: "disconnected", disconnectedForMs: Date.now() - since, bytesMoved: moved })) {
        this._lost(pc, "ice disconnected");
      } else if (pc === this.pc && pc.iceConnectionState === "disconnected") {
        this._armDisconnected(pc, moved ? Date.now() : since, now);  // still alive: keep watching
      }
    }, DISCONNECTED_GRACE_MS);
  }

  async _bytesIn(pc) {
    let total = 0;
    try {
      (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp") total += s.bytesReceived ?? 0; });
    } catch { /* closed */ }
    return total;
  }

  /** Send our camera or not (the uplink policy in app.js): the encoding is deactivated, the track kept. */
  async setVideoSending(on) {
    for (const sender of this.pc?.getSenders() ?? []) {
      if (sender.track?.kind !== "video" || sender._kind === "screen") continue;
      const params = sender.getParameters();
      if (!params.encodings?.length) continue;
      params.encodings.forEach((e) => { e.active = on; });
      try { await sender.setParameters(params); } catch (e) { console.warn("hearing: setParameters failed", e); }
    }
  }

  _watchConnection(pc) {
    if (pc !== this.pc) return;
    const s = pc.connectionState;
    if (s === "connected") {
      clearTimeout(this._timers.setup);
      if (this.state !== "stalled") this._setState("connected");
      this._watchInbound(pc);
    } else if (s === "failed") {
      this._lost(pc, "connection failed");
    }
  }

  _lost(pc, reason) {
    if (pc !== this.pc || this.closed) return;
    this._clearTimers();
    this._setState("lost");
    this.dispatchEvent(new CustomEvent("lost", { detail: { reason } }));
  }

  // ---- negotiation ---------------------------------------------------------------------------------------

  _enqueue(fn) {
    this._queue = this._queue.then(fn).catch((e) => console.warn("hearing: negotiation step failed", e));
    return this._queue;
  }

  async _makeOffer(pc) {
    if (pc !== this.pc || pc.signalingState !== "stable") return; // a later negotiationneeded will come
    this.makingOffer = true;
    try {
      const offer = await pc.createOffer();
      if (pc !== this.pc || pc.signalingState !== "stable") return;
      await pc.setLocalDescription({ type: "offer", sdp: offer.sdp });
      if (pc !== this.pc) return;
      const screen = pc.getTransceivers().find((x) => x.sender._kind === "screen");
      if (screen && this.screen && screen.mid !== this._screenMid) {
        this._screenMid = screen.mid;  // before the offer: the server gates that m-line as a screen from the start
        this.dispatchEvent(new CustomEvent("screen-mid", { detail: { mid: screen.mid } }));
      }
      this.stats.offers += 1;
      this.send({ type: "offer", sdp: pc.localDescription.sdp });
      this._offerSent = true;
      for (const c of this._pendingCandidates.splice(0)) this.send(c);
    } finally {
      this.makingOffer = false;
    }
  }

  async _onDescription(desc) {
    const pc = this.pc;
    if (!pc || this.closed) return;
    if (this.oldUfrags.has(iceUfrag(desc.sdp))) return; // meant for a PeerConnection we replaced
    if (desc.type === "offer") {
      // Before the server answered this PeerConnection's first offer, any server offer belongs to the old one.
      if (this.awaitingAnswer) return;
      this.stats.serverOffers += 1;
      if (pc.signalingState !== "stable") this.stats.rollbacks += 1; // polite: implicit rollback of ours
      await pc.setRemoteDescription(desc);
      await pc.setLocalDescription();
      if (pc !== this.pc) return;
      this.send({ type: "answer", sdp: pc.localDescription.sdp });
      this._reconcile();
    } else {
      if (pc.signalingState !== "have-local-offer") return; // stale: the offer it answers was rolled back
      await pc.setRemoteDescription(desc);
      if (pc !== this.pc) return;
      const first = this.awaitingAnswer;
      this.awaitingAnswer = false;
      this._reconcile();
      if (first) this.dispatchEvent(new CustomEvent("ready", { detail: { generation: this.generation } }));
    }
  }

  /** Recompute which received track belongs to whom, from the mid map and the live transceivers. */
  _reconcile(force = false) {
    const next = new Map();
    const pc = this.pc;
    if (pc) {
      const byMid = new Map();
      for (const t of pc.getTransceivers()) if (t.mid != null) byMid.set(t.mid, t);
      for (const [mid, info] of this.mids) {
        const t = byMid.get(mid);
        if (!t || t.receiver.track.kind !== info.kind) continue;
        if (t.currentDirection !== "recvonly" && t.currentDirection !== "sendrecv") continue;
        const entry = next.get(info.participantId) ?? { audio: null, video: null, screen: null };
        entry[info.kind === "video" && this.screenIds.has(info.trackId) ? "screen" : info.kind] = t.receiver.track;
        next.set(info.participantId, entry);
      }
    }
    const same = next.size === this.remoteTracks.size && [...next].every(([pid, e]) => {
      const o = this.remoteTracks.get(pid);
      return o && o.audio === e.audio && o.video === e.video && o.screen === e.screen;
    });
    this.remoteTracks = next;
    if (!same || force) this.dispatchEvent(new CustomEvent("tracks"));
  }

  // ---- statistics ---------------------------------------------------------------------------------------

  /** Raw counters for tests and the quality indicator. */
  async counters() {
    const pc = this.pc;
    const out = { audioPackets: 0, videoFrames: 0, videoPackets: 0, lost: 0, received: 0, bytesIn: 0,
      rtt: null, availableOut: null, availableIn: null, at: performance.now(), generation: this.generation };
    if (!pc) return out;
    const report = await pc.getStats();
    let pair = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp") {
        out.lost += s.packetsLost ?? 0;
        out.received += s.packetsReceived ?? 0;
        out.bytesIn += s.bytesReceived ?? 0;
        if (s.kind === "audio") out.audioPackets += s.packetsReceived ?? 0;
        if (s.kind === "video") { out.videoFrames += s.framesDecoded ?? 0; out.videoPackets += s.packetsReceived ?? 0; }
      } else if (s.type === "transport" && s.selectedCandidatePairId) {
        pair = report.get(s.selectedCandidatePairId) ?? pair;
      } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && !pair) {
        pair = s;
      }
    });
    if (pair) {
      out.rtt = pair.currentRoundTripTime ?? null;
      out.availableOut = pair.availableOutgoingBitrate ?? null;
      out.availableIn = pair.availableIncomingBitrate ?? null;
    }
    return out;
  }
}
