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
    "signaling": ({"hearing", "media", "recordings", "integrity", "points", "stations"}, set()),
    "media": ({"hearing", "recordings", "integrity", "points", "stations"}, set()),
    # recordings/ (the object store, the recorder, recorded clips) knows no court rules and no domain packages:
    # who may upload a clip is an authorizer the composition root hands in.
    "recordings": ({"hearing", "integrity", "points", "petitions", "stations"}, set()),
    "docket": ({"hearing", "media", "signaling", "recordings", "integrity", "points", "stations"}, set()),
    "integrity": ({"hearing", "media", "signaling", "recordings", "points"}, {"api.py"}),
    "points": ({"hearing", "media", "signaling", "recordings", "integrity"}, {"api.py"}),
    # petitions/ may use docket/, recordings/ (clips, the object store), signaling/ and media/; never hearing/.
    "petitions": ({"hearing", "integrity", "points", "stations"}, {"api.py"}),
    "stations": ({"hearing", "integrity", "points", "petitions", "app"}, {"api.py"}),
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


@pytest.mark.parametrize("package", ["signaling", "media", "docket", "recordings", "hearing", "integrity", "points"])
def test_nothing_beside_or_below_imports_petitions(package: str) -> None:
    """petitions/ sits beside integrity/ and points/: only app/ (the composition root) wires it in."""
    offenders = [str(path.relative_to(ROOT)) for path in sorted((ROOT / package).rglob("*.py"))
                 if "petitions" in imports_of(path)]
    assert offenders == [], offenders


def test_one_clip_recorder_in_the_browser_client() -> None:
    """Pages record clips through web/js/clip_recorder.js (petitions, stations, the asynchronous trial), not their
    own MediaRecorder code."""
    recorder = ROOT / "web" / "js" / "clip_recorder.js"
    own = [str(p.relative_to(ROOT)) for p in (ROOT / "web").rglob("*.js")
           if p != recorder and "MediaRecorder" in p.read_text(encoding="utf-8")]
    assert own == []
    assert "clip_recorder.js" in (ROOT / "web" / "async" / "async.js").read_text(encoding="utf-8")
