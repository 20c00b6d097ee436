"""The JSON API (blueprint ``api``, prefix ``/api``); the OpenAPI document is :mod:`yizhan.web.openapi`.

Every answer is JSON (GeoJSON for map layers, files for downloads); bad input gets a 4xx with
``{"error": {"zh", "en", "field", "status"}}`` and never a 500.  Unknown query parameters are
rejected.  Coordinates in answers are WGS-84 unless ``out_crs`` asks for GCJ-02 (Amap, Tencent) or
BD-09 (Baidu): then every coordinate of the GeoJSON is converted, so overlays sit right on those tiles.

Public (riders, no login): stations, nearest, boundaries, coverage layers, corridors, impact, siting, me.
Login required: proposals (roles as in :mod:`yizhan.stations.proposals`); every POST also needs the
session's CSRF token in ``X-CSRF-Token`` (checked in :mod:`yizhan.web.auth`).
"""

from __future__ import annotations

import functools
import io
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from flask import Blueprint, Response, current_app, send_file

from ..stations import model
from ..stations import proposals as props_mod
from ..stations._errors import RegistryError, WriteConflict
from . import geo
from .auth import csrf_token, current_user, in_scope, require
from .errors import ApiError, args, choice, integer, number
from .errors import bilingual as _bilingual
from .errors import body as _body
from .errors import crs_param as _crs
from .errors import number_field as _number_field
from .errors import text_field as _text_field
from .geo import json_response as _json
from .openapi import bp as openapi_bp  # noqa: F401  (registered by create_app beside this blueprint)
from .ratelimit import check_analysis, limiter, nearest_limit
from .services import services

bp = Blueprint("api", __name__, url_prefix="/api")

#: E-bike riding speed used for ``riding_time_s`` (km/h) and the detour factor applied to the
#: great-circle distance when no road network is loaded.
RIDE_SPEED_KMH = 15.0
DETOUR_FACTOR = 1.3
METRICS = ("great-circle", "grid", "network")
COVERAGE_PARAMS = {"metric", "group", "hour", "res", "threshold_m", "dataset"}
MAX_THRESHOLD_M = 1_000_000.0
MAX_LIMIT = 100_000
MAX_SITES = 200
MAX_TIME_LIMIT_S = 20.0
XLSX_MAX_ROWS = 1_048_575
STATUS_ALIASES = {"pending": "待审核", "accepted": "已采纳", "rejected": "已驳回"}
_JSON = "application/json"
_OPEN_AT = re.compile(r"(?:[01]?[0-9]|2[0-3]):[0-5][0-9]|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
                      r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?")
_ADCODE = re.compile(r"[0-9]{1,6}")


# -- small helpers ----------------------------------------------------------------------------------
def _geojson(text: str) -> Response:
    return Response(text, mimetype=geo.GEOJSON_MIMETYPE)


def _optional_number(values: dict[str, str], name: str, lo: float, hi: float) -> float | None:
    return number(values, name, lo, hi) if str(values.get(name, "")).strip() else None


def _known(value: str, find: Any, field: str, zh: str, en: str) -> str | None:
    """``find(value)`` for a non-empty value (None for an empty one); 400 when it finds nothing."""
    value = value.strip()[:50]
    if not value:
        return None
    found = find(value)
    if found is None:
        raise ApiError(f"未知的{zh}：{value}", f"unknown {en}: {value}", field=field)
    return found


def _group(value: str) -> str | None:
    return _known(value, model.find_group, "group", "劳动者群体", "worker group")


def _type(value: str) -> str | None:
    return _known(value, model.normalize_type, "type", "站点类型", "station type")


def _out_crs(a: dict[str, str]) -> str:
    return choice(a, "out_crs", geo.OUT_CRS, "wgs84")


def _zoom(a: dict[str, str]) -> float | None:
    return _optional_number(a, "zoom", 0, 24)


# -- coverage parameters -----------------------------------------------------------------------------
def dataset_param(a: dict[str, str]) -> dict[str, Any] | None:
    """The hotspot dataset of the ``dataset`` parameter (its record; 404 when unknown), or the newest
    dataset when absent, or None when there is none (then the configured hotspot file)."""
    from ..coverage.datasets import DatasetNotFound

    raw = a.get("dataset", "").strip()
    if raw and not (raw.isdigit() and len(raw) <= 10):
        raise ApiError("参数 dataset 应为数据集编号（整数）", "parameter dataset must be a dataset id (an integer)",
                       field="dataset")
    try:
        return services().dataset(raw or None)
    except DatasetNotFound:
        raise ApiError(f"热点数据集不存在：{raw}", f"no such hotspot dataset: {raw}", status=404,
                       field="dataset") from None


def _coverage_args(a: dict[str, str]) -> dict[str, Any]:
    """metric, group, hour, res, threshold_m, dataset (a record or None) from the query (validated)."""
    threshold = _optional_number(a, "threshold_m", 0, MAX_THRESHOLD_M)
    if threshold is not None and threshold <= 0:
        raise ApiError("参数 threshold_m 应大于 0", "parameter threshold_m must be greater than 0", field="threshold_m")
    return {"metric": choice(a, "metric", METRICS, "great-circle"), "group": _group(a.get("group", "")),
            "hour": integer(a, "hour", None, 0, 23), "res": integer(a, "res", 9, 7, 11), "threshold_m": threshold,
            "dataset": dataset_param(a)}


def _no_hotspots() -> ApiError:
    return ApiError("没有热点数据：请配置 HOTSPOTS_FILE 或运行 yizhan demo 载入样例",
                    "no hotspot data: set HOTSPOTS_FILE or run `yizhan demo` to load the sample", status=404)


def _coverage(a: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """The cached coverage result for the query's parameters (404 without hotspot data)."""
    p = _coverage_args(a)
    try:
        result = services().coverage(**p)
    except ValueError as exc:
        raise ApiError("覆盖分析参数无效", f"invalid coverage parameters: {exc}") from None
    if result is None:
        raise _no_hotspots()
    return result, p


def _network_for(metric: str) -> Any:
    if metric != "network":
        return None
    network = services().network()
    if network is None:
        raise ApiError("未配置道路网络（OSM_FILE）", "no road network configured (OSM_FILE)", status=409,
                       field="metric")
    return network


# -- stations ---------------------------------------------------------------------------------------
def _adcode_prefix(code: str) -> str:
    """The station-adcode prefix of an ``adcode`` filter: a 6-digit code is an area (province,
    city or district; 404 when unknown), shorter digits a raw prefix (``4401``)."""
    from ..geodata.boundaries import area_prefix, is_known

    if not _ADCODE.fullmatch(code):
        raise ApiError("行政区划代码应为 1 到 6 位数字", "adcode must be 1 to 6 digits", field="adcode")
    if len(code) < 6:
        return code.rstrip("0") or code
    if not is_known(code):
        raise ApiError(f"未知的行政区划代码：{code}", f"unknown adcode: {code}", status=404, field="adcode")
    return area_prefix(code)


@bp.route("/stations")
def stations():  # noqa: ANN201
    """Stations as a GeoJSON FeatureCollection; filters: type, group, status, adcode, bbox; out_crs.

    A station waiting for a location (status 待定位) has ``"geometry": null`` (a bbox never holds
    it) and its geocoder's ``candidate`` as an object (coordinates in out_crs) or null."""
    a = args({"type", "group", "status", "adcode", "bbox", "out_crs"})
    out_crs = _out_crs(a)
    bbox = geo.parse_bbox(a.get("bbox"))
    frame = services().registry.stations(bbox=bbox)          # a box is read through the (lat, lon) index
    stype, group = _type(a.get("type", "")), _group(a.get("group", ""))
    if stype:
        frame = frame[frame["type"] == stype]
    if group:
        frame = frame[model.serves_mask(frame["groups"], group)]
    if a.get("status", "").strip():
        status = model.normalize_status(a["status"][:20])
        if status is None:
            raise ApiError("未知状态", "unknown status", field="status")
        frame = frame[frame["status"] == status]
    if a.get("adcode", ""):
        frame = frame[frame["adcode"].astype(str).str.startswith(_adcode_prefix(a["adcode"]))]
    if bbox is not None:
        frame = frame[geo.in_bbox(frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float), bbox)]
    if out_crs != "wgs84" and len(frame):
        frame = frame.copy()      # NaN (a waiting station) stays NaN
        frame["lon"], frame["lat"] = geo.convert_xy(frame["lon"].to_numpy(dtype=float),
                                                    frame["lat"].to_numpy(dtype=float), out_crs)
    fc = geo.station_collection(frame, out_crs)
    fc["crs_name"] = out_crs
    return _geojson(json.dumps(geo.clean(fc), ensure_ascii=False, allow_nan=False))


# -- nearest ----------------------------------------------------------------------------------------
def _now(tz: str) -> datetime:
    """The current local time in ``tz`` (a function so tests can fix the clock)."""
    return datetime.now(ZoneInfo(tz))


def _open_now(hours: Any, now: datetime) -> bool | None:
    """Open at ``now`` by the station's hours; None when the hours are unknown or unreadable."""
    bitmap = _hours_bitmap(hours) if isinstance(hours, str) else None
    return None if bitmap is None else bool(bitmap[now.weekday(), now.hour * 60 + now.minute])


@functools.lru_cache(maxsize=8192)
def _hours_bitmap(hours: str) -> np.ndarray | None:
    """The read-only (7, 1440) open bitmap of an hours text, None when unknown or unreadable;
    cached per text, so a request does not parse hours."""
    from ..stations.hours import OpeningHours

    if not hours.strip():
        return None
    try:
        oh = OpeningHours.parse(hours)
    except (ValueError, TypeError):
        return None
    return None if oh.is_unknown else oh.bitmap


def nav_urls(lon: np.ndarray, lat: np.ndarray, names: list[str]) -> list[dict[str, str]]:
    """Amap (GCJ-02) and Baidu (BD-09) riding-navigation links to WGS-84 points."""
    from ..geodata.crs import from_wgs84

    glon, glat = from_wgs84(lon, lat, "gcj02")
    blon, blat = from_wgs84(lon, lat, "bd09")
    out = []
    for i, name in enumerate(names):
        q = quote(str(name or "驿站"), safe="")
        out.append({
            "amap": (f"https://uri.amap.com/navigation?to={glon[i]:.6f},{glat[i]:.6f},{q}"
                     "&mode=ride&coordinate=gaode&callnative=1&src=yizhan"),
            "baidu": (f"https://api.map.baidu.com/direction?destination=latlng:{blat[i]:.6f},{blon[i]:.6f}|name:{q}"
                      "&mode=riding&coord_type=bd09ll&output=html&src=yizhan"),
        })
    return out


_NAV_CACHE: dict[tuple[Any, Any, Any], tuple[str, str]] = {}
_NAV_CACHE_MAX = 50_000


def _nav_links(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """:func:`nav_urls` of each record (by its ``lon``, ``lat``, ``name``), memoised per station:
    a request converts coordinates only for stations no earlier request returned."""
    keys = [(r["lon"], r["lat"], r["name"]) for r in records]
    found = {key: _NAV_CACHE.get(key) for key in keys}
    missing = [key for key, links in found.items() if links is None]
    if missing:
        lon, lat, names = zip(*missing)
        fresh = nav_urls(np.array(lon, dtype=float), np.array(lat, dtype=float), list(names))
        if len(_NAV_CACHE) + len(missing) > _NAV_CACHE_MAX:
            _NAV_CACHE.clear()
        for key, nav in zip(missing, fresh, strict=True):
            found[key] = _NAV_CACHE[key] = (nav["amap"], nav["baidu"])
    return [{"amap": found[key][0], "baidu": found[key][1]} for key in keys]


def _station_fragments(index: Any) -> list[tuple[str, str, Any] | None]:
    """Per station of ``index``: its JSON object without the closing brace, its navigation links as
    JSON and its hours text (None for a station JSON cannot carry as is).  Built for the whole
    index at once, the links with one vectorised coordinate conversion, and kept with the index."""
    fragments = index.derived.get("api.nearest")
    if fragments is None:
        records = [index.record(i) for i in range(len(index))]
        navs = nav_urls(np.array([r["lon"] for r in records], dtype=float),
                        np.array([r["lat"] for r in records], dtype=float), [r["name"] for r in records])
        fragments = []
        for rec, nav in zip(records, navs, strict=True):
            try:
                fragments.append((json.dumps(rec, ensure_ascii=False, allow_nan=False)[:-1],
                                  json.dumps(nav, ensure_ascii=False), rec.get("hours")))
            except (TypeError, ValueError):
                fragments.append(None)
        index.derived["api.nearest"] = fragments      # two threads may both build it: same result
    return fragments


def _encoded_nearest(index: Any, positions: list[int], distances: list[float], now: datetime,
                     with_open: bool) -> str:
    """The /api/nearest JSON (no road network) from pre-encoded station fragments: the same bytes
    as :func:`_records_response`, but the fixed part of each station (its fields and navigation
    links) is encoded once per index instead of on every request — the public endpoint's main
    cost was encoding the same stations again and again.  ValueError when a station has no
    fragment (the caller then takes the general path)."""
    fragments = _station_fragments(index)
    speed = RIDE_SPEED_KMH / 3.6
    open_member = ', "open": true' if with_open else ""
    parts = []
    for position, distance in zip(positions, distances, strict=True):
        fragment = fragments[position]
        if fragment is None:
            raise ValueError(f"station at position {position} cannot be pre-encoded")
        head, nav, hours = fragment
        d = round(distance, 1)
        is_open = _open_now(hours, now)
        open_now = "null" if is_open is None else "true" if is_open else "false"
        parts.append(f'{head}, "distance_m": {d!r}{open_member}, "road_distance_m": null, '
                     f'"riding_time_s": {round(d * DETOUR_FACTOR / speed, 1)!r}, "open_now": {open_now}, "nav": {nav}}}')
    return "[" + ", ".join(parts) + "]"


def _rank_by_road(records: list[dict[str, Any]], lon: float, lat: float, network: Any) -> list[dict[str, Any]]:
    """Road distance from the rider to each candidate (one Dijkstra from the rider's snapped node,
    bounded), candidates re-ranked by it; unreachable ones last, by great-circle distance."""
    from scipy.sparse.csgraph import dijkstra

    from ..coverage.network import snap

    if not records:
        return records
    r_node, r_leg = snap(network, [lon], [lat])
    s_lon = np.array([r["lon"] for r in records], dtype=float)
    s_lat = np.array([r["lat"] for r in records], dtype=float)
    s_node, s_leg = snap(network, s_lon, s_lat)
    gc = np.array([r["distance_m"] for r in records], dtype=float)
    limit = float(gc.max()) * 4 + 5000.0     # no shortest path to a candidate is longer in practice
    dist = dijkstra(network.length_m, directed=True, indices=int(r_node[0]), limit=limit)
    road = r_leg[0] + dist[s_node] + s_leg
    order = np.lexsort((gc, np.where(np.isfinite(road), road, np.inf)))
    out = []
    for i in order:
        rec = records[i]
        rec["road_distance_m"] = round(float(road[i]), 1) if np.isfinite(road[i]) else None
        out.append(rec)
    return out


@bp.route("/nearest")
@limiter.limit(nearest_limit)
def nearest():  # noqa: ANN201
    """k nearest stations to a point: the ``yizhan nearest --json`` list plus road distance, riding
    time, open_now and navigation links."""
    from ..geodata.crs import to_wgs84
    from ..stations.nearest import OpenAt

    a = args({"lon", "lat", "crs", "k", "type", "group", "service", "open_at"})
    lon = number(a, "lon", -180, 180)
    lat = number(a, "lat", -90, 90)
    crs = _crs(a)
    k = integer(a, "k", int(current_app.config["NEAREST_K"]), 1, 50)
    tz = current_app.config["TIMEZONE"]
    raw_when = a.get("open_at", "")
    try:
        if raw_when and not _OPEN_AT.fullmatch(raw_when):
            raise ValueError(raw_when[:40])
        when = OpenAt.parse(raw_when, tz=tz) if raw_when else None
    except ValueError as exc:
        raise ApiError("开放时间参数应为 HH:MM", f"open_at must be HH:MM ({exc})", field="open_at") from None
    service = a.get("service", "").strip() or None
    if service is not None and len(service) > 50:
        raise ApiError("参数 service 过长", "parameter service too long (at most 50)", field="service")
    stype, group = _type(a.get("type", "")), _group(a.get("group", ""))
    network = services().network()
    index = services().station_index()
    now = _now(tz)
    if network is None:
        pos, dist = index.nearest_positions(lon, lat, crs=crs, k=k, type=stype, group=group, service=service,
                                            open_at=when)
        try:
            return Response(_encoded_nearest(index, pos, dist, now, when is not None), mimetype=_JSON)
        except (TypeError, ValueError):     # a value JSON cannot carry as is: the general path below
            pass
    short_list = max(4 * k, 20) if network is not None else k
    records = index.nearest(lon, lat, crs=crs, k=short_list, type=stype, group=group, service=service,
                            open_at=when)
    if network is not None:
        wlon, wlat = to_wgs84(lon, lat, crs)
        records = _rank_by_road(records, float(wlon), float(wlat), network)[:k]
    return _records_response(records, now)


def _records_response(records: list[dict[str, Any]], now: datetime) -> Response:
    """The /api/nearest answer from the index's records (road distances already set or not)."""
    speed = RIDE_SPEED_KMH / 3.6
    for rec, nav in zip(records, _nav_links(records), strict=True):
        road = rec.get("road_distance_m")
        rec["road_distance_m"] = road
        rec["riding_time_s"] = round((road if road is not None else rec["distance_m"] * DETOUR_FACTOR) / speed, 1)
        rec["open_now"] = _open_now(rec.get("hours"), now)
        rec["nav"] = nav
    try:   # the records are plain Python values: skip geo.clean unless something needs it
        return Response(json.dumps(records, ensure_ascii=False, allow_nan=False), mimetype=_JSON)
    except (TypeError, ValueError):
        return _json(records)


@bp.route("/health")
def health():  # noqa: ANN201
    """Liveness and registry size."""
    args(set())
    return _json({"status": "ok", "stations": services().registry.count()})


@bp.route("/me")
def me():  # noqa: ANN201
    """The logged-in user (or null) and, for a logged-in user, the session's CSRF token."""
    args(set())
    user = current_user()
    if user is None:
        return _json({"user": None, "csrf": None})
    return _json({"user": {"username": user["username"], "role": user["role"], "adcode": user.get("adcode") or ""},
                  "csrf": csrf_token()})


# -- boundaries -------------------------------------------------------------------------------------
@bp.route("/boundaries")
def boundaries():  # noqa: ANN201
    """Administrative boundaries (simplified for display) of one level inside an area (``parent``:
    any province, city or district of mainland China; default: the maps' default area)."""
    from ..geodata.boundaries import LEVELS
    from .regions import current_area, default_parent

    a = args({"level", "parent", "out_crs"})
    level = choice(a, "level", LEVELS, "district")
    parent = a.get("parent", "")
    if parent and not (_ADCODE.fullmatch(parent) and len(parent) == 6):
        raise ApiError("参数 parent 应为 6 位行政区划代码", "parameter parent must be a 6-digit adcode", field="parent")
    out_crs = _out_crs(a)
    text = geo.boundaries_text(level, parent or default_parent(level, current_area()), out_crs)
    if text is None:
        raise ApiError(f"未知的行政区划代码：{parent}", f"unknown adcode: {parent}", status=404, field="parent")
    return _geojson(text)


# -- coverage ----------------------------------------------------------------------------------------
@bp.route("/coverage/cells")
def coverage_cells():  # noqa: ANN201
    """Demand hexagons with distance class, at the level of detail of the map zoom."""
    a = args(COVERAGE_PARAMS | {"bbox", "zoom", "out_crs"})
    out_crs, bbox, zoom = _out_crs(a), geo.parse_bbox(a.get("bbox")), _zoom(a)
    result, _ = _coverage(a)
    return _geojson(geo.cells_collection(result, bbox=bbox, zoom=zoom, out_crs=out_crs))


@bp.route("/coverage/blank-spots")
def coverage_blank_spots():  # noqa: ANN201
    """Ranked blank spots (uncovered demand cells) inside the bbox, as points."""
    a = args(COVERAGE_PARAMS | {"bbox", "limit", "zoom", "out_crs"})
    out_crs, bbox = _out_crs(a), geo.parse_bbox(a.get("bbox"))
    _zoom(a)
    limit = integer(a, "limit", 500, 1, MAX_LIMIT)
    result, _ = _coverage(a)
    return _geojson(geo.blank_spots_collection(result, bbox=bbox, limit=limit, out_crs=out_crs))


@bp.route("/coverage/blind-zones")
def coverage_blind_zones():  # noqa: ANN201
    """Blind-zone outlines overlapping the bbox, largest demand first."""
    a = args(COVERAGE_PARAMS | {"bbox", "min_cells", "min_demand", "limit", "zoom", "out_crs"})
    out_crs, bbox, zoom = _out_crs(a), geo.parse_bbox(a.get("bbox")), _zoom(a)
    min_cells = integer(a, "min_cells", 0, 0, 1_000_000_000)
    min_demand = number(a, "min_demand", 0, 1e15, default=0.0)
    limit = integer(a, "limit", 2000, 1, MAX_LIMIT)
    result, _ = _coverage(a)
    return _geojson(geo.zones_collection(result, bbox=bbox, min_cells=min_cells, min_demand=min_demand, limit=limit,
                                         zoom=zoom, out_crs=out_crs))


def _params(result: Any) -> dict[str, Any]:
    return geo.clean(dict(result.params))


@bp.route("/coverage/summary")
def coverage_summary():  # noqa: ANN201
    """Per-district, per-city and total coverage figures."""
    a = args(COVERAGE_PARAMS)
    result, p = _coverage(a)
    ds = p["dataset"]
    return _json({"params": _params(result), "rows": result.summary.to_dict(orient="records"),
                  "dataset": {"id": ds["id"], "name": ds["name"]} if ds else None,
                  "covered_share": result.covered_share, "total_demand": float(result.cells["demand"].sum()),
                  "n_cells": len(result.cells), "n_blank_spots": len(result.blank_spots),
                  "n_blind_zones": len(result.blind_zones),
                  "admin_blind_zones": result.admin_blind_zones.to_dict(orient="records")})


def _api_cache() -> dict:
    return current_app.extensions.setdefault("yizhan_api", {})


@bp.route("/coverage/hourly")
def coverage_hourly():  # noqa: ANN201
    """Coverage for each hour of the day (stations open at HH:30, demand of that hour): 24 rows."""
    import weakref

    from ..coverage import coverage_by_hour

    a = args({"metric", "group", "res", "threshold_m", "dataset"})
    p = _coverage_args(a)
    svc = services()
    network = _network_for(p["metric"])
    demand = svc.demand(p["res"], dataset=p["dataset"])
    if demand is None:
        raise _no_hotspots()
    cache = _api_cache().setdefault("hourly", {})
    version = svc.registry_version() if hasattr(svc, "registry_version") else svc.registry.version()
    key = (p["metric"], p["group"], p["res"], p["threshold_m"], version, id(demand))
    hit = cache.get(key)
    if hit is None or hit[0]() is not demand:
        check_analysis()                 # 24 new analyses count as one against the client's limit
        try:
            table = coverage_by_hour(svc.registry.stations(), demand, metric=p["metric"], group=p["group"],
                                     threshold_m=p["threshold_m"], thresholds=current_app.config["THRESHOLDS_M"],
                                     network=network)
        except ValueError as exc:
            raise ApiError("覆盖分析参数无效", f"invalid coverage parameters: {exc}") from None
        rows = geo.clean(table.to_dict(orient="records"))
        if len(cache) > 32:
            cache.clear()
        hit = cache[key] = (weakref.ref(demand), rows)
    return _json(hit[1])


_DOWNLOADS = {"summary": ("csv", "xlsx"), "cells": ("csv", "xlsx", "geojson"),
              "blank-spots": ("csv", "xlsx", "geojson"), "blind-zones": ("csv", "xlsx", "geojson")}
_MIMETYPES = {"csv": "text/csv; charset=utf-8", "geojson": geo.GEOJSON_MIMETYPE,
              "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _table(result: Any, what: str, out_crs: str) -> pd.DataFrame:
    if what == "summary":
        return result.summary
    frame = {"cells": result.cells, "blank-spots": result.blank_spots,
             "blind-zones": pd.DataFrame(result.blind_zones.drop(columns="geometry"))}[what].copy()
    if out_crs != "wgs84" and len(frame):
        frame["lon"], frame["lat"] = geo.convert_xy(frame["lon"].to_numpy(dtype=float),
                                                    frame["lat"].to_numpy(dtype=float), out_crs)
    return frame.replace([np.inf, -np.inf], np.nan)


@bp.route("/coverage/download")
def coverage_download():  # noqa: ANN201
    """A coverage table as a file: CSV (UTF-8 with BOM), XLSX or GeoJSON."""
    from ..coverage.summary import SUMMARY_COLUMNS_ZH
    from ..stations.export import neutralize_formulas

    a = args(COVERAGE_PARAMS | {"what", "format", "out_crs"})
    what = choice(a, "what", tuple(_DOWNLOADS), "summary")
    fmt = choice(a, "format", ("csv", "xlsx", "geojson"), "csv")
    if fmt not in _DOWNLOADS[what]:
        raise ApiError(f"{what} 不能导出为 {fmt}", f"{what} cannot be downloaded as {fmt}", field="format")
    out_crs = _out_crs(a)
    result, p = _coverage(a)
    if fmt == "geojson":
        if what == "cells":
            text = geo.collection_text(geo.cell_features(result, int(result.params["res"]), out_crs),
                                       {"params": _params(result)})
        elif what == "blank-spots":
            text = geo.blank_spots_collection(result, bbox=None, limit=max(len(result.blank_spots), 1), out_crs=out_crs)
        else:
            text = geo.zones_collection(result, bbox=None, min_cells=0, min_demand=0.0,
                                        limit=max(len(result.blind_zones), 1), zoom=None, out_crs=out_crs)
        data = text.encode("utf-8")
    else:
        table = _table(result, what, out_crs)
        if fmt == "csv":
            data = neutralize_formulas(table).to_csv(index=False).encode("utf-8-sig")
        else:
            if len(table) > XLSX_MAX_ROWS:
                raise ApiError("行数超过 Excel 上限，请下载 CSV", "too many rows for a worksheet: download CSV",
                               field="format")
            buf = io.BytesIO()
            with pd.ExcelWriter(buf, engine="openpyxl") as xl:
                sheet = {"summary": "区县汇总", "cells": "网格", "blank-spots": "空白点", "blind-zones": "盲区"}[what]
                out = table.rename(columns=SUMMARY_COLUMNS_ZH) if what == "summary" else table
                neutralize_formulas(out).to_excel(xl, sheet_name=sheet, index=False)
                pd.DataFrame({"参数 parameter": list(result.params),
                              "值 value": [str(v) for v in result.params.values()]}).to_excel(xl, sheet_name="参数",
                                                                                             index=False)
            data = buf.getvalue()
    group_slug = model.GROUPS_EN.get(p["group"] or "", "").replace("'", "").replace(" ", "-")
    name = f"yizhan-{what}-{p['metric']}" + (f"-{group_slug}" if group_slug else "") \
        + (f"-h{p['hour']:02d}" if p["hour"] is not None else "") + f"-res{p['res']}" \
        + (f"-dataset{p['dataset']['id']}" if p["dataset"] else "") + f".{fmt}"
    return send_file(io.BytesIO(data), mimetype=_MIMETYPES[fmt], as_attachment=True, download_name=name)


# -- highway corridors -------------------------------------------------------------------------------
CORRIDOR_PARAMS = {"ref", "group", "station_radius_m", "reach_km", "max_gap_km", "adcode", "out_crs"}
#: Most ``ref`` values one request may give, and the longest one (characters).
MAX_REFS = 50
MAX_REF_LEN = 50
#: Properties of each gap line in the ``gaps`` FeatureCollection of /api/corridors.
CORRIDOR_GAP_PROPERTIES = ("ref", "name", "length_km", "from_km", "to_km", "direction", "piece", "over_max",
                           "from_station", "to_station")


def _corridor_refs() -> tuple[str, ...] | None:
    """The ``ref`` parameters (repeatable, each may list several: ``G6,G109``), normalised and sorted;
    None when none is given (every ref of the file)."""
    from flask import request

    from ..geodata.highways import normalize_refs

    raw = [v for v in request.args.getlist("ref") if v.strip()]
    if not raw:
        return None
    if len(raw) > MAX_REFS or any(len(v) > MAX_REF_LEN for v in raw):
        raise ApiError(f"参数 ref 最多 {MAX_REFS} 个，每个最多 {MAX_REF_LEN} 字",
                       f"at most {MAX_REFS} ref parameters of at most {MAX_REF_LEN} characters", field="ref")
    refs = sorted({r for v in raw for r in normalize_refs(v)})
    if not refs:
        raise ApiError("参数 ref 中没有公路编号", "parameter ref holds no highway ref", field="ref")
    return tuple(refs)


def _positive(a: dict[str, str], name: str, hi: float, default: float) -> float:
    value = number(a, name, 0, hi, default=default)
    if value <= 0:
        raise ApiError(f"参数 {name} 应大于 0", f"parameter {name} must be greater than 0", field=name)
    return value


def _area(adcode: str) -> Any:
    """The boundary polygon of a 6-digit adcode (404 when unknown)."""
    from ..geodata.boundaries import geometry_of

    if not (_ADCODE.fullmatch(adcode) and len(adcode) == 6):
        raise ApiError("参数 adcode 应为 6 位行政区划代码", "parameter adcode must be a 6-digit adcode", field="adcode")
    geom = geometry_of(adcode)  # a district's polygon, or a city's/province's union (built once, cached)
    if geom is None:
        raise ApiError(f"未知的行政区划代码：{adcode}", f"unknown adcode: {adcode}", status=404, field="adcode")
    return geom


def _corridors_text(result: Any, adcode: str, out_crs: str) -> str:
    """The /api/corridors answer of a corridor result: corridors touching the area (all without an
    adcode) with their gaps touching it, and those gaps as lines in ``out_crs``."""
    import dataclasses

    import shapely

    view = result
    if adcode:
        area = _area(adcode)
        shapely.prepare(area)
        gap_in = shapely.intersects(np.asarray(result.gaps.geometry.to_numpy(), dtype=object), area)
        piece_in = shapely.intersects(np.asarray(result.pieces.geometry.to_numpy(), dtype=object), area)
        refs = set(result.pieces["ref"].to_numpy()[piece_in])
        view = dataclasses.replace(result, corridors=result.corridors[result.corridors["ref"].isin(refs)],
                                   gaps=result.gaps[gap_in & result.gaps["ref"].isin(refs).to_numpy()])
    rows = view.gap_rows()
    props = pd.DataFrame({c: rows[c].to_numpy() for c in CORRIDOR_GAP_PROPERTIES})
    for c in ("length_km", "from_km", "to_km"):
        props[c] = props[c].astype(float).round(3)
    geoms = geo.transform_geoms(np.asarray(view.gaps.geometry.to_numpy(), dtype=object), out_crs)
    features = geo.feature_strings(geo.geometry_json(geoms), props, list(CORRIDOR_GAP_PROPERTIES))
    params = geo.clean({**result.params, "adcode": adcode or None, "out_crs": out_crs})
    return ('{"corridors":' + json.dumps(view.as_json(), ensure_ascii=False, allow_nan=False)
            + ',"gaps":' + geo.collection_text(features, {"crs_name": out_crs})
            + ',"params":' + json.dumps(params, ensure_ascii=False, allow_nan=False) + "}")


@bp.route("/corridors")
def corridors():  # noqa: ANN201
    """Gaps between in-service stations along the numbered highways of ``HIGHWAYS_FILE`` (the
    ``yizhan corridors --json`` list, longest gap first) and the gap lines as GeoJSON."""
    from ..geodata.highways import UnknownRefError

    a = args(CORRIDOR_PARAMS)
    refs = _corridor_refs()
    group = _group(a.get("group", "")) or "货车司机"
    radius = _positive(a, "station_radius_m", 100_000, 2000.0)
    reach = number(a, "reach_km", 0, 10_000, default=25.0)
    max_gap = _positive(a, "max_gap_km", 10_000, 50.0)
    adcode = a.get("adcode", "").strip()
    if adcode:
        _area(adcode)
    out_crs = _out_crs(a)
    try:
        result = services().corridors(refs=refs, group=group, station_radius_m=radius, reach_km=reach,
                                      max_gap_km=max_gap)
    except UnknownRefError as exc:
        zh, en = _bilingual(str(exc))
        raise ApiError(zh, en, field="ref") from None
    except ValueError as exc:
        raise ApiError("公路走廊参数无效", f"invalid corridor parameters: {exc}") from None
    if result is None:
        raise ApiError("没有公路文件：请配置 HIGHWAYS_FILE（带编号公路的 OSM 文件）",
                       "no highway file: set HIGHWAYS_FILE (an OSM file of numbered highways)", status=404)
    text = geo.CACHE.get(result, ("corridors", adcode, out_crs), lambda: _corridors_text(result, adcode, out_crs))
    return Response(text, mimetype=_JSON)


# -- impact and siting -------------------------------------------------------------------------------
def _site_impact(result: Any, lon: float, lat: float, network: Any) -> Any:
    """:func:`~yizhan.coverage.impact.site_impact`, short-cut for a site far from every demand cell.

    Grid and network distances are never below about half the great-circle distance (network:
    never below it), so a site more than twice the threshold (plus two cell spacings) from every
    demand cell covers nothing new with any metric; its impact is then measured great-circle,
    which gives the same (empty) answer without a grid or network search from afar.
    """
    import dataclasses

    from ..coverage import hexgrid
    from ..coverage.impact import site_impact
    from ..geodata.sphere import haversine_m

    p = result.params
    if p["metric"] != "great-circle" and len(result.cells):
        gc = float(np.min(haversine_m(lon, lat, result.cells["lon"].to_numpy(dtype=float),
                                      result.cells["lat"].to_numpy(dtype=float))))
        if gc > 2 * float(p["threshold_m"]) + 2 * hexgrid.spacing_m(int(p["res"])):
            result, network = dataclasses.replace(result, params={**p, "metric": "great-circle"}), None
    return site_impact(result, lon, lat, network=network)


@bp.route("/impact")
def impact():  # noqa: ANN201
    """What adding a station at (lon, lat) changes in the coverage result of the parameters."""
    from ..geodata.crs import to_wgs84

    a = args(COVERAGE_PARAMS | {"lon", "lat", "crs"})
    lon = number(a, "lon", -180, 180)
    lat = number(a, "lat", -90, 90)
    crs = _crs(a)
    result, p = _coverage(a)
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, crs))
    try:
        out = _site_impact(result, wlon, wlat, _network_for(p["metric"])).as_dict()
    except ValueError as exc:
        raise ApiError("选址坐标无效", f"invalid site: {exc}", field="lon") from None
    out["site"] = {"lon": round(wlon, 7), "lat": round(wlat, 7)}
    out["params"] = _params(result)
    return _json(out)


@bp.route("/siting")
def siting():  # noqa: ANN201
    """New sites among the uncovered cell centres: mclp (k sites) or lscp (reach target_share)."""
    from ..coverage.plan import plan_sites

    a = args(COVERAGE_PARAMS | {"k", "objective", "target_share", "solver", "time_limit_s"})
    k = integer(a, "k", 10, 1, MAX_SITES)
    objective = choice(a, "objective", ("mclp", "lscp"), "mclp")
    target = number(a, "target_share", 0, 1, default=0.9)
    if target <= 0:
        raise ApiError("参数 target_share 应在 (0, 1]", "parameter target_share must be in (0, 1]",
                       field="target_share")
    solver = choice(a, "solver", ("greedy", "exact"), "greedy")
    time_limit = number(a, "time_limit_s", 1, MAX_TIME_LIMIT_S, default=MAX_TIME_LIMIT_S)
    result, p = _coverage(a)
    if not len(result.cells) or result.cells["covered"].all():
        out = {"objective": objective, "solver": solver, "status": "nothing-to-cover", "sites": [],
               "covered_before": float(result.cells.loc[result.cells["covered"], "demand"].sum()),
               "covered_after": float(result.cells.loc[result.cells["covered"], "demand"].sum()),
               "total_demand": float(result.cells["demand"].sum()), "share_before": result.covered_share,
               "share_after": result.covered_share}
    else:
        try:
            plan = plan_sites(result, None, k=k, objective=objective, target_share=target, solver=solver,
                              network=_network_for(p["metric"]), time_limit_s=time_limit)
        except ValueError as exc:
            raise ApiError("选址参数无效", f"invalid siting parameters: {exc}") from None
        out = plan.as_dict()
    out["params"] = _params(result)
    return _json(out)


# -- proposals ---------------------------------------------------------------------------------------


@bp.errorhandler(props_mod.PermissionDenied)
def _denied(exc: props_mod.PermissionDenied):  # noqa: ANN202
    zh, en = _bilingual(str(exc))
    return _json({"error": {"zh": zh, "en": en, "status": 403}}, 403)


@bp.errorhandler(props_mod.StateConflict)
def _conflict(exc: props_mod.StateConflict):  # noqa: ANN202
    zh, en = _bilingual(str(exc))
    return _json({"error": {"zh": zh, "en": en, "status": 409}}, 409)


@bp.errorhandler(RegistryError)
def _registry_error(exc: RegistryError):  # noqa: ANN202
    zh, en = _bilingual(str(exc))
    status = 409 if isinstance(exc, WriteConflict) else 400       # a collision with a concurrent write
    return _json({"error": {"zh": zh, "en": en, "status": status}}, status)


def _services_field(data: dict[str, Any]) -> str:
    value = data.get("services")
    if value is None:
        return ""
    if isinstance(value, str):
        if len(value) > 500:
            raise ApiError("字段 services 过长", "field services too long", field="services")
        return model.normalize_services(value)
    if not isinstance(value, list) or len(value) > 30 or \
            not all(isinstance(v, str) and len(v) <= 50 for v in value):
        raise ApiError("字段 services 应为最多 30 个字符串的列表",
                       "field services must be a list of at most 30 strings", field="services")
    return model.normalize_services(model.SEP.join(v.strip() for v in value if v.strip()))


def _proposal_id(pid: int) -> dict[str, Any]:
    prop = props_mod.get(services().registry, pid)
    if prop is None:
        raise ApiError(f"选址建议不存在：{pid}", f"no such proposal: {pid}", status=404)
    return prop


@bp.route("/proposals", methods=["GET"])
@require()
def proposals_list():  # noqa: ANN201
    """Proposals visible to the user (a district union sees its own district's), newest first."""
    a = args({"status"})
    raw = a.get("status", "").strip()
    status = STATUS_ALIASES.get(raw.lower(), raw) or None
    if status is not None and status not in props_mod.STATUSES:
        raise ApiError("状态应为 待审核、已采纳 或 已驳回", "status must be 待审核 (pending), 已采纳 (accepted) or "
                       "已驳回 (rejected)", field="status")
    frame = props_mod.listing(services().registry, current_user(), status=status)
    return _json(frame.to_dict(orient="records"))


@bp.route("/proposals", methods=["POST"])
@require()
def proposals_submit():  # noqa: ANN201
    """Submit a proposed site; its coverage impact is computed and stored with it (201)."""
    from ..geodata.boundaries import district_of, name_of
    from ..geodata.crs import to_wgs84

    user = current_user()
    data = _body({"lon", "lat", "crs", "name", "type", "host", "services", "reason", "group"})
    lon = _number_field(data, "lon", -180, 180)
    lat = _number_field(data, "lat", -90, 90)
    crs = _crs({"crs": _text_field(data, "crs", 10)})
    name = _text_field(data, "name", 200, required=True)
    stype = model.normalize_type(_text_field(data, "type", 50, required=True))
    if stype is None:
        raise ApiError(f"未知的站点类型：{data['type']}", f"unknown station type: {data['type']}", field="type")
    host = _text_field(data, "host", 100)
    services_text = _services_field(data)
    reason = _text_field(data, "reason", 2000)
    group = _group(_text_field(data, "group", 50))
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, crs))
    located = str(district_of([wlon], [wlat])[0])
    if user["role"] == "district":
        own = str(user.get("adcode") or "")
        if located != own:
            def label(code: str) -> str:
                return f"{name_of(code) or ''}（{code}）" if code else "辖区外"

            raise ApiError(f"区工会只能为本区{label(own)}提交选址，该位置位于{label(located)}",
                           f"a district union may only propose sites in its own district ({own}); "
                           f"this site is in {located or 'another area'}", status=403, field="lon")
    elif not in_scope(user, located):
        raise ApiError("该位置不在您的辖区内", "this site is outside your area", status=403, field="lon")
    impact: dict[str, Any] = {}
    result = services().coverage(group=group)
    if result is not None:
        impact = _site_impact(result, wlon, wlat, None).as_dict()
        impact["params"] = {k: result.params[k] for k in ("metric", "group", "threshold_m", "res")}
    prop = props_mod.submit(services().registry, user, lon=wlon, lat=wlat, name=name, type=stype, host=host,
                            services=services_text, reason=reason, impact=geo.clean(impact))
    return _json(prop, 201, headers={"Location": f"/api/proposals/{prop['id']}"})


@bp.route("/proposals/<int(max=2147483647):pid>", methods=["GET"])
@require()
def proposals_get(pid: int):  # noqa: ANN201
    """One proposal with its history."""
    args(set())
    user = current_user()
    prop = _proposal_id(pid)
    if not in_scope(user, prop["adcode"]):
        raise ApiError("只能查看本辖区的选址建议", "you only see proposals in your own area", status=403)
    prop["history"] = props_mod.history(services().registry, pid).to_dict(orient="records")
    return _json(prop)


@bp.route("/proposals/<int(max=2147483647):pid>/review", methods=["POST"])
@require(*props_mod.REVIEWERS)
def proposals_review(pid: int):  # noqa: ANN201
    """Accept or reject a pending proposal (planners and admins)."""
    data = _body({"accept", "comment"})
    accept = data.get("accept")
    if not isinstance(accept, bool):
        raise ApiError("字段 accept 应为 true 或 false", "field accept must be true or false", field="accept")
    comment = _text_field(data, "comment", 2000)
    _proposal_id(pid)
    return _json(props_mod.review(services().registry, current_user(), pid, accept=accept, comment=comment))


@bp.route("/proposals/<int(max=2147483647):pid>/build", methods=["POST"])
@require(*props_mod.REVIEWERS)
def proposals_build(pid: int):  # noqa: ANN201
    """Turn an accepted proposal into a station in state 筹建中 (201 with the station)."""
    _body(set())
    _proposal_id(pid)
    station = props_mod.build(services().registry, current_user(), pid)
    if hasattr(services(), "invalidate"):
        services().invalidate()             # the station index and coverage see the new station at once
    return _json(station, 201)


from . import datasets as _datasets  # noqa: E402,F401  (the /api/datasets and /api/report routes of this blueprint)
from . import compare as _compare  # noqa: E402,F401  (the /api/coverage/compare and /api/targets routes)
