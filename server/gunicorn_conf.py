"""gunicorn settings for grid-report, inside the package so that an installed wheel has
them: `gunicorn --config python:server.gunicorn_conf 'server:create_app()'` (`make run`
and deploy/grid-report.service).

No preload: each worker builds the app, and so its database pool, after the fork. A
connection opened in the master and shared across a fork would corrupt SQLite's locks
and PostgreSQL's protocol state.
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
# gunicorn 27's control socket sits in $HOME: two instances (make run beside a systemd
# service) would fight over it, and nothing here uses it.
control_socket_disable = True
accesslog = "-"
# Leaves out who sent a villager's report (server/trust/accesslog.py).
logger_class = "server.trust.accesslog.PrivateAccessLogger"
errorlog = "-"
# No query strings in the access log: a villager's tracking link carries its secret there.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
