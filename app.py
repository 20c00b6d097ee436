"""The Flask application (application factory, flaskr style).

``create_app(test_config=None)`` builds the app on a home folder (the Flask instance folder):
the registry database lives there, settings come from :mod:`yizhan.config`.  Pages, the JSON
API and login are blueprints in :mod:`yizhan.web`.  Every script, stylesheet and icon a page uses
is served from ``static/`` (no CDN: the app works offline and in mainland China).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from .config import load_config


def _secret_key(home: Path) -> str:
    """The session signing key: ``<home>/secret_key``, generated (0600) when missing."""
    path = home / "secret_key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app. ``test_config`` may set ``HOME`` and override any setting."""
    from .web import api, auth, errors, manage, pages, ratelimit, regions
    from .web.services import Services

    overrides = dict(test_config or {})
    config = load_config(overrides.pop("HOME", None), **overrides)
    regions.check_region(config)      # an invalid REGION stops here, with a bilingual message
    from .stations.model import normalize_annual_targets

    config["ANNUAL_TARGETS"] = normalize_annual_targets(config.get("ANNUAL_TARGETS"))   # invalid: stops here too
    home = Path(config["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(home), instance_relative_config=True)
    app.config.update(config)
    app.config["SECRET_KEY"] = config.get("SECRET_KEY") or _secret_key(home)
    app.config["MAX_CONTENT_LENGTH"] = int(config["MAX_UPLOAD_BYTES"])
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=bool(config.get("SESSION_COOKIE_SECURE", False)))
    app.json.ensure_ascii = False
    app.session_interface = auth.SessionInterface()
    app.extensions["yizhan"] = Services(app.config)
    app.before_request(auth.load_user)
    app.before_request(auth.check_csrf)
    app.context_processor(lambda: {"csrf_token": auth.csrf_token, "current_user": auth.current_user,
                                   "role_names": auth.ROLE_NAMES})
    for bp in (pages.bp, api.bp, manage.bp, api.openapi_bp, auth.bp):
        app.register_blueprint(bp)
    errors.register(app)
    ratelimit.init(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    return app
