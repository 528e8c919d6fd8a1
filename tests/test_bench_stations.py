"""`python -m bench.stations` keeps running: a tiny run produces well-formed figures (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_stations_bench_runs_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.stations", "--cycles", "3", "--calls", "2", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["bench"] for r in rows] == ["queue_ops", "pickup_to_first_frame"]
    assert rows[0]["ops_per_s"] > 0 and rows[0]["accept_ms"] > 0
    assert rows[1]["calls"] == 2 and 0 < rows[1]["both_ms_p50"] <= rows[1]["both_ms_p95"]
