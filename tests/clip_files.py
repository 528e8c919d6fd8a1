"""Recorded-clip files for tests: the encoder lives in bench/clip_files.py (the clip benchmark uses it too)."""

from bench.clip_files import make_clip

__all__ = ["make_clip"]
