"""The staff page's words live in the one i18n module (web/js/i18n.js): no block there overrides another's key with
other words (`STRING_CONFLICTS` empty), and every key staff.html and web/js/staff/*.js use has zh and en words."""

from __future__ import annotations

import json
import re

from tests.test_error_codes import ROOT, _node

KEY = re.compile(r"""data-i18n(?:-label)?="(\w+)"|\bt\("(\w+)"|\bt\([^()"]*\? "(\w+)" : "(\w+)"\)""")


def _used_keys() -> set[str]:
    sources = [ROOT / "web/staff.html", *sorted((ROOT / "web/js/staff").glob("*.js"))]
    return {k for path in sources for m in KEY.finditer(path.read_text(encoding="utf-8")) for k in m.groups() if k}


def test_no_block_overrides_another_and_every_staff_key_has_words() -> None:
    url = (ROOT / "web/js/i18n.js").as_uri()
    out = _node(f"const m = await import({json.dumps(url)});"
                "console.log(JSON.stringify({conflicts: m.STRING_CONFLICTS, zh: Object.keys(m.STRINGS.zh),"
                " en: Object.keys(m.STRINGS.en)}));")
    assert isinstance(out, dict)
    assert out["conflicts"] == []
    used = _used_keys()
    assert {"staffTitle", "liveStart", "auHeading", "agCreate", "linksPoints", "recVerified"} <= used
    assert sorted(used - set(out["zh"])) == [] and sorted(used - set(out["en"])) == []
    assert not (ROOT / "web/js/staff/strings.js").exists()
