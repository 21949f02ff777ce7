"""The app's counters for Prometheus (prometheus_client), and counting a thing only once
its transaction commits.

Under gunicorn every worker counts in files of its own in PROMETHEUS_MULTIPROC_DIR
(server/gunicorn_conf.py makes the folder before any worker starts, so the library picks
its multiprocess mode when it is imported) and /metrics adds them up; anywhere else (a
test, `flask run`) the counts live in this process (server/metrics.py reads either).
Figures that the database knows (overdue steps, the outbox) are not counted here: they
are read at each scrape, so they are right whichever worker answers.

Labels take a few known values only (an endpoint's name, a method, a status, a source):
never a path, which can carry a tracking code.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

# This process's metrics (not the library's global registry, which also gathers the
# process's own figures and would be counted twice beside the multiprocess files).
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "grid_report_http_requests",
    "HTTP requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "grid_report_http_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
REPORTS_FILED = Counter(
    "grid_report_reports_filed",
    "Reports filed (committed), by source and category group.",
    ["source", "group"],
    registry=REGISTRY,
)

_PENDING = "metrics_after_commit"


def after_commit(session: Session, counter: Counter, **labels: str) -> None:
    """Count one on `counter` when `session`'s transaction commits (and not at all when
    it rolls back): a report refused after it was built is no report filed."""
    session.info.setdefault(_PENDING, []).append((counter, labels))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for counter, labels in session.info.pop(_PENDING, ()):
        counter.labels(**labels).inc()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint's rollback leaves the rest standing
        session.info.pop(_PENDING, None)
