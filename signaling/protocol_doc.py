"""Generates docs/protocol.md's schema section from the models: `python -m signaling.protocol_doc [--check]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from signaling.closecodes import MEANINGS, RETRYABLE, CloseCode
from signaling.protocol import CLIENT_ADAPTER, PROTOCOL_VERSION, SERVER_ADAPTER

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
BEGIN = "<!-- BEGIN GENERATED SCHEMA (python -m signaling.protocol_doc) -->"
END = "<!-- END GENERATED SCHEMA -->"
CLOSE_BEGIN = "<!-- BEGIN GENERATED CLOSE CODES (python -m signaling.protocol_doc) -->"
CLOSE_END = "<!-- END GENERATED CLOSE CODES -->"


def close_codes_section() -> str:
    """Every code of signaling/closecodes.py with its meaning; a code without one fails here, not in the doc."""
    missing = [c.name for c in CloseCode if c not in MEANINGS]
    if missing:
        raise SystemExit(f"signaling/closecodes.py: no meaning for {', '.join(missing)}")
    rows = [f"| {int(c)} | {MEANINGS[c][0]} | {MEANINGS[c][1]} |" for c in sorted(CloseCode)]
    retry = ", ".join(str(int(c)) for c in sorted(RETRYABLE))
    return "\n".join([CLOSE_BEGIN, "| code | meaning | client should |", "|---|---|---|", *rows, "",
                      f"A client resumes at once after {retry} (`RETRYABLE`); after 4008, once it has slowed down.",
                      CLOSE_END])


def generated_section() -> str:
    client = CLIENT_ADAPTER.json_schema(by_alias=True)
    server = SERVER_ADAPTER.json_schema(by_alias=True)
    return "\n".join([
        BEGIN,
        f"Protocol version {PROTOCOL_VERSION}.",
        "",
        "### Client → server (JSON Schema)",
        "```json",
        json.dumps(client, indent=2, ensure_ascii=False, sort_keys=True),
        "```",
        "",
        "### Server → client (JSON Schema)",
        "```json",
        json.dumps(server, indent=2, ensure_ascii=False, sort_keys=True),
        "```",
        END,
    ])


def _replace(doc_text: str, begin: str, end: str, section: str) -> str:
    if begin not in doc_text or end not in doc_text:
        raise SystemExit(f"{DOC} lacks the markers {begin!r} … {end!r}")
    head, rest = doc_text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + section + tail


def render(doc_text: str) -> str:
    doc_text = _replace(doc_text, CLOSE_BEGIN, CLOSE_END, close_codes_section())
    return _replace(doc_text, BEGIN, END, generated_section())


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{DOC} is out of date: run `python -m signaling.protocol_doc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
