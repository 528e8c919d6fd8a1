"""Every notification code the server can emit has a Chinese and an English text in web/js/i18n.js (`LABELS.notice`).

The codes are read from the code itself: every call of the one notifier (`notify_in(conn, recipient, code, ...)`,
`inbox.notify(recipient, code, ...)`) in the server's packages, with the code a string literal or a module-level
string constant. A call whose code cannot be resolved that way fails the test, so no code escapes it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "docket", "hearing", "integrity", "petitions", "points", "recordings", "signaling", "stations",
            "media")


def _constants(tree: ast.Module) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def emitted_codes() -> dict[str, str]:
    """code -> where it is emitted; raises on a call whose code is not a literal or a module constant."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "docket" / "notifications.py":  # the notifier itself passes its callers' codes on
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            consts = _constants(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                fn = node.func
                name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                if name == "notify_in":
                    arg = node.args[2] if len(node.args) > 2 else None
                elif name == "notify" and isinstance(fn, ast.Attribute):
                    arg = node.args[1] if len(node.args) > 1 else None
                else:
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found[arg.value] = where
                elif isinstance(arg, ast.Name) and arg.id in consts:
                    found[consts[arg.id]] = where
                else:
                    raise AssertionError(f"{where}: a notification code that is not a literal or a constant")
    return found


def notice_labels() -> tuple[set[str], set[str]]:
    source = (ROOT / "web" / "js" / "i18n.js").read_text(encoding="utf-8")
    start = source.index("LABELS.notice = {")
    block = source[start:source.index("\n};", start)]
    zh, en = block.split("\n  en: {", 1)
    keys = re.compile(r'"([a-z][a-z0-9_.]*)":\s*"[^"]+"')
    return set(keys.findall(zh)), set(keys.findall(en))


def test_every_notification_code_the_server_emits_has_chinese_and_english() -> None:
    codes = emitted_codes()
    assert {"petition.assigned", "async_trial.reminder", "async_trial.overdue", "async_trial.reverted"} <= set(codes)
    zh, en = notice_labels()
    for code, where in sorted(codes.items()):
        assert code in zh, f"{code} ({where}) has no Chinese text in LABELS.notice"
        assert code in en, f"{code} ({where}) has no English text in LABELS.notice"


def test_the_enumeration_sees_a_code_hidden_behind_a_constant() -> None:
    """The scanner resolves module constants (the async trial's codes are): a scan that missed them would pass
    vacuously."""
    codes = emitted_codes()
    assert codes["async_trial.reverted"].startswith("hearing/async_trial_deadlines.py")
