"""grid-report with each request under a profiler, for `bench_reports.py --profile`.

The app is grid-report's own (`server.create_app`), served by the same gunicorn as in the
benchmark; each request's work is profiled in the thread that serves it, and each worker
writes what it gathered to PROFILE_DIR when it stops:

- PROFILER=pyinstrument: a statistical profile of wall time (`<pid>.pyisession`), which
  shows waits too (the write queue, the disk's flush);
- PROFILER=cprofile: cProfile timed by the thread's own CPU clock (`<pid>.prof`), which
  shows only what costs CPU, call counts included.
"""

from __future__ import annotations

import atexit
import cProfile
import functools
import os
import threading
import time

from server import create_app as create_grid_app


def create_app():
    app = create_grid_app()
    folder = os.environ["PROFILE_DIR"]
    kind = os.environ.get("PROFILER", "pyinstrument")
    inner = app.wsgi_app
    lock = threading.Lock()
    gathered: list = []

    if kind == "pyinstrument":
        from pyinstrument import Profiler
        from pyinstrument.session import Session

        def profiled(environ, start_response):
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            try:
                return list(inner(environ, start_response))
            finally:
                session = profiler.stop()
                with lock:
                    gathered.append(session)

        def save():
            if gathered:
                combined = functools.reduce(Session.combine, gathered)
                combined.save(os.path.join(folder, f"{os.getpid()}.pyisession"))

    else:
        mine = threading.local()

        def profiled(environ, start_response):
            profile = getattr(mine, "profile", None)
            if profile is None:
                profile = mine.profile = cProfile.Profile(time.thread_time)
                with lock:
                    gathered.append(profile)
            profile.enable()
            try:
                return list(inner(environ, start_response))
            finally:
                profile.disable()

        def save():
            import pstats

            if gathered:
                stats = pstats.Stats(*gathered)
                stats.dump_stats(os.path.join(folder, f"{os.getpid()}.prof"))

    app.wsgi_app = profiled
    atexit.register(save)
    return app
