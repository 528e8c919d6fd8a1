"""The recording benchmark must keep running and report every figure (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.recording import REQUIRED
from tests.conftest import ROOT


def test_recording_bench_runs_and_reports_every_figure() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.recording", "--publishers", "1", "--seconds", "2", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(k in report for k in REQUIRED), report
    assert report["publishers"] == 1 and report["segments"] > 0
    assert report["cpu_record_s_per_s"] >= 0 and report["cpu_forward2_s_per_s"] >= 0
    # remuxing, not transcoding: what is stored is what was received plus container overhead (a few %)
    assert 0.9 < report["stored_over_received"] < 1.1, report
