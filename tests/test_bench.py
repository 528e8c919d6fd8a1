"""Benchmarks must keep running: a tiny run of each checks it produces well-formed figures (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_signaling_bench_runs_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.signaling", "--clients", "2,3", "--rounds", "3", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["clients"] for r in rows] == [2, 3]
    for r in rows:
        assert r["fanout_ms_p50"] > 0 and r["events_per_s"] > 0 and r["server_cpu_us_per_event"] >= 0
