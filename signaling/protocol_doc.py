"""Generates docs/protocol.md's schema section from the models: `python -m signaling.protocol_doc [--check]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from signaling.protocol import CLIENT_ADAPTER, PROTOCOL_VERSION, SERVER_ADAPTER

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
BEGIN = "<!-- BEGIN GENERATED SCHEMA (python -m signaling.protocol_doc) -->"
END = "<!-- END GENERATED SCHEMA -->"


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


def render(doc_text: str) -> str:
    if BEGIN not in doc_text or END not in doc_text:
        raise SystemExit(f"{DOC} lacks the markers {BEGIN!r} … {END!r}")
    head, rest = doc_text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + generated_section() + tail


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
