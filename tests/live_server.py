"""The app under gunicorn, as production runs it, for tests whose fault may live in the
real server (sockets, multipart bodies, workers): `gunicorn_server(database_url)`.

It serves the given database (already migrated and filled by the test) with
server/gunicorn_conf.py (as the service does), on a free port of 127.0.0.1, and is
stopped afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn_server(database_url: str, instance: Path, *, app: str = "server:create_app()", **env):
    """`app` (grid-report's, unless a test wraps it) under gunicorn on `database_url`:
    yields its base URL."""
    port = free_port()
    environment = os.environ | {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    log = open(instance / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--config",
            "python:server.gunicorn_conf",
            app,
        ],
        env=environment,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # The first request may wait on the worker's imports and its first connection
        # to the database: on a loaded CI machine that took over a second, so a slow
        # answer is waited for, like a refused connection, until the deadline.
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:
                if process.poll() is not None:
                    raise RuntimeError((instance / "gunicorn.log").read_text()) from None
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not answer within 30 s") from None
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(15)
        log.close()
