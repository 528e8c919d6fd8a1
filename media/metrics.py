"""Prometheus view of the SFU, read at scrape time (nothing is counted twice on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from media.sfu import Sfu
from media.tracks import PROBLEMS


class SfuCollector(Collector):
    def __init__(self, sfu: Sfu) -> None:
        self.sfu = sfu

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self.sfu.stats()
        yield GaugeMetricFamily("hearing_media_rooms", "Rooms with media sessions", value=s["rooms"])
        yield GaugeMetricFamily("hearing_media_peers", "Media sessions (PeerConnections)", value=s["peers"])
        yield GaugeMetricFamily("hearing_media_tracks", "Published tracks", value=s["tracks"])
        yield GaugeMetricFamily("hearing_media_forwards", "Track copies being forwarded", value=s["forwards"])
        yield CounterMetricFamily("hearing_media_forwarded_packets", "RTP packets forwarded",
                                  value=s["forwarded_packets"])
        yield CounterMetricFamily("hearing_media_retransmitted_packets", "Packets resent for subscriber NACKs",
                                  value=s["retransmitted_packets"])
        yield CounterMetricFamily("hearing_media_bad_packets", "Malformed or unroutable packets dropped",
                                  value=s["bad_packets"])
        yield CounterMetricFamily("hearing_media_forward_stripped_packets",
                                  "Packets over the SRTP size limit sent without header extensions",
                                  value=PROBLEMS.stripped)
        dropped = CounterMetricFamily("hearing_media_forward_dropped_packets",
                                      "Packets not forwarded: too large even without extensions, a subscriber's "
                                      "send failed, or handling a publisher's packet failed", labels=["reason"])
        dropped.add_metric(["too_large"], PROBLEMS.oversize)
        dropped.add_metric(["send_error"], PROBLEMS.send_errors)
        dropped.add_metric(["receive_error"], PROBLEMS.receive_errors)
        yield dropped
        estimate = GaugeMetricFamily("hearing_media_link_estimate_bps", "The SFU's estimate of a subscriber's "
                                     "downlink", labels=["room", "participant"])
        uplink = GaugeMetricFamily("hearing_media_uplink_estimate_bps", "The SFU's estimate of a publisher's uplink",
                                   labels=["room", "participant"])
        remb = GaugeMetricFamily("hearing_media_remb_bps", "The REMB last asked of a publisher",
                                 labels=["room", "participant"])
        remb_in = GaugeMetricFamily("hearing_media_subscriber_remb_bps", "The REMB a subscriber last sent",
                                    labels=["room", "participant"])
        layer = GaugeMetricFamily("hearing_media_forwarded_layer", "The simulcast layer forwarded to a subscriber "
                                  "(-1: none or paused)", labels=["room", "participant", "publisher"])
        for r in self.sfu.link_report():
            key = [r["room"], r["participant"]]
            for family, value in ((estimate, r["estimate_bps"]), (uplink, r["uplink_bps"]), (remb, r["remb_bps"]),
                                  (remb_in, r["remb_in_bps"])):
                if value is not None:
                    family.add_metric(key, value)
            for v in r["videos"]:
                layer.add_metric([*key, v["publisher"]], -1 if v["layer"] is None or v["paused"] else v["layer"])
        yield from (estimate, uplink, remb, remb_in, layer)
