"""Prometheus metrics for signalling, in a registry per app so several apps can live in one test process."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge


class SignalingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.connections = Gauge(
            "hearing_ws_connections", "Open signalling WebSocket connections", registry=self.registry
        )
        self.rooms = Gauge("hearing_rooms", "Rooms with participants connected to this instance",
                           registry=self.registry)
        self.messages = Counter(
            "hearing_signaling_messages", "Signalling messages", ["direction", "type"], registry=self.registry
        )
        self.errors = Counter("hearing_signaling_errors", "Errors sent to clients", ["code"], registry=self.registry)
        self.closes = Counter("hearing_ws_closes", "Connections closed by the server", ["code"],
                              registry=self.registry)
        self.joins = Counter("hearing_joins", "Admissions", ["outcome"], registry=self.registry)
        # Leak checks (bench/signaling_fuzz.py): the event loop's tasks, read at scrape time on the loop itself.
        self.tasks = Gauge("hearing_asyncio_tasks", "Tasks on the server's event loop", registry=self.registry)
        self.tasks.set_function(_task_count)


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # scraped from outside the event loop's thread
        return float("nan")
