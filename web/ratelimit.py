"""Rate limits on the public endpoints (nearest-station API) and on login.

Limits come from the configuration (``RATE_LIMIT_NEAREST``, ``RATE_LIMIT_LOGIN``,
``RATE_LIMIT_ANALYSIS`` for new coverage analyses started by anonymous clients, e.g.
``"120 per minute"``, several separated by ``;``); ``RATE_LIMIT_STORAGE`` is ``memory://`` by
default (per worker process) or a shared store such as ``redis://host:6379`` when several workers
must share one count; ``RATE_LIMIT_ENABLED = False`` switches them off.  A refused request gets 429
with a bilingual JSON error on API paths; limited routes answer ``X-RateLimit-Limit``,
``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` and ``Retry-After`` as Flask-Limiter did.

Counting uses the ``limits`` library (storages, strategies and limit strings of Flask-Limiter)
directly: the route decorator costs one counter update and one read, where Flask-Limiter's
request hooks cost more than the whole KD-tree request on every route.  ``memory://`` with the
fixed-window strategy is :class:`LocalCounters`, without the timer thread that limits' own memory
storage starts every 10 ms (each start makes the request wait for the new thread to be scheduled).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import STRATEGIES, RateLimiter
from werkzeug.exceptions import TooManyRequests

_EXTENSION = "yizhan.ratelimit"

#: Seconds between sweeps of expired counters (done inline by the request that notices).
SWEEP_S = 10.0


class LocalCounters(Storage):
    """Per-process fixed-window counters without a background thread (scheme ``yizhan-memory``).

    A counter is ``[hits, expires_at]``; an expired one reads as 0 and restarts on the next hit,
    and expired counters are dropped at most every :data:`SWEEP_S` seconds by the next hit.
    """

    STORAGE_SCHEME: ClassVar[list[str]] = ["yizhan-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool) -> None:
        self._counters: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._swept = time.time()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        """Exceptions of this storage (none expected)."""
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add ``amount`` hits to ``key`` (a new window of ``expiry`` seconds if it had expired)."""
        now = time.time()
        with self._lock:
            if now - self._swept >= SWEEP_S:
                self._counters = {k: c for k, c in self._counters.items() if c[1] > now}
                self._swept = now
            counter = self._counters.get(key)
            if counter is None or counter[1] <= now:
                counter = self._counters[key] = [0, now + expiry]
            counter[0] += amount
            return int(counter[0])

    def get(self, key: str) -> int:
        """Hits of ``key`` in its current window (0 once expired)."""
        counter = self._counters.get(key)
        return int(counter[0]) if counter is not None and counter[1] > time.time() else 0

    def get_expiry(self, key: str) -> float:
        """When the window of ``key`` ends (now when there is none)."""
        counter = self._counters.get(key)
        return counter[1] if counter is not None else time.time()

    def check(self) -> bool:
        """Always healthy (in-process)."""
        return True

    def reset(self) -> int:
        """Drop every counter; returns how many there were."""
        with self._lock:
            n, self._counters = len(self._counters), {}
        return n

    def clear(self, key: str) -> None:
        """Drop the counter of ``key``."""
        with self._lock:
            self._counters.pop(key, None)


@functools.lru_cache(maxsize=64)
def _parse(value: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(value))


class Limiter:
    """Route decorators counting hits per client address and route; one counter store per app
    (:meth:`init_app`), so apps built side by side (tests) do not share counts."""

    def init_app(self, app: Flask) -> None:
        """Attach the configured storage and strategy to ``app``."""
        uri = app.config.get("RATE_LIMIT_STORAGE") or "memory://"
        strategy = app.config.get("RATE_LIMIT_STRATEGY") or "fixed-window"
        if uri == "memory://" and strategy == "fixed-window":
            uri = "yizhan-memory://"
        enabled = bool(app.config.get("RATE_LIMIT_ENABLED", True))
        app.extensions[_EXTENSION] = STRATEGIES[strategy](storage_from_string(uri)) if enabled else None
        app.after_request(_add_headers)

    def limit(self, value: str | Callable[[], str], *, methods: list[str] | None = None) -> Callable:
        """Decorator: at most ``value`` (a limit string, or a function returning one per request)
        requests per client address to this route; only ``methods`` count when given."""
        counted = {m.upper() for m in methods} if methods else None

        def wrap(view: Callable) -> Callable:
            @functools.wraps(view)
            def inner(*args: Any, **kwargs: Any) -> Any:
                strategy = current_app.extensions.get(_EXTENSION)
                if strategy is not None and (counted is None or request.method in counted):
                    _check(strategy, value() if callable(value) else value)
                return view(*args, **kwargs)

            return inner

        return wrap


def _check(strategy: RateLimiter, value: str, scope: str | None = None) -> None:
    """Count this request against every limit in ``value`` (per client and route, or per client and
    ``scope``); 429 at the first one exceeded.  The rate-limit headers of the tightest limit go on
    the answer (:func:`_add_headers`)."""
    items = sorted(_parse(value), key=lambda i: i.get_expiry())
    if not items:
        return
    ident = (request.remote_addr or "127.0.0.1", scope or request.endpoint or request.path)
    shown, ok = items[0], True
    for item in items:
        if not strategy.hit(item, *ident):
            shown, ok = item, False
            break
    reset, remaining = strategy.get_window_stats(shown, *ident)
    reset_at = int(reset + 1)
    g.rate_limit_headers = (("X-RateLimit-Limit", str(shown.amount)), ("X-RateLimit-Remaining", str(remaining)),
                            ("X-RateLimit-Reset", str(reset_at)), ("Retry-After", str(int(reset_at - time.time()))))
    if not ok:
        raise TooManyRequests(description=str(shown))


def _add_headers(response: Response) -> Response:
    """``after_request``: the rate-limit headers of a limited route."""
    headers = g.pop("rate_limit_headers", None)
    if headers:
        for name, text in headers[:-1]:
            response.headers.add(name, text)
        response.headers.set(*headers[-1])
    return response


limiter = Limiter()


def init(app: Flask) -> None:
    """Attach the limiter to ``app`` with the configured storage."""
    limiter.init_app(app)


def nearest_limit() -> str:
    """The limit string for the nearest-station API (read per request, so tests can change it)."""
    return str(current_app.config.get("RATE_LIMIT_NEAREST") or "120 per minute")


def login_limit() -> str:
    """The limit string for login attempts."""
    return str(current_app.config.get("RATE_LIMIT_LOGIN") or "10 per minute")


def check_analysis() -> None:
    """Count one new coverage analysis for an anonymous client against ``RATE_LIMIT_ANALYSIS``
    (default ``30 per minute``; answers from the cache are not counted, logged-in users are not
    limited): the public maps may not be used to keep the server computing.  429 beyond."""
    strategy = current_app.extensions.get(_EXTENSION)
    if strategy is None or g.get("user") is not None:
        return
    _check(strategy, str(current_app.config.get("RATE_LIMIT_ANALYSIS") or "30 per minute"), scope="analysis")
