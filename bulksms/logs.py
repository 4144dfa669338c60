"""Logging set-up for the edges (app factory and CLI): text or JSON lines.

Modules only call ``logging.getLogger(__name__)``; handlers are added here, and
only when the root logger has none, so tests and embedding apps keep theirs.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import g, has_request_context

# Anything that looks like a phone number is masked in every record as a last
# line of defence; code masks numbers itself before logging them. A phone number
# here is a run of 8 to 15 digits (E.164's longest), with or without a "+", that
# stands alone: not part of a word or id (cmp_01J..., batch-12), and not either
# side of a decimal point, so "Sleeping for 0.9995017" keeps its digits.
_NUMBER = re.compile(
    r"""
    (?<![\w.+-])          # nothing glued before: a word, a decimal, a sign
    (\+?\d{4})\d{1,8}(\d{3})
    (?![\w-]|\.\d)        # nor after: a word, or the fraction of a decimal
    """,
    re.VERBOSE,
)


def mask_numbers(text: str) -> str:
    return _NUMBER.sub(r"\1****\2", text)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_numbers(super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_numbers(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = mask_numbers(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure(log_format: str, level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    if root.handlers:
        return

    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _MaskingFormatter(
                "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
            )
        )
    root.addHandler(handler)
