"""gunicorn's access log, made safe for informants (server/gunicorn_conf.py uses it).

A line saying "this address sent the report form of village X at 21:03" ties a villager
to a report as surely as a stored address would. So for the villagers' pages (/q/..., /t...)
the client's address, user agent and referrer are left out (also for the files those
pages load), and the tracking secret in /t/<secret> is blanked; other paths are logged as
usual. With LOG_FORMAT=json its lines, and gunicorn's own, are JSON
(server/infra/logs.py).
"""

from __future__ import annotations

import os
import re

from gunicorn.glogging import Logger

from server.infra.logs import JsonLines

# The villagers' pages, and what their phones fetch with them (the form's scripts and
# styles, the favicon): a logged fetch of those at 21:03 is the villager too.
PRIVATE_PATH = re.compile(r"^/(q|t|static/villager|favicon\.ico)(/|$)")
_SECRET = re.compile(r"^/t/[^/?]+")


def _redacted(path: str) -> str:
    return _SECRET.sub("/t/[redacted]", path or "")


class PrivateAccessLogger(Logger):
    """Logs villagers' requests without who made them."""

    def setup(self, cfg):
        super().setup(cfg)
        if os.environ.get("LOG_FORMAT") == "json":
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(JsonLines())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = environ.get("PATH_INFO") or ""
        if PRIVATE_PATH.match(path):
            atoms.update(
                {
                    "h": "-",
                    "a": "-",
                    "f": "-",
                    "q": "",
                    "U": _redacted(path),
                    "r": f"{environ.get('REQUEST_METHOD')} {_redacted(path)} "
                    f"{environ.get('SERVER_PROTOCOL')}",
                }
            )
            for key in list(atoms):  # headers and environ copies carry the same facts
                if key.endswith(("}i", "}e")):
                    atoms[key] = "-"
        return atoms
