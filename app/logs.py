"""Structured (JSON-lines) logs. Only ids go in: never names, tokens or other personal data."""

from __future__ import annotations

import json
import logging
import sys
import time

_STD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_FORBIDDEN = {"token", "name", "resume_token", "password", "sdp"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD and key not in _FORBIDDEN and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """One short line per record for a person at a terminal (`make run`): time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        line = (f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname.lower():<7} "
                f"{record.name}: {record.getMessage()}")
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


def setup_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """JSON lines for collectors; plain lines when a person reads them (`fmt` text, or auto on a terminal), where
    uvicorn's start-up chatter is left out too: the command prints where the platform runs itself."""
    human = fmt == "text" or (fmt == "auto" and sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if human else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "alembic.runtime.migration", *(("uvicorn.error",) if human else ())):
        logging.getLogger(noisy).setLevel(logging.WARNING)
