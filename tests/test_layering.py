"""The dependency direction of DESIGN.md, checked on the source: the lower packages know nothing of court rules.

signaling/, media/ and docket/ never import hearing/; integrity/ and points/ read facts from docket/ and never
import hearing/, media/, signaling/ or recordings/ — except their HTTP shells (api.py), which borrow the staff
session from hearing/'s staff API. Nothing imports app/ (ruff's banned-import rule covers that).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RULES: dict[str, tuple[set[str], set[str]]] = {
    # package: (forbidden top-level imports, files exempted)
    "signaling": ({"hearing", "media", "recordings", "integrity", "points"}, set()),
    "media": ({"hearing", "recordings", "integrity", "points"}, set()),
    "docket": ({"hearing", "media", "signaling", "recordings", "integrity", "points"}, set()),
    "integrity": ({"hearing", "media", "signaling", "recordings", "points"}, {"api.py"}),
    "points": ({"hearing", "media", "signaling", "recordings", "integrity"}, {"api.py"}),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(RULES))
def test_lower_packages_do_not_import_upward(package: str) -> None:
    forbidden, exempt = RULES[package]
    offenders = {
        str(path.relative_to(ROOT)): sorted(imports_of(path) & forbidden)
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name not in exempt and imports_of(path) & forbidden
    }
    assert offenders == {}, offenders
