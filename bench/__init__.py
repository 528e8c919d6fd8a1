"""Benchmarks: each prints figures (and `--json` lines); speed targets live here, never in timed tests."""
