"""grid-report's app with one more path, /gc-probe, that tells how the worker serving it
stands with Python's garbage collector (tests/test_startup.py)."""

from __future__ import annotations

import gc
import json

from server import create_app as create_grid_app


def create_app():
    app = create_grid_app()
    inner = app.wsgi_app

    def wsgi(environ, start_response):
        if environ["PATH_INFO"] != "/gc-probe":
            return inner(environ, start_response)
        body = json.dumps(
            {"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}
        ).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    app.wsgi_app = wsgi
    return app
