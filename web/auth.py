"""Log in and out, the current user, role checks and CSRF protection.

Accounts live in the registry (admin, planner, district union bound to one adcode); anonymous
visitors (riders) only read public station data.  Every state-changing request (POST, PUT,
PATCH, DELETE) must carry the session's CSRF token, in the form field ``csrf_token`` or the
``X-CSRF-Token`` header.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Request,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from ..stations.storage import in_scope, scope_prefix  # noqa: F401  (re-exported for the views)
from .errors import ApiError
from .ratelimit import limiter, login_limit
from .services import services

bp = Blueprint("auth", __name__)

ROLE_NAMES = {"admin": "管理员", "planner": "规划人员", "district": "区工会"}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus work the public API does not need: the signer is built
    once per key instead of on every request, and a request without a session cookie (every
    anonymous rider) gets an empty session without one.  Cookies, signing and expiry are Flask's."""

    def __init__(self) -> None:
        self._signer: tuple[object, object] | None = None      # (key material, serializer)

    def get_signing_serializer(self, app: Flask):  # noqa: ANN201
        material = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._signer is None or self._signer[0] != material:
            self._signer = (material, super().get_signing_serializer(app))
        return self._signer[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """``before_request`` hook: refuse state-changing requests without the right token."""
    if request.method not in _UNSAFE or request.routing_exception is not None:
        return  # safe method, or a 404/405 that Flask answers anyway
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        if request.path.startswith("/api/"):
            raise ApiError("缺少或无效的 CSRF 令牌", "missing or invalid CSRF token", status=403)
        abort(403)


def load_user() -> None:
    """``before_request`` hook: ``g.user`` is the logged-in account or None."""
    uid = session.get("uid")
    user = services().registry.get_user(uid) if uid else None
    if user is not None and not hmac.compare_digest(str(session.get("tag", "")), user["session_tag"]):
        user = None                   # the password changed since this session logged in
    g.user = user


def current_user() -> dict[str, Any] | None:
    """The logged-in account (dict with id, username, role, adcode) or None."""
    return g.get("user")


def require(*roles: str) -> Callable:
    """Decorator: the view needs a logged-in user with one of ``roles`` (any role if none given)."""

    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any):  # noqa: ANN202
            user = current_user()
            api = request.path.startswith("/api/")
            if user is None:
                if api:
                    raise ApiError("需要登录", "login required", status=401)
                return redirect(url_for("auth.login", next=request.full_path))
            if roles and user["role"] not in roles:
                if api:
                    raise ApiError("没有权限", "forbidden for this role", status=403)
                abort(403)
            return view(*args, **kwargs)

        return inner

    return wrap


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login():  # noqa: ANN201
    """Login form."""
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:256]
        user = services().registry.check_user(username, password)
        if user is None:
            error = "用户名或密码错误 / wrong username or password"
        else:
            session.clear()
            session["uid"] = user["id"]
            session["tag"] = user["session_tag"]
            csrf_token()
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("pages.index"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():  # noqa: ANN201
    """Log out (POST with the CSRF token)."""
    session.clear()
    flash("已退出登录 / logged out")
    return redirect(url_for("pages.index"))
