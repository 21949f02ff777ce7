"""Log lines as JSON when asked (LOG_FORMAT=json), for journald or a log shipper: one
object per line with time, level, logger and message, the access log's fields by name.

A formatter of our own rather than python-json-logger: it is twenty lines, it writes
exactly the fields named here (that library also copies every `extra=` a caller passes,
a way for an identity to slip into a line unseen), and gunicorn's master imports it
with the access logger (server/trust/accesslog.py): the standard library only, no app.

No line carries an identity: the app logs none (informants' names and phones are sealed
and never logged; a masked phone at most), the access log leaves out who used the
villagers' pages, and a tracking secret in a path (/t/<secret>) is blanked in every line,
an error's traceback included.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

_TRACKING = re.compile(r"/t/[^/\s?#\"']+")


def redact(text: str) -> str:
    """`text` with any tracking secret in a path blanked."""
    return _TRACKING.sub("/t/[redacted]", text)


class RedactTracking(logging.Filter):
    """Blank tracking secrets in a record's message (Flask logs a failed request's path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/t/" in message:
            record.msg, record.args = redact(message), None
        return True


# gunicorn's access atoms, by the names a JSON line gives them.
ACCESS_FIELDS = {
    "h": "remote",
    "m": "method",
    "U": "path",
    "H": "protocol",
    "s": "status",
    "b": "bytes",
    "L": "duration_s",
}


class JsonLines(logging.Formatter):
    """One JSON object per record; an access record's atoms as named fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            for atom, name in ACCESS_FIELDS.items():
                line[name] = record.args[atom]  # already made safe by the access logger
            for name, kind in (("status", int), ("bytes", int), ("duration_s", float)):
                try:
                    line[name] = kind(line[name])
                except ValueError:
                    line[name] = None  # "-": no body
        else:
            line["message"] = redact(record.getMessage())
        if record.exc_info:
            line["error"] = record.exc_info[0].__name__
            line["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def redact_tracking(logger: logging.Logger) -> None:
    """Blank tracking secrets in `logger`'s records (Flask's "Exception on /t/...")."""
    if not any(isinstance(f, RedactTracking) for f in logger.filters):
        logger.addFilter(RedactTracking())


def configure(log_format: str) -> None:
    """For LOG_FORMAT=json: every record that reaches the root logger (the app's, the
    libraries') as a JSON line on stderr, INFO and up. Plain text is left as Python,
    Flask and gunicorn set it."""
    if log_format != "json":
        return
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonLines) for h in root.handlers):
        return  # an app made twice in one process
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Flask's own handler, if an app of this process made it already, writes plain text.
    for name in ("server", "flask.app"):
        logger = logging.getLogger(name)
        for stray in [h for h in logger.handlers if not isinstance(h.formatter, JsonLines)]:
            logger.removeHandler(stray)
