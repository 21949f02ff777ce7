"""gunicorn settings for grid-report, inside the package so that an installed wheel has
them: `gunicorn --config python:server.gunicorn_conf 'server:create_app()'` (`make run`
and deploy/grid-report.service).

No preload: each worker builds the app, and so its database pool, after the fork. A
connection opened in the master and shared across a fork would corrupt SQLite's locks
and PostgreSQL's protocol state.
"""

import os
import shutil
import tempfile

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

# /metrics adds up every worker's counters from files in PROMETHEUS_MULTIPROC_DIR
# (prometheus_client's multiprocess mode). The master sets the variable as it starts,
# before any worker is forked (and so before any imports the library: no preload); the
# folder is this run's own (under systemd's RuntimeDirectory when there is one, else a new
# temporary folder), emptied then, and a temporary one is removed when the master stops.
# The master imports no part of the app for it.
_METRICS_PREFIX = "grid-report-metrics-"


def on_starting(server):
    """Give the workers an empty metrics folder: counts of an earlier run are not this
    run's. (A reload by SIGHUP keeps the folder: the variable is set by then.)"""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not folder:
        runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        if runtime:
            folder = os.path.join(runtime, "metrics")
        else:
            folder = tempfile.mkdtemp(prefix=_METRICS_PREFIX)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def post_worker_init(worker):
    """Freeze what the worker holds once it has built the app (modules, mappers, routes,
    schemas: about 120,000 objects the garbage collector tracks) out of the collector's
    sight: a full collection then walks only what the worker made since.

    Measured 2026-12-07 on the 2-core machine, the center's queue page at 1,000,000 cases
    (benchmarks/bench_lists.py, 200 requests, --no-freeze for without): without it a full
    collection paused a request for 183-206 ms and the page's p99 was 250-271 ms; with it
    the longest pause was 52-60 ms (what the worker's caches hold by then) and p99
    130-140 ms. `gc.freeze` is the standard library's tool for a server's long-lived
    start-up objects: garbage made before it is collected first, and a frozen object is
    still freed when nothing refers to it (only a cycle among them would stay)."""
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    """A worker is gone: its live gauges go with it (its counters still count)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove a temporary metrics folder of this run."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(folder).startswith(_METRICS_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)
