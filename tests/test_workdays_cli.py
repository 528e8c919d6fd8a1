"""`hearing workdays`: administrators enter what chinese-calendar does not know yet (here: the year after its last)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from docket.workdays import package_years
from tests.test_cli import HEARING, cli_env


def hearing(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HEARING, "workdays", *args], env=cli_env(tmp_path / "var", 8999), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_an_uncovered_year_is_refused_until_the_administrators_enter_it(tmp_path: Path) -> None:
    year = package_years().stop  # the first year the package does not know
    late = f"{year - 1}-12-30T10:00"
    refused = hearing(tmp_path, "deadline", late, "3")
    assert refused.returncode == 1 and "does not cover" in refused.stderr
    assert hearing(tmp_path, "set", f"{year}-01-01", "--rest", "--reason", "元旦").returncode == 0
    assert hearing(tmp_path, "declare-year", str(year), "--reason", "notice entered").returncode == 0
    shown = hearing(tmp_path, "show")
    assert f"declared complete: {year}" in shown.stdout and f"{year}-01-01  rest  元旦" in shown.stdout
    answer = hearing(tmp_path, "deadline", late, "3")
    assert answer.returncode == 0, answer.stderr
    # 31 Dec (day 1), 1 Jan is the entered holiday, then the weekdays of the declared year
    expected = [d for d in (f"{year - 1}-12-31", f"{year}-01-02", f"{year}-01-03", f"{year}-01-04",
                            f"{year}-01-05") if _weekday(d)]
    assert f"working day 3: {expected[2]}" in answer.stdout
    assert hearing(tmp_path, "clear", f"{year}-01-01").stdout.strip().endswith("override removed")
    assert hearing(tmp_path, "set", "2025-13-01", "--rest", "--reason", "x").returncode == 2


def _weekday(day: str) -> bool:
    from datetime import date

    return date.fromisoformat(day).weekday() < 5
