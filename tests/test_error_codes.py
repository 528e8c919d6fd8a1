"""Every error code the server can send has a Chinese and an English text in web/js/i18n.js, and the Chinese
reads as Chinese once its parameters are filled in (issue 15, item 1: no English sentence inside a Chinese screen).

The codes are enumerated from the code itself: the refusal enums (`ErrorCode`, `RoomRefusal`, `CallRefusal`,
`ExhibitRefusal`, the transcript's and procedure's `RefusalCode`, ...), the `code` class attributes of refusal
exceptions, and the string codes handed to the error constructors (`ApiError`, `StationsRefused`, `ClipRefused`,
...). A new code anywhere in these packages without a translation fails here.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hearing", "stations", "petitions", "integrity", "points", "recordings", "signaling", "app", "docket")
# Constructors whose first string argument is an error code sent to clients.
CONSTRUCTORS = {"ApiError", "StationsRefused", "_error", "Refused", "LinkRefused", "LoginRefused", "PetitionRefused",
                "PhotoRefused", "IntegrityRefused", "ClipRefused", "rule_error", "forbidden", "conflict", "not_found"}
ENUM_NAMES = re.compile(r"Refusal|ErrorCode|^Code$")
CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# Sample parameters, as the server sends them (codes, numbers), so the test sees the filled-in sentence.
SAMPLE_PARAMS = {"role": "clerk", "kind": "mediation", "state": "in_session", "action": "admit_deny",
                 "transition": "close", "sides": ["plaintiff", "defendant"], "methods": ["face_match"],
                 "max_mb": 50, "year": 2027, "codec": "H265", "due_at": "2027-01-04", "length": 10,
                 "minutes": 10}


def _string_constant(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
        return node.value
    return None


@cache
def server_error_codes() -> dict[str, str]:
    """code → where it was found (file:construct), from every server package."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            where = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    fn = node.func
                    name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                    if name in CONSTRUCTORS:
                        args = [*node.args[:2], *(k.value for k in node.keywords if k.arg == "code")]
                        code = next((c for c in map(_string_constant, args) if c), None)
                        if code:
                            found.setdefault(code, f"{where}:{name}")
                elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code"
                                                          for t in node.targets):
                    # code = "a" if ... else "b": a code computed from a choice of constants
                    values = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else []
                    for code in filter(None, map(_string_constant, values)):
                        found.setdefault(code, f"{where}:code")
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if not isinstance(stmt, ast.Assign):
                            continue
                        target, value = stmt.targets[0], stmt.value
                        if ENUM_NAMES.search(node.name) and isinstance(target, ast.Name):
                            if code := _string_constant(value):
                                found.setdefault(code, f"{where}:{node.name}")
                        pairs = ([(target, value)] if isinstance(target, ast.Name) else
                                 list(zip(target.elts, value.elts, strict=False))
                                 if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) else [])
                        for t, v in pairs:
                            if isinstance(t, ast.Name) and t.id == "code" and (code := _string_constant(v)):
                                found.setdefault(code, f"{where}:{node.name}.code")
    return found


def _node(script: str) -> object:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@cache
def translations() -> dict[str, dict[str, str]]:
    url = (ROOT / "web/js/i18n.js").as_uri()
    return _node(f"const m = await import({json.dumps(url)});"
                 "console.log(JSON.stringify({zh: m.STRINGS.zh, en: m.STRINGS.en}));")  # type: ignore[return-value]


@cache
def rendered(lang: str) -> dict[str, str]:
    """errorText(...) for every code, in `lang`, as the pages show it (signalling shape and HTTP shape)."""
    url = (ROOT / "web/js/i18n.js").as_uri()
    codes = sorted(server_error_codes())
    return _node(  # type: ignore[return-value]
        f"const m = await import({json.dumps(url)}); m.setLang({json.dumps(lang)}, {{remember: false}});"
        f"const params = {json.dumps(SAMPLE_PARAMS)}; const out = {{}};"
        f"for (const c of {json.dumps(codes)}) {{"
        "  out[c] = m.errorText({error: c, message: 'an English sentence from the server', ...params});"
        "  out['ws:' + c] = m.errorText({type: 'error', code: 'forbidden', reason: c, params,"
        "                                message: 'an English sentence from the server'});"
        "}"
        "out['unknown'] = m.errorText({error: 'a_code_from_a_newer_server', message: 'English'});"
        "console.log(JSON.stringify(out));")


_WORD = r"(?=[A-Za-z]*[a-z])[A-Za-z]{2,}"  # a word with a lower-case letter: "the", "Check" (not "PDF", "ABCDE")
ENGLISH_RUN = re.compile(rf"{_WORD}(?:[\s,;:'’-]+{_WORD})+")  # two English words in a row: a sentence
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_enumeration_finds_codes_of_every_kind() -> None:
    codes = server_error_codes()
    # one of each source: signalling enum, room rules, call rules, HTTP literals, exception attributes, clip uploads
    for code in ("rate_limited", "identity_unchecked", "private_one_side", "call_judge_only", "bad_credentials",
                 "scope_denied", "clip_too_large", "type_mismatch", "station_link_revoked", "insufficient_points",
                 "call_taken"):
        assert code in codes, code
    assert len(codes) > 150


def test_every_server_error_code_has_chinese_and_english() -> None:
    strings = translations()
    missing = {lang: sorted(c for c in server_error_codes() if f"err_{c}" not in strings[lang]) for lang in strings}
    assert missing == {"zh": [], "en": []}, {lang: [f"{c} ({server_error_codes()[c]})" for c in codes]
                                             for lang, codes in missing.items()}


def test_chinese_error_texts_hold_no_english_sentence() -> None:
    zh = rendered("zh")
    english = {code: text for code, text in zh.items() if ENGLISH_RUN.search(text) or not CJK.search(text)}
    assert english == {}
    assert all("English sentence" not in text for text in zh.values())  # never the server's message


def test_english_error_texts_are_english() -> None:
    en = rendered("en")
    chinese = {code: text for code, text in en.items() if CJK.search(text)}
    assert chinese == {}
    assert all("English sentence" not in text for text in en.values())
