"""The JSON API (blueprint ``api``, prefix ``/api``).

Every answer is JSON; bad input gets a 4xx with ``{"error": {"zh", "en", "field", "status"}}``.
Coordinates in answers are WGS-84 unless a route says otherwise.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..stations import model
from .errors import ApiError, args, integer, number
from .services import services

bp = Blueprint("api", __name__, url_prefix="/api")


def _group(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    found = model.find_group(value)
    if found is None:
        raise ApiError(f"未知的劳动者群体：{value}", f"unknown worker group: {value}", field="group")
    return found


def _type(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    found = model.normalize_type(value)
    if found is None:
        raise ApiError(f"未知的站点类型：{value}", f"unknown station type: {value}", field="type")
    return found


@bp.route("/stations")
def stations():  # noqa: ANN201
    """All stations as a GeoJSON FeatureCollection (WGS-84); filters: type, group, status, adcode."""
    from ..stations.export import to_geojson_dict

    a = args({"type", "group", "status", "adcode"})
    frame = services().registry.stations()
    stype, group = _type(a.get("type", "")), _group(a.get("group", ""))
    if stype:
        frame = frame[frame["type"] == stype]
    if group:
        frame = frame[model.serves_mask(frame["groups"], group)]
    if a.get("status"):
        status = model.normalize_status(a["status"])
        if status is None:
            raise ApiError("未知状态", "unknown status", field="status")
        frame = frame[frame["status"] == status]
    if a.get("adcode"):
        code = a["adcode"].strip()
        if not code.isdigit() or len(code) > 6:
            raise ApiError("行政区划代码应为数字", "adcode must be digits", field="adcode")
        frame = frame[frame["adcode"].astype(str).str.startswith(code.rstrip("0") or code)]
    return jsonify(to_geojson_dict(frame))


@bp.route("/nearest")
def nearest():  # noqa: ANN201
    """k nearest stations to a point: the same JSON list as ``yizhan nearest --json``."""
    from ..stations.crs import CRS_NAMES
    from ..stations.nearest import OpenAt

    a = args({"lon", "lat", "crs", "k", "type", "group", "service", "open_at"})
    lon = number(a, "lon", -180, 180)
    lat = number(a, "lat", -90, 90)
    crs = a.get("crs", "wgs84").strip().lower() or "wgs84"
    if crs not in CRS_NAMES:
        raise ApiError("坐标系应为 wgs84、gcj02 或 bd09", "crs must be wgs84, gcj02 or bd09", field="crs")
    k = integer(a, "k", int(current_app.config["NEAREST_K"]), 1, 50)
    try:
        when = OpenAt.parse(a["open_at"], tz=current_app.config["TIMEZONE"]) if a.get("open_at") else None
    except ValueError as exc:
        raise ApiError("开放时间参数应为 HH:MM", f"open_at must be HH:MM ({exc})", field="open_at") from None
    service = a.get("service", "").strip()[:20] or None
    records = services().station_index().nearest(lon, lat, crs=crs, k=k, type=_type(a.get("type", "")),
                                                 group=_group(a.get("group", "")), service=service, open_at=when)
    return jsonify(records)


@bp.route("/health")
def health():  # noqa: ANN201
    """Liveness and registry size."""
    return jsonify({"status": "ok", "stations": services().registry.count()})
