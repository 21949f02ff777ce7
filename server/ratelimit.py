"""Rate limits for the public pages, counted in a store every worker shares.

Limits come from the configuration as "N/period" strings. The store is the `limits`
library's: memory (one process) by default, Redis where RATELIMIT_STORAGE_URI names one
(then every worker and machine counts together). Client addresses are keyed by a keyed
hash, so the store never holds an address in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import cache

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from server.errors import TooManyRequests


class RateLimited(TooManyRequests):
    code = "rate_limited"
    default_message = "提交太频繁了，请稍后再试。如有紧急情况请直接拨打 110 / 119。"


@cache
def _limiter(uri: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(uri))


def anonymise(value: str) -> str:
    """A stable stand-in for a client address (keyed, so it cannot be reversed by lookup).

    An IPv6 address counts by its /64: one phone gets a whole /64 and could otherwise
    change address at every request.
    """
    if ":" in value:
        value = ":".join(value.split(":")[:4]) + "::/64"
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"ratelimit:" + value.encode(), hashlib.sha256).hexdigest()[:24]


def check(setting: str, *identity: str) -> None:
    """Count one hit against the limit named by config `setting`; RateLimited if over it."""
    limit = parse(str(current_app.config[setting]))
    limiter = _limiter(str(current_app.config["RATELIMIT_STORAGE_URI"]))
    if not limiter.hit(limit, "grid-report", setting, *identity):
        reset, _remaining = limiter.get_window_stats(limit, "grid-report", setting, *identity)
        raise RateLimited(retry_after=max(1, int(reset - time.time())))


def shared_store():
    """The store every worker shares (also for requests in flight: server.idempotency)."""
    return _limiter(str(current_app.config["RATELIMIT_STORAGE_URI"])).storage


def reset_all() -> None:
    """Forget every count (tests)."""
    uri = str(current_app.config["RATELIMIT_STORAGE_URI"])
    _limiter(uri).storage.reset()
