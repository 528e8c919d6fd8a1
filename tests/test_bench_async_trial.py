"""bench.async_trial runs and reports (its figures are printed, not asserted: speed is no test's business)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_async_trial_bench_runs_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.async_trial", "--hearings", "2", "--questions", "2",
                          "--concurrency", "2", "--json"], capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(out.stdout)
    assert report["submissions"] == 2 * 2 * 2  # every party answered every question, each sealed once
    assert {"p50_ms", "p95_ms", "max_ms", "per_second", "assemble_ms", "transcript_chars"} <= set(report)
