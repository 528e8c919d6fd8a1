"""The first-frame benchmark must keep running: a tiny run produces well-formed figures (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_browser_first_frame_bench_runs_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.browser_first_frame", "--runs", "2", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["bench"] == "browser_first_frame" and row["runs"] == 2
    assert 0 < row["first_frame_ms_min"] <= row["first_frame_ms_median"] <= row["first_frame_ms_max"]
    assert row["joined_ms_median"] > 0 and row["connected_ms_median"] > 0
