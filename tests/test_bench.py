"""Benchmarks must keep running: a tiny run of each checks it produces well-formed figures (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_signaling_bench_runs_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.signaling", "--clients", "2,3", "--rounds", "3", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["clients"] for r in rows] == [2, 3]
    for r in rows:
        assert r["fanout_ms_p50"] > 0 and r["events_per_s"] > 0 and r["server_cpu_us_per_event"] >= 0


def test_interop_late_join_bench_runs_and_reports() -> None:
    import pytest

    from tests.gst_client import gstreamer_available

    if not gstreamer_available():
        pytest.skip("GStreamer webrtcbin / python3-gi not installed")
    out = subprocess.run([sys.executable, "-m", "bench.interop_late_join", "--tries", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "got media in 1 of 1 tries" in out.stdout and "median" in out.stdout


def test_bwe_sim_bench_runs_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.bwe_sim", "--seconds", "8", "--warmup", "4", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 5
    for r in rows:
        assert 0 < r["min_kbps"] <= r["mean_kbps"] <= r["max_kbps"] and 0 <= r["lost_pct"] <= 100


@pytest.mark.timeout(600)
def test_signaling_fuzz_bench_full_run() -> None:
    """The issue's 20,000 malformed messages against `hearing serve` (about 45 s here): no rule broken."""
    out = subprocess.run([sys.executable, "-m", "bench.signaling_fuzz", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    row = json.loads(out.stdout)
    assert out.returncode == 0, (row["problems"], out.stderr[-2000:])
    assert row["messages_sent"] >= 20_000 and row["problems"] == []
    assert "1011" not in row["closes_by_code"] and "internal" not in row["errors_by_code"]
    assert row["closes_by_code"].get("4008", 0) >= 1  # floods met the rate limit
    assert row["fds_after"] <= row["fds_before"] and row["tasks_after"] <= row["tasks_before"]
