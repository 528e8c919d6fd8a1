"""Simulcast on the forwarding path: a publisher's layers (one SSRC each) and each subscriber's one chosen layer.

Why a group track: the room, the subscribers' m-lines, the signalling (`track-published`) and the recorder see one
video per publisher m-line, whatever its layers; each layer is a `PublishedTrack` of its own SSRC (its own packet
cache, receive stats, keyframe detection, RR block, NACK and PLI upstream). A layer's packets go on to the group's
`SimulcastForward`s, each of which passes on only the layer its `LayerSelector` (media/layers.py) forwards now,
switching at a keyframe of the target layer: from there its `OutboundStream` re-bases (sequence numbers and
timestamps continue), and VP8 picture ids and TL0PICIDX continue through a `PictureIdStream` (media/sequencing.py).
No decoding: reading and rewriting a few descriptor bytes per packet.
"""

from __future__ import annotations

from media.bwe import ReceiveSideEstimator
from media.layers import Layer, LayerSelector
from media.links import DOWN_MARGIN
from media.payloads import vp8_picture_id, vp8_rewrite_picture_id, vp8_tl0picidx
from media.rtp import RtpHeader, parse_rtp
from media.sequencing import PictureIdStream
from media.simulcast import Binding
from media.tracks import CodecInfo, Forward, PublishedTrack, Sender

__all__ = ["SharedUplink", "SimulcastForward", "SimulcastLayers", "layer_track", "new_forward"]


class SharedUplink:
    """A layer's handle on its publisher's one uplink estimate: every layer's packets feed it, one layer (the first
    bound) updates it, so a report interval updates it once and it measures the total the publisher sends."""

    __slots__ = ("estimator", "owner")

    def __init__(self, estimator: ReceiveSideEstimator, owner: bool) -> None:
        self.estimator = estimator
        self.owner = owner

    def add(self, abs_send_time: bytes, arrival: float, size: int) -> None:
        self.estimator.add(abs_send_time, arrival, size)

    def update(self, now: float, fraction_lost: float | None = None) -> float | None:
        return self.estimator.update(now, fraction_lost) if self.owner else None


class SimulcastLayers:
    """The layers of one group track, lowest first, as their SSRCs are bound (media/simulcast.py)."""

    __slots__ = ("group", "layers", "rids", "uplink")

    def __init__(self, group: PublishedTrack, rids: tuple[str, ...]) -> None:
        self.group = group
        self.rids = rids
        self.layers: dict[int, PublishedTrack] = {}
        self.uplink = ReceiveSideEstimator()

    def top(self) -> PublishedTrack | None:
        return self.layers[max(self.layers)] if self.layers else None

    def offered(self, now: float) -> list[Layer]:
        """The layers arriving now with their measured bitrates (a layer the publisher stopped is left out)."""
        out = []
        for index in sorted(self.layers):
            bps = self.layers[index].bitrate.bps(now)
            if bps > 0:
                out.append(Layer(index, bps))
        return out

    def keyframe_layers(self) -> list[PublishedTrack]:
        """Which layers a keyframe request for the group means: the ones forwarded or switched to, and the top
        one when recorded; all of them when nobody receives any yet."""
        wanted = {i for f in self.group.forwards if isinstance(f, SimulcastForward)
                  for i in (f.selector.target, f.selector.current) if i is not None}
        if self.group.taps and self.layers:
            wanted.add(max(self.layers))
        chosen = [self.layers[i] for i in sorted(wanted) if i in self.layers]
        return chosen or list(self.layers.values())

    def on_packet(self, layer: PublishedTrack, data: bytes, h: RtpHeader, keyframe: bool, now: float) -> None:
        group = self.group
        if group.taps and layer is self.top():  # the recorder takes the top layer
            for tap in group.taps:
                tap(data)
        for fwd in group.forwards:
            if isinstance(fwd, SimulcastForward):
                fwd.forward_layer(layer, data, h, keyframe, now)
                want = fwd.selector.keyframe_request(now) if fwd.selector.switching() and not fwd.stream.paused \
                    else None
                if want is not None and (target := self.layers.get(want)) is not None:
                    group.request_keyframe(target)


def layer_track(group: PublishedTrack, binding: Binding, ssrc: int) -> PublishedTrack:
    """The track for one newly bound layer SSRC of `group`."""
    assert group.simulcast is not None
    sim = group.simulcast
    track = PublishedTrack(
        publisher_id=group.publisher_id, track_id=f"{group.track_id}.{binding.rid}", kind=group.kind, ssrc=ssrc,
        codec=group.codec, header_extensions=group.header_extensions, request_keyframe=group.request_keyframe,
        uplink=SharedUplink(sim.uplink, owner=not sim.layers),  # type: ignore[arg-type]
        group=group, layer=binding.layer,
    )
    sim.layers[binding.layer] = track
    return track


class SimulcastForward(Forward):
    """One subscriber's copy of a simulcast video: one layer at a time, one continuous stream."""

    __slots__ = ("_layer", "_pictures", "_vp8", "selector")

    def __init__(self, track: PublishedTrack, subscriber_id: str, **kw: object) -> None:
        super().__init__(track, subscriber_id, **kw)  # type: ignore[arg-type]
        self.selector = LayerSelector(audio_bps=0.0, down_margin=DOWN_MARGIN)  # media/links.py drives its target
        self._layer: PublishedTrack | None = None
        self._pictures = PictureIdStream()
        self._vp8 = track.codec.name.upper() == "VP8"

    @property
    def layer(self) -> int | None:
        """The layer forwarded now (None: none yet, or paused)."""
        return self._layer.layer if self._layer is not None else None

    def forward_layer(self, layer: PublishedTrack, data: bytes, h: RtpHeader, keyframe: bool, now: float) -> None:
        stream = self.stream
        if stream.paused:
            return
        sel = self.selector
        index = layer.layer
        if stream.waiting_for_keyframe:
            sel.current = None  # a gate (resume, restart): start again at a keyframe of the target
        if index != sel.target and index != sel.current:
            return
        before = sel.current
        if not sel.accept(index, keyframe):
            return
        if sel.current != before or self._layer is not layer:  # the switch, at this keyframe
            stream.switch_source()
            self._layer = layer
            if self._vp8:
                payload = memoryview(data)[h.payload_offset:h.payload_end]
                pid = vp8_picture_id(payload)
                if pid is not None:
                    self._pictures.rebase(pid, vp8_tl0picidx(payload))
        if self._vp8:
            data = self._rewrite(data, h)
        self.forward(data, h, keyframe, now)

    def _rewrite(self, data: bytes, h: RtpHeader) -> bytes:
        payload = memoryview(data)[h.payload_offset:h.payload_end]
        pid = vp8_picture_id(payload)
        if pid is None:
            return data
        new_pid, new_tl0 = self._pictures.map(pid, vp8_tl0picidx(payload))
        return b"".join((data[:h.payload_offset], vp8_rewrite_picture_id(payload, new_pid, new_tl0),
                         data[h.payload_end:]))

    def cached(self, seq_in: int) -> bytes | None:
        layer = self._layer
        original = layer.cache.get(seq_in) if layer is not None else None
        if original is None or not self._vp8:
            return original
        return self._rewrite(original, parse_rtp(original))

    def source(self) -> PublishedTrack:
        return self._layer if self._layer is not None else self.track


def new_forward(track: PublishedTrack, subscriber_id: str, *, out_ssrc: int, rtx_ssrc: int | None,
                codec: CodecInfo, mid: str, header_extensions: dict[str, int], send: Sender,
                initial_sequence: int, initial_timestamp: int) -> Forward:
    """A `SimulcastForward` for a group track, a plain `Forward` otherwise."""
    cls = SimulcastForward if track.simulcast is not None else Forward
    return cls(track, subscriber_id, out_ssrc=out_ssrc, rtx_ssrc=rtx_ssrc, codec=codec, mid=mid,
               header_extensions=header_extensions, send=send, initial_sequence=initial_sequence,
               initial_timestamp=initial_timestamp)
