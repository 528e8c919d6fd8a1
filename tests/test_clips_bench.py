"""The clip upload benchmark keeps running and reports every figure (no speed asserts), and removes its namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.clips import parse_rate
from tests.conftest import ROOT


def test_rates_parse() -> None:
    assert parse_rate("150kbit") == 150_000 and parse_rate("1mbit") == 1_000_000
    with pytest.raises(Exception):  # noqa: B017 - argparse's own error type
        parse_rate("fast")


@pytest.mark.skipif(os.geteuid() != 0, reason="creates a network namespace (root)")
def test_clip_bench_runs_in_its_own_namespace_and_reports() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.clips", "--rates", "8mbit", "--size-kib", "128", "--cuts", "2",
                          "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    (report,) = json.loads(out.stdout)
    assert report["rate_kbit"] == 8000 and report["clip_bytes"] > 0 and report["cuts"] == 2
    assert report["clean_seconds"] > 0 and report["clean_wire_bytes"] >= report["clip_bytes"]
    assert len(report["kept_of_cut_chunks"]) == 2
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert report["namespace"].startswith("clipbench-") and report["namespace"] not in namespaces
