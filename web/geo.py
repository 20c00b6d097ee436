"""GeoJSON for the JSON API: output coordinate systems, bounding boxes, the hexagon levels of detail.

Everything here is vectorised: geometries are converted with ``shapely.transform`` and the
coordinate functions of :mod:`yizhan.geodata.crs`, serialised with ``shapely.to_geojson`` and
joined with their properties by Arrow string kernels (as :func:`yizhan.coverage.outputs.write_points_geojson`
does), so a FeatureCollection of 40 000 hexagons is one string concatenation, not 40 000 dicts.

Coverage layers are cached per :class:`~yizhan.coverage.CoverageResult` (weakly: an entry goes when
the result leaves the services' cache) and per resolution / output CRS, so the planner map's requests
after the first one only filter pre-rendered features by their centres.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from ..coverage import hexgrid
from ..coverage.outputs import _json_column
from ..geodata.crs import from_wgs84
from .errors import ApiError

OUT_CRS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")
#: Most hexagons one ``/api/coverage/cells`` answer holds; more are coarsened to parent cells.
MAX_CELL_FEATURES = 20_000
#: Decimal places of output coordinates (1 cm).
DECIMALS = 7
#: Douglas-Peucker tolerance (degrees) of the boundaries per level, for display.
BOUNDARY_TOLERANCE = {"province": 0.003, "city": 0.0015, "district": 0.0004}
GEOJSON_MIMETYPE = "application/geo+json"


# -- coordinates ----------------------------------------------------------------------------------
def convert_xy(lon: Any, lat: Any, out_crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 ``lon, lat`` arrays in ``out_crs``, rounded to :data:`DECIMALS`."""
    x, y = from_wgs84(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), out_crs)
    return np.round(x, DECIMALS), np.round(y, DECIMALS)


def transform_geoms(geoms: Any, out_crs: str) -> np.ndarray:
    """Every coordinate of ``geoms`` (WGS-84) in ``out_crs``, rounded; one vectorised pass."""
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return arr

    def convert(xy: np.ndarray) -> np.ndarray:
        x, y = convert_xy(xy[:, 0], xy[:, 1], out_crs)
        return np.column_stack([x, y])

    return shapely.transform(arr, convert)


# -- bounding boxes -------------------------------------------------------------------------------
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?)"
_LAT = r"-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?)"
#: What ``bbox`` accepts (also the pattern in the OpenAPI document): four plain decimal numbers,
#: longitudes within -180..180 and latitudes within -90..90; empty means no box.
BBOX_PATTERN = rf"^(?:{_LON},{_LAT},{_LON},{_LAT})?$"


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minLon,minLat,maxLon,maxLat`` (WGS-84 degrees) or None when empty; ApiError (400) for
    anything else.  Corners given in the other order are put right (min <= max)."""
    import re

    raw = str(text or "")
    if not raw:
        return None
    if len(raw) > 200 or re.fullmatch(BBOX_PATTERN, raw) is None:
        raise ApiError("参数 bbox 应为 最小经度,最小纬度,最大经度,最大纬度（经度 -180..180，纬度 -90..90）",
                       "parameter bbox must be minLon,minLat,maxLon,maxLat (lon -180..180, lat -90..90)",
                       field="bbox")
    x0, y0, x1, y1 = (float(p) for p in raw.split(","))
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def cell_margin_m(res: int) -> float:
    """Distance (m) by which a cell of ``res`` may reach beyond its centre: twice h3's average edge
    length (a hexagon's circumradius equals its edge; cells vary in size by less than 2x)."""
    import h3

    return 2.0 * float(h3.average_hexagon_edge_length(int(res), unit="m"))


def expand_bbox(bbox: tuple[float, float, float, float], margin_m: float) -> tuple[float, float, float, float]:
    """``bbox`` grown by ``margin_m`` metres on every side (degrees; longitudes at the box's widest)."""
    x0, y0, x1, y1 = bbox
    dlat = margin_m / 111_320.0
    cos = max(math.cos(math.radians(min(max(abs(y0), abs(y1)) + dlat, 89.0))), 1e-6)
    dlon = margin_m / (111_320.0 * cos)
    return x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat


def in_bbox(lon: np.ndarray, lat: np.ndarray, bbox: tuple[float, float, float, float] | None) -> np.ndarray:
    """Boolean mask of the points inside ``bbox`` (all True without a box)."""
    if bbox is None:
        return np.ones(len(lon), dtype=bool)
    x0, y0, x1, y1 = bbox
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


# -- serialisation --------------------------------------------------------------------------------
def _const(text: str, n: int) -> pa.Array:
    return pa.array([text] * n, type=pa.string())


def feature_strings(geometry_json: np.ndarray, props: pd.DataFrame, columns: Sequence[str],
                    raw: Sequence[str] = ()) -> np.ndarray:
    """One GeoJSON Feature (text) per row: ``geometry_json`` (GeoJSON geometry texts) and the
    ``columns`` of ``props`` as properties (NaN/inf -> null); ``raw`` columns hold JSON text
    already (lists) and are spliced in as they are."""
    import pyarrow.compute as pc

    n = len(geometry_json)
    if n == 0:
        return np.empty(0, dtype=object)
    parts = [_const('{"type":"Feature","geometry":', n), pa.array(list(geometry_json), type=pa.string()),
             _const(',"properties":{', n)]
    for i, col in enumerate([*columns, *raw]):
        values = (pa.array(list(props[col]), type=pa.string()) if col in raw
                  else _json_column(props[col].reset_index(drop=True)))
        parts += [_const(("," if i else "") + json.dumps(col, ensure_ascii=False) + ":", n), values]
    parts.append(_const("}}", n))
    return np.asarray(pc.binary_join_element_wise(*parts, "").to_pylist(), dtype=object)


def geometry_json(geoms: np.ndarray) -> np.ndarray:
    """GeoJSON geometry texts of shapely geometries."""
    if len(geoms) == 0:
        return np.empty(0, dtype=object)
    return np.asarray(shapely.to_geojson(np.asarray(geoms, dtype=object)), dtype=object)


def point_json(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """GeoJSON Point texts (coordinates as given)."""
    import pyarrow.compute as pc

    n = len(lon)
    if n == 0:
        return np.empty(0, dtype=object)
    text = pc.binary_join_element_wise(_const('{"type":"Point","coordinates":[', n), _json_column(pd.Series(lon)),
                                       _const(",", n), _json_column(pd.Series(lat)), _const("]}", n), "")
    return np.asarray(text.to_pylist(), dtype=object)


def collection_text(features: Sequence[str] | np.ndarray, extra: dict[str, Any] | None = None) -> str:
    """A FeatureCollection text from feature texts, with foreign members ``extra`` (JSON-ready)."""
    head = '{"type":"FeatureCollection"'
    for key, value in (extra or {}).items():
        head += "," + json.dumps(key) + ":" + json.dumps(value, ensure_ascii=False, allow_nan=False)
    return head + ',"features":[' + ",".join(features) + "]}"


# -- per-result cache -----------------------------------------------------------------------------
class ResultCache:
    """Values derived from one object (a coverage result), dropped with it; LRU over objects."""

    def __init__(self, size: int = 32) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, tuple[weakref.ref, dict]] = OrderedDict()
        self._size = size

    def get(self, owner: Any, key: Any, build: Callable[[], Any]) -> Any:
        """``build()`` once per (owner, key)."""
        oid = id(owner)
        with self._lock:
            entry = self._entries.get(oid)
            if entry is None or entry[0]() is not owner:
                entry = (weakref.ref(owner), {})
                self._entries[oid] = entry
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(oid)
            store = entry[1]
            if key in store:
                return store[key]
        value = build()                     # outside the lock: a duplicate build is harmless
        with self._lock:
            return store.setdefault(key, value)


CACHE = ResultCache()


# -- coverage hexagons and their levels of detail ----------------------------------------------------
def distance_class(distance_m: np.ndarray, threshold_m: float) -> np.ndarray:
    """0..4: <= half the threshold, <= threshold, <= 2x, <= 4x, farther or unreachable."""
    d = np.asarray(distance_m, dtype=float)
    with np.errstate(over="ignore"):        # a tiny threshold: the ratio overflows to inf, class 4
        ratio = np.where(np.isfinite(d), d / float(threshold_m), np.inf)
    return np.searchsorted(np.array([0.5, 1.0, 2.0, 4.0]), ratio, side="left").astype(np.int64)


@dataclass(frozen=True, eq=False)
class CellLevel:
    """The demand cells of a result at one resolution (the analysis one, or parents aggregated)."""

    res: int
    cells: np.ndarray          # uint64
    lon: np.ndarray            # centre, WGS-84
    lat: np.ndarray
    props: pd.DataFrame        # h3, demand, distance_m, covered, covered_share, nearest_id, dclass, res, n_cells


CELL_COLUMNS = ["h3", "demand", "distance_m", "covered", "covered_share", "nearest_id", "dclass", "res", "n_cells"]


def _aggregate(result: Any, res: int) -> CellLevel:
    cells_df = result.cells
    threshold = float(result.params["threshold_m"])
    analysis_res = int(result.params["res"])
    raw = hexgrid.str_to_cells(cells_df["h3"].to_numpy(dtype=object)) if len(cells_df) else np.empty(0, np.uint64)
    demand = cells_df["demand"].to_numpy(dtype=float)
    dist = cells_df["distance_m"].to_numpy(dtype=float)
    covered = cells_df["covered"].to_numpy(dtype=bool)
    nearest = cells_df["nearest_id"].to_numpy(dtype=object)
    if res >= analysis_res:
        props = pd.DataFrame({"h3": cells_df["h3"].to_numpy(dtype=object), "demand": demand, "distance_m": dist,
                              "covered": covered, "covered_share": covered.astype(float), "nearest_id": nearest,
                              "dclass": distance_class(dist, threshold), "res": analysis_res,
                              "n_cells": np.ones(len(raw), dtype=np.int64)})
        return CellLevel(analysis_res, raw, cells_df["lon"].to_numpy(dtype=float),
                         cells_df["lat"].to_numpy(dtype=float), props)
    parent = hexgrid.parents(raw, res)
    cells, inv = np.unique(parent, return_inverse=True)
    m = len(cells)
    finite = np.isfinite(dist)
    total = np.bincount(inv, weights=demand, minlength=m)
    w_fin = np.bincount(inv, weights=np.where(finite, demand, 0.0), minlength=m)
    wd = np.bincount(inv, weights=np.where(finite, dist * demand, 0.0), minlength=m)
    n_fin = np.bincount(inv, weights=finite.astype(float), minlength=m)
    d_fin = np.bincount(inv, weights=np.where(finite, dist, 0.0), minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(w_fin > 0, wd / np.where(w_fin > 0, w_fin, 1.0),
                        np.where(n_fin > 0, d_fin / np.where(n_fin > 0, n_fin, 1.0), np.inf))
        cov_dem = np.bincount(inv, weights=np.where(covered, demand, 0.0), minlength=m)
        n_cells = np.bincount(inv, minlength=m)
        n_cov = np.bincount(inv, weights=covered.astype(float), minlength=m)
        share = np.where(total > 0, cov_dem / np.where(total > 0, total, 1.0), n_cov / n_cells)
    # nearest station of the parent: the one of its child closest to a station
    order = np.lexsort((np.where(finite, dist, np.inf), inv))
    first = order[np.unique(inv[order], return_index=True)[1]]
    lon, lat = hexgrid.cells_to_lonlat(cells)
    props = pd.DataFrame({"h3": hexgrid.cells_to_str(cells), "demand": total, "distance_m": mean,
                          "covered": share >= 0.5, "covered_share": share, "nearest_id": nearest[first],
                          "dclass": distance_class(mean, threshold), "res": res, "n_cells": n_cells.astype(np.int64)})
    return CellLevel(res, cells, lon, lat, props)


def cell_level(result: Any, res: int) -> CellLevel:
    """The result's cells at ``res`` (cached per result)."""
    return CACHE.get(result, ("level", int(res)), lambda: _aggregate(result, int(res)))


def _cell_features(result: Any, res: int, out_crs: str) -> np.ndarray:
    level = cell_level(result, res)
    geoms = transform_geoms(hexgrid.cell_polygons(level.cells), out_crs)
    return feature_strings(geometry_json(geoms), level.props, CELL_COLUMNS)


def cell_features(result: Any, res: int, out_crs: str) -> np.ndarray:
    """Pre-rendered hexagon features of the result's cells at ``res`` in ``out_crs`` (cached)."""
    return CACHE.get(result, ("cell-features", int(res), out_crs), lambda: _cell_features(result, int(res), out_crs))


def lod_res(analysis_res: int, zoom: float | None) -> int:
    """Resolution the map shows at ``zoom``: the analysis one from zoom 13, one coarser at 11-12,
    two coarser at 10 and below (never below 0); the analysis one without a zoom."""
    if zoom is None or zoom >= 13:
        return analysis_res
    return max(0, analysis_res - (1 if zoom >= 11 else 2))


def cells_collection(result: Any, *, bbox: tuple[float, float, float, float] | None, zoom: float | None,
                     out_crs: str, max_features: int | None = None) -> str:
    """The ``/api/coverage/cells`` FeatureCollection text with its ``lod`` member (at most
    ``max_features``, default :data:`MAX_CELL_FEATURES`, coarsening further when needed)."""
    max_features = MAX_CELL_FEATURES if max_features is None else int(max_features)
    analysis_res = int(result.params["res"])
    wanted = lod_res(analysis_res, zoom)
    res = wanted
    while True:
        level = cell_level(result, res)
        box = expand_bbox(bbox, cell_margin_m(res)) if bbox is not None else None
        mask = in_bbox(level.lon, level.lat, box)
        n = int(mask.sum())
        if n <= max_features or res == 0:
            break
        res -= 1
    features = cell_features(result, res, out_crs)[mask] if n else []
    lod = {"res": res, "analysis_res": analysis_res, "zoom_res": wanted, "coarsened": res < wanted,
           "aggregated": res < analysis_res, "zoom": zoom, "n_features": n, "max_features": max_features}
    return collection_text(features, {"lod": lod})


# -- blank spots and blind zones -------------------------------------------------------------------
BLANK_COLUMNS = ["rank", "h3", "demand", "distance_m", "excess_m", "nearest_id", "adcode"]


def blank_spots_collection(result: Any, *, bbox: tuple[float, float, float, float] | None, limit: int,
                           out_crs: str) -> str:
    """Ranked blank spots (cell-centre points) inside ``bbox``, the first ``limit``."""
    blank = result.blank_spots
    mask = in_bbox(blank["lon"].to_numpy(dtype=float), blank["lat"].to_numpy(dtype=float), bbox)
    total = int(mask.sum())
    sub = blank[mask].head(limit)
    x, y = convert_xy(sub["lon"].to_numpy(dtype=float), sub["lat"].to_numpy(dtype=float), out_crs)
    feats = feature_strings(point_json(x, y), sub, BLANK_COLUMNS)
    return collection_text(feats, {"total": total, "returned": len(sub),
                                   "threshold_m": float(result.params["threshold_m"])})


def zone_tolerance(zoom: float | None) -> float:
    """Simplification tolerance (degrees) of zone outlines at ``zoom``: half a screen pixel, none
    from zoom 12 on."""
    if zoom is None or zoom >= 12:
        return 0.0
    return 360.0 / (256.0 * 2 ** int(zoom)) / 2.0


def _zone_features(result: Any, out_crs: str, tolerance: float) -> np.ndarray:
    from ..geodata.boundaries import name_of

    zones = result.blind_zones
    if not len(zones):
        return np.empty(0, dtype=object)
    geoms = np.asarray(zones.geometry.to_numpy(), dtype=object)
    if tolerance > 0:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = transform_geoms(geoms, out_crs)
    x, y = convert_xy(zones["lon"].to_numpy(dtype=float), zones["lat"].to_numpy(dtype=float), out_crs)
    codes = [[c for c in str(d).split("、") if c] for d in zones["districts"].fillna("")]
    props = pd.DataFrame({"zone": zones["zone"].to_numpy(dtype=np.int64),
                          "n_cells": zones["n_cells"].to_numpy(dtype=np.int64),
                          "demand": zones["demand"].to_numpy(dtype=float),
                          "area_km2": zones["area_km2"].to_numpy(dtype=float),
                          "lon": x, "lat": y, "max_distance_m": zones["max_distance_m"].to_numpy(dtype=float)})
    props["districts"] = [json.dumps(c, ensure_ascii=False) for c in codes]
    props["district_names"] = [json.dumps([name_of(a) or "" for a in c], ensure_ascii=False) for c in codes]
    return feature_strings(geometry_json(geoms), props, ["zone", "n_cells", "demand", "area_km2", "lon", "lat",
                                                         "max_distance_m"], raw=["districts", "district_names"])


def zones_collection(result: Any, *, bbox: tuple[float, float, float, float] | None, min_cells: int,
                     min_demand: float, limit: int, zoom: float | None, out_crs: str) -> str:
    """Blind-zone outlines overlapping ``bbox`` (by their bounding boxes), largest demand first."""
    zones = result.blind_zones
    tol = zone_tolerance(zoom)
    if not len(zones):
        return collection_text([], {"total": 0, "returned": 0})
    keep = (zones["n_cells"].to_numpy() >= min_cells) & (zones["demand"].to_numpy(dtype=float) >= min_demand)
    if bbox is not None:
        b = CACHE.get(result, ("zone-bounds",),
                      lambda: shapely.bounds(np.asarray(zones.geometry.to_numpy(), dtype=object)))
        x0, y0, x1, y1 = bbox
        keep &= (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
    idx = np.flatnonzero(keep)
    total = len(idx)
    idx = idx[:limit]
    feats = CACHE.get(result, ("zone-features", out_crs, tol), lambda: _zone_features(result, out_crs, tol))
    return collection_text(feats[idx] if len(idx) else [], {"total": total, "returned": len(idx)})


# -- administrative boundaries ----------------------------------------------------------------------
@functools.lru_cache(maxsize=128)
def boundaries_text(level: str, parent: str, out_crs: str) -> str | None:
    """Simplified boundaries of ``level`` inside the area ``parent`` (a province, city or district
    adcode; the area itself included when it is of that level) as a FeatureCollection text; None
    when ``parent`` is not a known adcode.  Only that area's geometry is built."""
    from ..geodata.boundaries import is_known, load_boundaries

    if not is_known(parent):
        return None
    frame = load_boundaries(level, within=parent)
    geoms = shapely.simplify(np.asarray(frame.geometry.to_numpy(), dtype=object), BOUNDARY_TOLERANCE[level],
                             preserve_topology=True) if len(frame) else np.empty(0, dtype=object)
    geoms = transform_geoms(geoms, out_crs)
    props = pd.DataFrame({c: frame[c].astype(object).to_numpy() for c in ("adcode", "name", "level", "parent_adcode")})
    feats = feature_strings(geometry_json(geoms), props, ["adcode", "name", "level", "parent_adcode"])
    return collection_text(feats, {"level": level, "parent": parent})


# -- stations -----------------------------------------------------------------------------------------
def candidate_of(text: Any, out_crs: str = "wgs84") -> dict[str, Any] | None:
    """The geocoder's answer waiting for a person (a 待定位 station's ``candidate``, JSON text in the
    registry) as an object, its ``lon``/``lat`` (stored WGS-84) in ``out_crs``; None when there is
    none or it cannot be read.  ``text`` may also be the object already (as the export reads it)."""
    if isinstance(text, dict):
        value: Any = dict(text)
    elif not isinstance(text, str) or not text.strip():
        return None
    else:
        try:
            value = json.loads(text)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    try:
        lon, lat = float(value["lon"]), float(value["lat"])
    except (KeyError, TypeError, ValueError):
        lon = lat = math.nan
    if out_crs != "wgs84" and math.isfinite(lon) and math.isfinite(lat):
        x, y = convert_xy([lon], [lat], out_crs)
        value["lon"], value["lat"] = float(x[0]), float(y[0])
    return clean(value)


def station_collection(frame: pd.DataFrame, out_crs: str = "wgs84") -> dict[str, Any]:
    """Stations (a registry frame, ``lon``/``lat`` already in ``out_crs``) as a GeoJSON
    FeatureCollection dict: a station waiting for a location (no coordinates) has ``"geometry":
    null`` (RFC 7946, 3.2); ``candidate`` is an object (see :func:`candidate_of`) or null."""
    from ..stations.export import to_geojson_dict

    lon = frame["lon"].to_numpy(dtype=float) if len(frame) else np.empty(0)
    lat = frame["lat"].to_numpy(dtype=float) if len(frame) else np.empty(0)
    located = np.isfinite(lon) & np.isfinite(lat)
    if not located.all():          # whatever the export makes of NaN: give it numbers, drop the points below
        frame = frame.assign(lon=np.where(located, lon, 0.0), lat=np.where(located, lat, 0.0))
    fc = to_geojson_dict(frame)
    for feature, ok in zip(fc["features"], located, strict=True):
        if not ok:
            feature["geometry"] = None
        props = feature["properties"]
        if "candidate" in props:
            props["candidate"] = candidate_of(props["candidate"], out_crs)
    return fc


# -- plain JSON ---------------------------------------------------------------------------------------
def clean(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf/NA to None, timestamps to ISO text."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None):  # noqa: ANN201
    """A JSON answer of the API (NaN/inf -> null, numpy -> Python, Chinese as is)."""
    from flask import Response

    text = json.dumps(clean(obj), ensure_ascii=False, allow_nan=False)
    return Response(text, status=status, mimetype="application/json", headers=headers)
