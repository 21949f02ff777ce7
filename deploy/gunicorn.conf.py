"""gunicorn settings for grid-report (used by `make run` and the systemd unit).

Workers are forked before the app opens any database connection (no preload), and each
worker drops any pool it inherited anyway: a connection shared across a fork corrupts
SQLite's locks and PostgreSQL's protocol state.
"""

import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '5000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
preload_app = False
timeout = 60
graceful_timeout = 30
# Photos come from phones on slow networks; nginx buffers them before they reach us.
limit_request_line = 8190
accesslog = "-"
errorlog = "-"
# No query strings in the access log: a villager's tracking link carries its secret there.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'


def post_fork(server, worker):
    """Drop database connections inherited from the master (there should be none)."""
    from server.extensions import db

    app = getattr(worker, "wsgi", None)
    if app is not None:
        with app.app_context():
            db.engine.dispose(close=False)
