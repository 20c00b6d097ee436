"""Rate limits on the public endpoints (nearest-station API) and on login (Flask-Limiter).

Limits come from the configuration (``RATE_LIMIT_NEAREST``, ``RATE_LIMIT_LOGIN``, e.g.
``"120 per minute"``); ``RATE_LIMIT_STORAGE`` is ``memory://`` by default (per worker process)
or a shared store such as ``redis://host:6379`` when several workers must share one count.
A refused request gets 429 with a bilingual JSON error on API paths.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def init(app: Flask) -> None:
    """Attach the limiter to ``app`` with the configured storage."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("RATE_LIMIT_STORAGE") or "memory://")
    app.config.setdefault("RATELIMIT_ENABLED", bool(app.config.get("RATE_LIMIT_ENABLED", True)))
    limiter.init_app(app)


def nearest_limit() -> str:
    """The limit string for the nearest-station API (read per request, so tests can change it)."""
    from flask import current_app

    return str(current_app.config.get("RATE_LIMIT_NEAREST") or "120 per minute")


def login_limit() -> str:
    """The limit string for login attempts."""
    from flask import current_app

    return str(current_app.config.get("RATE_LIMIT_LOGIN") or "10 per minute")
