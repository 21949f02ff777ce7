"""`/metrics` in Prometheus' text format, and the request counters behind it.

What is counted in the workers (requests and their time by endpoint, reports filed:
server/infra/metrics.py) is added up across gunicorn's workers from the multiprocess
folder; what the database knows (overdue steps, the outbox's backlog and dead letters,
when the sweep and the sender last ran) is read at each scrape by `DatabaseCollector`, so
every worker answers the same.

Not for the internet: the page answers only a client whose address is in METRICS_ALLOW
(loopback by default), judged on the socket's peer and on every address an
X-Forwarded-For header names (a request that came through nginx from outside carries the
outsider's), and, when METRICS_TOKEN is set, only with `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from server.follow_through import jobs
from server.infra import clock
from server.infra import metrics as counters

bp = Blueprint("metrics", __name__)

# Methods a label may take; anything else a client invents is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class DatabaseCollector:
    """The figures the database knows, read at each scrape."""

    def collect(self):
        backlog = jobs.backlog()
        now = clock.now()
        yield GaugeMetricFamily(
            "grid_report_overdue_steps",
            "Running steps of open cases past their deadline.",
            value=backlog.overdue_steps,
        )
        yield GaugeMetricFamily(
            "grid_report_outbox_pending",
            "Notifications waiting to be sent (due now or waiting for a retry).",
            value=backlog.pending,
        )
        yield GaugeMetricFamily(
            "grid_report_outbox_oldest_due_seconds",
            "How long the oldest notification due to be sent has waited (0: none).",
            value=(now - backlog.oldest_due_at).total_seconds() if backlog.oldest_due_at else 0,
        )
        yield GaugeMetricFamily(
            "grid_report_outbox_dead",
            "Notifications the sender gave up on (dead letters), until resent by hand.",
            value=backlog.dead,
        )
        runs = jobs.last_runs()
        for field, help_text in (
            ("started_at", "When the job last started (Unix time; absent: never)."),
            ("finished_at", "When the job last finished, well or not (Unix time)."),
            ("ok_at", "When the job last finished without an error (Unix time)."),
        ):
            family = GaugeMetricFamily(
                f"grid_report_job_last_{field.removesuffix('_at')}_timestamp_seconds",
                help_text,
                labels=["job"],
            )
            for run in runs.values():
                moment = getattr(run, field)
                if moment is not None:
                    family.add_metric([run.name], moment.timestamp())
            yield family
        failing = GaugeMetricFamily(
            "grid_report_job_last_run_failed",
            "1 when the job's last run ended with an error.",
            labels=["job"],
        )
        for run in runs.values():
            failing.add_metric([run.name], 1 if run.error else 0)
        yield failing


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = str(current_app.config["METRICS_ALLOW"])
    return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part]


def _addresses() -> list[str]:
    """The socket's peer (as it was before ProxyFix, if it ran) and every address the
    request says it was forwarded for."""
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    peer = original.get("REMOTE_ADDR", request.environ.get("REMOTE_ADDR", ""))
    forwarded = original.get("HTTP_X_FORWARDED_FOR", request.headers.get("X-Forwarded-For", ""))
    return [peer, *(part.strip() for part in forwarded.split(",") if part.strip())]


def may_scrape() -> bool:
    """Whether this request may read /metrics (see the module's note)."""
    networks = _allowed_networks()
    for raw in _addresses():
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            return False
        if not any(address in network for network in networks):
            return False
    token = str(current_app.config["METRICS_TOKEN"])
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    return True


@bp.get("/metrics")
def scrape():
    """Every metric, in Prometheus' text format."""
    if not may_scrape():
        return Response("forbidden\n", status=403, mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every worker's files, the dead ones' too
    else:
        for metric in (counters.REQUESTS, counters.LATENCY, counters.REPORTS_FILED):
            registry.register(metric)
    registry.register(DatabaseCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _answered(response: Response) -> Response:
    rule = request.url_rule
    endpoint = rule.endpoint if rule is not None else "unrouted"
    method = request.method if request.method in METHODS else "other"
    counters.REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        counters.LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Register /metrics and count every request: timed from the first of the app's
    before-request hooks to its last after-request one."""
    app.register_blueprint(bp)
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    # after_request functions run last-registered first: at the front, this one runs last.
    app.after_request_funcs.setdefault(None, []).insert(0, _answered)
