"""The petition benchmark keeps running: a tiny run produces well-formed figures (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_petition_bench_runs_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.petitions", "--petitions", "8", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["petitions"] == 8 and result["board_rows"] == 8 and result["moves"] == 8 + 4 + 2
    assert result["file_ms"]["p50"] > 0 and result["deadline_us"] > 0 and result["rate_groups"] >= 1
