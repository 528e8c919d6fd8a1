"""Prometheus view of the SFU, read at scrape time (nothing is counted twice on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from media.sfu import Sfu


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
