"""The Flask application (application factory, flaskr style).

``create_app(test_config=None)`` builds the app on a home folder (the Flask instance folder):
the registry database lives there, the settings come from :mod:`yizhan.config`.  Pages and the
JSON API are blueprints registered in the factory.  Every script, stylesheet and icon a page uses
is served from ``static/`` (no CDN: the app must work offline and in mainland China).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .config import load_config
from .stations import model
from .stations.storage import Registry

api = Blueprint("api", __name__, url_prefix="/api")
pages = Blueprint("pages", __name__)


class ApiError(Exception):
    """A bad request to the JSON API: answered with ``status`` and a bilingual message."""

    def __init__(self, zh: str, en: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(en)
        self.zh, self.en, self.status, self.field = zh, en, status, field


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app. ``test_config`` may set ``HOME`` and override any setting."""
    overrides = dict(test_config or {})
    config = load_config(overrides.pop("HOME", None), **overrides)
    app = Flask(__name__, instance_path=config["HOME"], instance_relative_config=True)
    app.config.update(config)
    app.config.setdefault("JSON_AS_ASCII", False)
    app.json.ensure_ascii = False
    app.config["MAX_CONTENT_LENGTH"] = int(config["MAX_UPLOAD_BYTES"])
    import os

    os.makedirs(app.instance_path, exist_ok=True)
    app.extensions["yizhan"] = {"registry": Registry(config["DATABASE_URL"]), "index": None,
                                "index_version": None, "lock": threading.Lock()}
    app.register_blueprint(pages)
    app.register_blueprint(api)
    _register_errors(app)
    return app


def registry() -> Registry:
    """The registry of the current app."""
    return current_app.extensions["yizhan"]["registry"]


def station_index():  # noqa: ANN201
    """The nearest-station index, rebuilt when the registry has changed."""
    from .stations.nearest import StationIndex

    state = current_app.extensions["yizhan"]
    version = state["registry"].version()
    if state["index"] is None or state["index_version"] != version:
        with state["lock"]:
            if state["index"] is None or state["index_version"] != version:
                state["index"] = StationIndex(state["registry"].stations())
                state["index_version"] = version
    return state["index"]


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):  # noqa: ANN202
        body = {"error": {"zh": exc.zh, "en": exc.en, "status": exc.status}}
        if exc.field:
            body["error"]["field"] = exc.field
        return jsonify(body), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        if request.path.startswith("/api/") or request.path.endswith(".json"):
            return jsonify({"error": {"zh": _HTTP_ZH.get(exc.code or 500, "请求错误"), "en": exc.description,
                                      "status": exc.code}}), exc.code
        return exc


_HTTP_ZH = {400: "请求有误", 401: "需要登录", 403: "没有权限", 404: "找不到", 405: "不允许的请求方法",
            413: "上传内容过大", 429: "请求过于频繁", 500: "服务器内部错误"}


# -- request parsing helpers --------------------------------------------------------------------
def _args(allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(f"未知参数：{', '.join(unknown)}", f"unknown parameter(s): {', '.join(unknown)}",
                       field=unknown[0])
    return {k: request.args.get(k, "") for k in allowed if k in request.args}


def _float(args: dict[str, str], name: str, lo: float, hi: float) -> float:
    raw = args.get(name, "").strip()
    if raw == "":
        raise ApiError(f"缺少参数 {name}", f"missing parameter {name}", field=name)
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"参数 {name} 不是数字", f"parameter {name} is not a number", field=name) from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ApiError(f"参数 {name} 超出范围 [{lo}, {hi}]", f"parameter {name} out of range [{lo}, {hi}]",
                       field=name)
    return value


def _int(args: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name, "").strip()
    if raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(f"参数 {name} 应为 {lo} 到 {hi} 的整数", f"parameter {name} must be an integer "
                       f"from {lo} to {hi}", field=name)
    return int(raw)


# -- pages --------------------------------------------------------------------------------------
@pages.route("/")
def index():  # noqa: ANN201
    """Station map (the planner map grows here in the web issue)."""
    return render_template("index.html", types=model.STATION_TYPES, groups=model.GROUPS,
                           count=registry().count())


# -- API ----------------------------------------------------------------------------------------
@api.route("/stations")
def api_stations():  # noqa: ANN201
    """All stations as a GeoJSON FeatureCollection (WGS-84); filters: type, group, status, adcode."""
    from .stations.export import to_geojson_dict

    args = _args({"type", "group", "status", "adcode"})
    frame = registry().stations()
    try:
        if args.get("type"):
            frame = frame[frame["type"] == model.canonical_type(args["type"])]
        if args.get("group"):
            frame = frame[model.serves_mask(frame["groups"], model.canonical_group(args["group"]))]
    except ValueError as exc:
        raise ApiError(str(exc).split(" / ")[0], str(exc), field="type" if "type" in str(exc) else "group")
    if args.get("status"):
        status = model.normalize_status(args["status"])
        if status is None:
            raise ApiError("未知状态", "unknown status", field="status")
        frame = frame[frame["status"] == status]
    if args.get("adcode"):
        frame = frame[frame["adcode"].astype(str).str.startswith(args["adcode"].strip())]
    return jsonify(to_geojson_dict(frame))


@api.route("/nearest")
def api_nearest():  # noqa: ANN201
    """k nearest stations to a point: the same JSON list as ``yizhan nearest --json``."""
    from .stations.crs import CRS_NAMES
    from .stations.nearest import OpenAt

    args = _args({"lon", "lat", "crs", "k", "type", "group", "service", "open_at"})
    lon = _float(args, "lon", -180, 180)
    lat = _float(args, "lat", -90, 90)
    crs = args.get("crs", "wgs84").strip().lower() or "wgs84"
    if crs not in CRS_NAMES:
        raise ApiError("坐标系应为 wgs84、gcj02 或 bd09", "crs must be wgs84, gcj02 or bd09", field="crs")
    k = _int(args, "k", int(current_app.config["NEAREST_K"]), 1, 50)
    try:
        when = OpenAt.parse(args["open_at"], tz=current_app.config["TIMEZONE"]) if args.get("open_at") else None
    except ValueError as exc:
        raise ApiError("开放时间参数应为 HH:MM", f"open_at must be HH:MM ({exc})", field="open_at") from None
    for name, check in (("type", model.normalize_type), ("group", model.normalize_groups)):
        value = args.get(name, "").strip()
        if value and not (check(value) if name == "type" else check(value)[0]):
            raise ApiError(f"未知的{ '站点类型' if name == 'type' else '劳动者群体'}：{value}",
                           f"unknown {name}: {value}", field=name)
    records = station_index().nearest(lon, lat, crs=crs, k=k, type=args.get("type") or None,
                                      group=args.get("group") or None, service=args.get("service") or None,
                                      open_at=when)
    return jsonify(records)


@api.route("/health")
def api_health():  # noqa: ANN201
    """Liveness and registry size."""
    return jsonify({"status": "ok", "stations": registry().count()})
