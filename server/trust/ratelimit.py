"""Rate limits for the public pages, counted in a store every worker shares.

Limits come from the configuration as "N/period" strings. The store is the `limits`
library's: memory (one process) by default, Redis where RATELIMIT_STORAGE_URI names one
(then every worker and machine counts together). Client addresses are keyed by a keyed
hash, so the store never holds an address in clear.

A report is never refused because Redis is down: the counts (and the in-flight marks of
server.trust.idempotency) fall back to the process's own memory, logged, and Redis is tried
again after RETRY_AFTER seconds; /healthz says "degraded" meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
import threading
import time
from functools import cache
from typing import TYPE_CHECKING

from flask import current_app

from server.infra.errors import TooManyRequests

if TYPE_CHECKING:
    from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)
RETRY_AFTER = 30.0  # seconds on the process's own store before Redis is tried again
MEMORY = "memory://"
_down_until: dict[str, float] = {}
_down_lock = threading.Lock()


class RateLimited(TooManyRequests):
    code = "rate_limited"
    default_message = "提交太频繁了，请稍后再试。如有紧急情况请直接拨打 110 / 119。"


@cache
def _limiter(uri: str) -> MovingWindowRateLimiter:
    # Here: `limits` (2 MiB) loads with a worker's first counted request, not at start-up.
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    # A Redis that does not answer must cost a request half a second, not a worker's
    # timeout: then this process counts on its own (store_failed).
    options = (
        {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
        if uri.startswith(("redis://", "rediss://"))
        else {}
    )
    return MovingWindowRateLimiter(storage_from_string(uri, **options))


def anonymise(value: str) -> str:
    """A stable stand-in for a client address (keyed, so it cannot be reversed by lookup).

    An IPv6 address counts by its /64: one phone gets a whole /64 and could otherwise
    change address at every request.
    """
    if ":" in value:
        value = ":".join(value.split(":")[:4]) + "::/64"
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"ratelimit:" + value.encode(), hashlib.sha256).hexdigest()[:24]


def _configured() -> str:
    return str(current_app.config["RATELIMIT_STORAGE_URI"])


def degraded() -> bool:
    """Whether the shared store is down and this process counts on its own for now."""
    uri = _configured()
    return uri != MEMORY and _down_until.get(uri, 0) > time.monotonic()


def _uri() -> str:
    """The store to count in now: the configured one, unless it is down."""
    return MEMORY if degraded() else _configured()


def store_failed(error: Exception) -> None:
    """The shared store did not answer: count in this process's memory for a while."""
    uri = _configured()
    with _down_lock:
        first = _down_until.get(uri, 0) <= time.monotonic()
        _down_until[uri] = time.monotonic() + RETRY_AFTER
    if first:  # once per outage and retry, not once per request
        log.warning(
            "rate-limit store unavailable (%s): counting in process memory for %ss",
            type(error).__name__,
            int(RETRY_AFTER),
        )


def store_errors() -> tuple[type[Exception], ...]:
    """What a store that does not answer raises: the system's errors, and redis-py's, which
    the limits library passes on. redis-py (9 MiB with the cryptography it loads) is not
    imported for it: the library loads it for a redis:// store, and none of its errors can
    be raised before that (a worker counting in memory never loads it)."""
    loaded = sys.modules.get("redis")
    return (ConnectionError, TimeoutError, OSError, *([loaded.RedisError] if loaded else []))


def check(setting: str, *identity: str) -> None:
    """Count one hit against the limit named by config `setting`; RateLimited if over it."""
    from limits import parse  # here: see _limiter

    limit = parse(str(current_app.config[setting]))
    try:
        limiter = _limiter(_uri())
        allowed = limiter.hit(limit, "grid-report", setting, *identity)
    except store_errors() as error:
        store_failed(error)
        limiter = _limiter(MEMORY)
        allowed = limiter.hit(limit, "grid-report", setting, *identity)
    if not allowed:
        reset, _remaining = limiter.get_window_stats(limit, "grid-report", setting, *identity)
        raise RateLimited(retry_after=max(1, int(reset - time.time())))


def shared_store():
    """The store every worker shares (also for requests in flight: server.trust.idempotency);
    the process's own while the shared one is down."""
    return _limiter(_uri()).storage


def check_store() -> str:
    """For /healthz: "ok", "memory" (one process by design) or "degraded"."""
    uri = _configured()
    if uri == MEMORY:
        return "memory"
    try:
        healthy = bool(_limiter(uri).storage.check())
    except store_errors():
        healthy = False
    if not healthy:
        if not degraded():
            store_failed(ConnectionError("the store's health check failed"))
        return "degraded"
    return "degraded" if degraded() else "ok"


def reset_all() -> None:
    """Forget every count (tests)."""
    uri = str(current_app.config["RATELIMIT_STORAGE_URI"])
    _limiter(uri).storage.reset()
