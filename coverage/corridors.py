"""Highway corridors (公路走廊): how far a truck driver (货车司机) drives along a numbered highway
(G6 京藏, G109, G214 …) between two 司机之家 or other stations that serve them.

>>> from yizhan.geodata.highways import read_highway_ways            # doctest: +SKIP
>>> ways = read_highway_ways("qinghai.osm.pbf", refs=["G6", "G109"])
>>> result = analyze_corridors(ways, registry.stations(), group="货车司机")
>>> result.corridors, result.gaps, result.as_json()

Pure functions over frames and arrays (no file reading; :func:`write_corridor_outputs` writes).
Coordinates are WGS-84 (EPSG:4326) ``lon, lat`` degrees; lengths are great-circle (haversine on the
mean Earth sphere, :mod:`yizhan.geodata.sphere`) summed segment by segment, so a corridor thousands of
km long is measured without any planar projection.  Positions along the road (``at_km``,
``from_km``, ``to_km``) are km from the start of a piece in the direction of travel.

Semantics
---------
* **Corridor**: every way of one ``ref`` (a way tagged ``G6;G109`` is in both).  ``_link`` ways
  (ramps) are ignored.
* **Axis**: the ref's vertices are put in a local equirectangular frame (km) around their mean;
  the axis is the principal component of the segments (length-weighted), oriented east (north when
  exactly north-south).  It only labels directions, it measures nothing.
* **Directions**: one-way ways (``oneway`` 1, or -1 reversed first) are merged into directed
  chains on shared nodes: a way continues into the next when exactly one one-way way ends and one
  starts at the node, no two-way way of the ref passes through it and the road turns there by at
  most 120° (so two carriageways meeting at a terminus, a U-turn, are not one chain).  A chain
  is ``forward`` when its end lies further along the axis than its start (ties, e.g. a roundabout
  ring, count as forward), else ``backward``.  The forward network is the forward chains plus
  every two-way way, the backward network likewise.  A ref without any one-way way has one
  direction, ``both``.  A short one-way chain is judged on
  its own ends: a one-way piece on a hairpin that runs against the axis is labelled backward.
  Each direction gets a compass ``heading`` (N … NW) from the sum of its pieces' displacements.
* **Pieces**: within a direction the network is cut into maximal *unbranched* chains (GEOS
  LineMerger on the segments, undirected: lines join at nodes of degree 2 and stop at dead ends,
  breaks and forks).  A corridor broken by missing ways, even by a 50 m hole, is measured per
  piece and nothing is bridged across a break; a forking ref (two branches with the same number)
  gives one piece per branch and one for the shared stem (simplification: no routing through the
  fork).  A piece containing one-way segments runs their way (majority by length); a piece of
  two-way ways only runs along the axis (forward, both) or against it (backward).  Pieces are
  numbered 1, 2, … per direction in the order a driver meets them (by the position of their start
  along the axis: ascending for forward/both, descending for backward).
* **Stations**: in service (在运营) and serving ``group`` (``model.serves_mask``; ``group=None``: all
  in service).  A station serves a piece when its distance to the piece's line is at most
  ``station_radius_m``; it is placed at its nearest point on the line (``at_km``, ``offset_m``).
  A station beside a divided road is within the radius of both carriageways and so serves both
  directions (whether it can really be reached from the far carriageway, by a paired 服务区 or an
  underpass, is not checked).
  Candidates come from an STRtree over the segments (a box of the radius in degrees around each
  station); exact distances are computed for the candidate pairs in a local equirectangular frame
  around each station (exact enough for a few km).
* **Gaps** (per piece, stations at s1 <= … <= sm km on a piece of length L): start -> s1,
  s_i -> s_i+1, sm -> end; a piece without a station is one gap of length L.  Gaps shorter than
  1 mm (stations at the same place, a station at a piece end) are dropped.  ``over_max`` is
  ``length_km > max_gap_km``.  The gap's geometry is the road between the two positions.
* **Corridor row**: ``length_km`` is the longer direction's total (sum of its pieces; the single
  direction for ``both``); ``pieces`` counts the pieces of all directions; ``stations`` the distinct
  stations serving any piece; ``share_within_reach`` is the share of the measured length (all pieces
  of all directions) within ``reach_km`` of a station *along the road*: the union of
  [s - reach, s + reach] clipped to [0, L] per piece (0 without a station).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..geodata.highways import normalize_refs
from ..geodata.sphere import EARTH_RADIUS_M, haversine_m
from ..stations import model

__all__ = ["COMPASS", "CORRIDOR_COLUMNS", "CORRIDOR_COLUMNS_ZH", "DIRECTIONS", "GAP_COLUMNS", "GAP_COLUMNS_ZH",
           "PIECE_COLUMNS", "PLACED_COLUMNS", "CorridorResult", "analyze_corridors", "write_corridor_outputs"]

log = logging.getLogger(__name__)

#: Direction labels, in output order.
DIRECTIONS: tuple[str, ...] = ("forward", "backward", "both")
#: Eight-point compass, clockwise from north.
COMPASS: tuple[str, ...] = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")

CORRIDOR_COLUMNS: tuple[str, ...] = ("ref", "name", "length_km", "pieces", "directions", "stations",
                                     "longest_gap_km", "n_gaps_over_max", "share_within_reach")
GAP_COLUMNS: tuple[str, ...] = ("ref", "direction", "piece", "from_km", "to_km", "length_km",
                                "from_lon", "from_lat", "to_lon", "to_lat", "from_station",
                                "to_station", "over_max")
PIECE_COLUMNS: tuple[str, ...] = ("ref", "direction", "heading", "piece", "length_km", "n_stations")
PLACED_COLUMNS: tuple[str, ...] = ("ref", "direction", "piece", "station_id", "name", "type", "lon",
                                   "lat", "at_km", "offset_m")
#: Bilingual column headers of the corridor tables in a workbook (Chinese first).
CORRIDOR_COLUMNS_ZH: dict[str, str] = {
    "ref": "编号 ref", "name": "名称 name", "length_km": "长度（公里）length_km", "pieces": "段数 pieces",
    "directions": "方向 directions", "stations": "服务站点数 stations",
    "longest_gap_km": "最长空白（公里）longest_gap_km", "n_gaps_over_max": "超长空白数 n_gaps_over_max",
    "share_within_reach": "可达比例 share_within_reach"}
GAP_COLUMNS_ZH: dict[str, str] = {
    "ref": "编号 ref", "name": "名称 name", "direction": "方向 direction", "piece": "段 piece",
    "from_km": "起点（公里）from_km", "to_km": "终点（公里）to_km", "length_km": "空白长度（公里）length_km",
    "from_lon": "起点经度 from_lon", "from_lat": "起点纬度 from_lat", "to_lon": "终点经度 to_lon",
    "to_lat": "终点纬度 to_lat", "from_station": "起点站点 from_station", "to_station": "终点站点 to_station",
    "over_max": "超过最大间隔 over_max"}

_KM_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0 / 1000.0
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
_MIN_GAP_M = 1e-3
_CHUNK = 16          # segments per spatial-index box when placing stations
_FWD, _BWD, _BOTH = 0, 1, 2


# -- result ----------------------------------------------------------------------------------------

def _r(value: float, ndigits: int) -> float:
    return round(float(value), ndigits)


@dataclass(frozen=True, eq=False)
class CorridorResult:
    """Everything one corridor analysis produced (see the module docstring for the semantics).

    ``corridors``: one row per ref (:data:`CORRIDOR_COLUMNS`), longest gap first;
    ``gaps``: GeoDataFrame (EPSG:4326) of :data:`GAP_COLUMNS` + the road LineString, longest first;
    ``pieces``: GeoDataFrame (EPSG:4326) of the measured pieces (:data:`PIECE_COLUMNS`), each
    LineString in its direction of travel; ``placed``: one row per (station, piece) it serves
    (:data:`PLACED_COLUMNS`); ``params``: the parameters and counts.  Lengths in km, offsets in m.
    """

    corridors: pd.DataFrame
    gaps: Any  # geopandas.GeoDataFrame
    pieces: Any  # geopandas.GeoDataFrame
    placed: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> list[dict[str, Any]]:
        """Plain-Python list (for ``--json``): one dict per corridor, longest gap first, with its gaps
        (longest first).  km rounded to 3 decimals, coordinates to 6, shares to 4."""
        gaps = _rounded_gaps(pd.DataFrame(self.gaps.drop(columns="geometry")))
        by_ref: dict[str, list[dict[str, Any]]] = {}
        for ref, group in gaps.groupby("ref", sort=False):
            by_ref[str(ref)] = group.drop(columns="ref").to_dict("records")
        out = []
        for row in self.corridors.to_dict("records"):
            out.append({
                "ref": str(row["ref"]), "name": str(row["name"]),
                "length_km": _r(row["length_km"], 3), "pieces": int(row["pieces"]),
                "directions": str(row["directions"]), "stations": int(row["stations"]),
                "longest_gap_km": _r(row["longest_gap_km"], 3),
                "share_within_reach": _r(row["share_within_reach"], 4),
                "n_gaps_over_max": int(row["n_gaps_over_max"]),
                "gaps": by_ref.get(str(row["ref"]), []),
            })
        return out

    def gap_rows(self) -> pd.DataFrame:
        """The gaps without geometry (longest first), with the corridor's ``name`` after ``ref``."""
        frame = pd.DataFrame(self.gaps.drop(columns="geometry"))
        names = dict(zip(self.corridors["ref"], self.corridors["name"]))
        frame.insert(1, "name", frame["ref"].map(names).fillna("").astype(object))
        return frame

    def gaps_geojson(self, out_crs: Any = None) -> dict[str, Any]:
        """GeoJSON FeatureCollection of the gap lines (properties: every gap column, rounded as in
        :meth:`as_json`).  Geometry in WGS-84 unless ``out_crs`` (anything pyproj accepts) is given,
        then with a ``crs`` member; the ``from_lon``/``to_lat`` … properties stay WGS-84."""
        gdf = self.gaps
        if out_crs is not None:
            gdf = gdf.to_crs(out_crs)
        props = _rounded_gaps(pd.DataFrame(gdf.drop(columns="geometry")))
        geoms = gdf.geometry.to_numpy()
        import shapely

        features = [{"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(g)}
                    for p, g in zip(props.to_dict("records"), geoms)]
        out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
        if out_crs is not None and not gdf.crs.equals("EPSG:4326"):
            out["crs"] = {"type": "name", "properties": {"name": gdf.crs.to_string()}}
        return out


def _rounded_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Gap columns as plain Python values, rounded for JSON."""
    out: dict[str, list[Any]] = {}
    for c in frame.columns:
        col = frame[c]
        if c in ("piece",):
            out[c] = [int(v) for v in col]
        elif c == "over_max":
            out[c] = [bool(v) for v in col]
        elif c.endswith("_km"):
            out[c] = [round(float(v), 3) for v in col]
        elif c.endswith(("_lon", "_lat")):
            out[c] = [round(float(v), 6) for v in col]
        else:
            out[c] = [str(v) for v in col]
    return pd.DataFrame(out, index=frame.index, columns=list(frame.columns))


# -- input checks ----------------------------------------------------------------------------------

def _check_params(station_radius_m: float, reach_km: float, max_gap_km: float) -> None:
    problems = []
    if not (np.isfinite(station_radius_m) and station_radius_m > 0):
        problems.append("站点半径应为正数（米）/ station_radius_m must be a positive number of metres")
    if not (np.isfinite(reach_km) and reach_km >= 0):
        problems.append("可达距离应为非负数（公里）/ reach_km must be a non-negative number of km")
    if not (np.isfinite(max_gap_km) and max_gap_km > 0):
        problems.append("最大间隔应为正数（公里）/ max_gap_km must be a positive number of km")
    if problems:
        raise ValueError("; ".join(problems))


def _prepare_ways(ways: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ref per line, oneway 0/1 per line, LineStrings in travel order, name per line)."""
    import shapely

    missing = [c for c in ("ref", "oneway", "geometry") if c not in ways.columns]
    if missing:
        raise ValueError(f"道路表缺少列 {', '.join(missing)} / ways frame lacks column(s) "
                         f"{', '.join(missing)} (expected the frame of read_highway_ways)")
    crs = getattr(ways, "crs", None)
    if crs is not None and not crs.equals("EPSG:4326"):
        ways = ways.to_crs(4326)
    frame = ways
    if "highway" in frame.columns:
        frame = frame[~frame["highway"].fillna("").astype(str).str.endswith("_link").to_numpy()]
    geoms = np.asarray(frame["geometry"].to_numpy(), dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    kinds = shapely.get_type_id(geoms[ok])
    if np.any((kinds != 1) & (kinds != 5)):
        raise ValueError("道路几何应为线（LineString）/ way geometries must be LineStrings")
    one = pd.to_numeric(frame["oneway"], errors="coerce").fillna(0).to_numpy(dtype=float)
    one = np.sign(one).astype(np.int8)
    names = (frame["name"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
             if "name" in frame.columns else np.full(len(frame), "", dtype=object))
    raw_refs = frame["ref"].to_numpy(dtype=object)
    geoms, one, names, raw_refs = geoms[ok], one[ok], names[ok], raw_refs[ok]
    # multi-part lines -> parts
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    one, names, raw_refs = one[part_of], names[part_of], raw_refs[part_of]
    # refs -> normalised (a "G6;G109" cell gives one row per ref)
    codes, uniques = pd.factorize(pd.Series(raw_refs, dtype=object).fillna(""), sort=False)
    norm = [normalize_refs(u) for u in uniques]
    counts = np.array([len(n) for n in norm], dtype=np.int64)[codes] if len(codes) else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(codes)), counts)
    flat = np.array([r for n in norm for r in n], dtype=object)
    starts = np.r_[0, np.cumsum([len(n) for n in norm])].astype(np.int64)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    refs = flat[starts[codes[rows]] + within] if len(rows) else np.zeros(0, dtype=object)
    parts, one, names = parts[rows], one[rows], names[rows]
    reverse = one < 0
    if reverse.any():
        parts = parts.copy()
        parts[reverse] = shapely.reverse(parts[reverse])
    return refs, np.abs(one).astype(np.int8), parts, names


def _prepare_stations(stations: pd.DataFrame | None, group: str | None) -> pd.DataFrame:
    """Stations that count (in service, serving ``group``), with str ``id``, ``name``, ``type``."""
    from .analysis import select_stations

    if stations is None:
        stations = model.empty_frame()
    need = ["id", "lon", "lat", "status"] + (["groups"] if group is not None else [])
    missing = [c for c in need if c not in stations.columns]
    if missing:
        raise ValueError(f"站点表缺少列 {', '.join(missing)} / stations frame lacks column(s) "
                         f"{', '.join(missing)}")
    s = stations.copy()
    s["lon"] = pd.to_numeric(s["lon"], errors="coerce")
    s["lat"] = pd.to_numeric(s["lat"], errors="coerce")
    s = select_stations(s, group=group)
    out = pd.DataFrame({
        "id": s["id"].astype(str).to_numpy(dtype=object),
        "name": (s["name"].fillna("").astype(str).to_numpy(dtype=object) if "name" in s
                 else np.full(len(s), "", dtype=object)),
        "type": (s["type"].fillna("").astype(str).to_numpy(dtype=object) if "type" in s
                 else np.full(len(s), "", dtype=object)),
        "lon": s["lon"].to_numpy(dtype=float), "lat": s["lat"].to_numpy(dtype=float)})
    return out


# -- geometry helpers ------------------------------------------------------------------------------

def _group_bounds(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last position of each group 0..n-1 in a sorted index array."""
    ar = np.arange(n)
    return np.searchsorted(index, ar, "left"), np.searchsorted(index, ar, "right")


def _merge_groups(lines: np.ndarray, group: np.ndarray, *, directed: bool) -> tuple[np.ndarray, np.ndarray]:
    """line_merge of the lines of each group; returns (merged LineStrings, their group)."""
    import shapely

    if len(lines) == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    ids, compact = np.unique(group[order], return_inverse=True)
    multi = shapely.multilinestrings(lines[order], indices=compact)
    merged = shapely.line_merge(multi, directed=directed)
    parts, idx = shapely.get_parts(merged, return_index=True)
    return parts, ids[idx]


def _ends(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) first and last coordinates of LineStrings."""
    import shapely

    coords, idx = shapely.get_coordinates(lines, return_index=True)
    first, stop = _group_bounds(idx, len(lines))
    return coords[first], coords[stop - 1]


@dataclass(frozen=True)
class _Frames:
    """Per-ref local equirectangular frame (km) and axis."""

    lon0: np.ndarray
    lat0: np.ndarray
    cos0: np.ndarray
    ax: np.ndarray
    ay: np.ndarray

    def xy(self, ref: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ((lon - self.lon0[ref]) * self.cos0[ref] * _KM_PER_DEG,
                (lat - self.lat0[ref]) * _KM_PER_DEG)

    def along(self, ref: np.ndarray, pts: np.ndarray) -> np.ndarray:
        x, y = self.xy(ref, pts[:, 0], pts[:, 1])
        return x * self.ax[ref] + y * self.ay[ref]


def _frames(ref: np.ndarray, lines: np.ndarray, n_refs: int) -> _Frames:
    """Local frame and principal axis (length-weighted PCA of segment midpoints) of each ref."""
    import shapely

    coords, idx = shapely.get_coordinates(lines, return_index=True)
    vref = ref[idx]
    cnt = np.bincount(vref, minlength=n_refs).astype(float)
    lon0 = np.bincount(vref, coords[:, 0], n_refs) / np.maximum(cnt, 1)
    lat0 = np.bincount(vref, coords[:, 1], n_refs) / np.maximum(cnt, 1)
    cos0 = np.cos(np.radians(lat0))
    frames = _Frames(lon0, lat0, cos0, np.ones(n_refs), np.zeros(n_refs))
    x, y = frames.xy(vref, coords[:, 0], coords[:, 1])
    same = idx[1:] == idx[:-1]
    sref = vref[1:][same]
    mx, my = (x[1:] + x[:-1])[same] / 2, (y[1:] + y[:-1])[same] / 2
    w = np.hypot((x[1:] - x[:-1])[same], (y[1:] - y[:-1])[same])
    sw = np.bincount(sref, w, n_refs)
    safe = np.maximum(sw, 1e-300)
    cx, cy = np.bincount(sref, w * mx, n_refs) / safe, np.bincount(sref, w * my, n_refs) / safe
    dx, dy = mx - cx[sref], my - cy[sref]
    sxx = np.bincount(sref, w * dx * dx, n_refs)
    syy = np.bincount(sref, w * dy * dy, n_refs)
    sxy = np.bincount(sref, w * dx * dy, n_refs)
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    ax, ay = np.cos(theta), np.sin(theta)
    vertical = np.abs(ax) < 1e-9
    ax, ay = np.where(vertical, 0.0, ax), np.where(vertical, 1.0, ay)
    flat = sw <= 0
    ax, ay = np.where(flat, 1.0, ax), np.where(flat, 0.0, ay)
    return _Frames(lon0, lat0, cos0, ax, ay)


def _segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start coords, end coords, line index) of every segment of the lines."""
    import shapely

    coords, idx = shapely.get_coordinates(lines, return_index=True)
    same = np.flatnonzero(idx[1:] == idx[:-1])
    return coords[same], coords[same + 1], idx[same]


# -- the analysis ----------------------------------------------------------------------------------

#: One-way ways are not chained through a node where the road turns by more than this (a U-turn
#: joining the two carriageways at a terminus).
_MAX_CHAIN_TURN_DEG = 120.0


def _oneway_directions(ref: np.ndarray, lines: np.ndarray, oneway: np.ndarray, frames: _Frames) -> np.ndarray:
    """_FWD or _BWD for each one-way line (``oneway`` mask): the direction of its directed chain.

    Chains are merged on shared end points (exact coordinates, per ref): way a continues into way b
    when a ends where b starts, that point is the end of no other one-way way and the start of no
    other, no two-way way of the ref passes through it, and the road turns there by at most
    :data:`_MAX_CHAIN_TURN_DEG`.  A chain's direction is the sign of its displacement along the
    ref's axis (the sum of its ways' displacements, which telescopes to end minus start).
    """
    import shapely
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ow = np.flatnonzero(oneway)
    if len(ow) == 0:
        return np.zeros(0, dtype=np.int64)
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    nodes, node = np.unique(coords[:, 0] + 1j * coords[:, 1], return_inverse=True)
    n_nodes = np.int64(len(nodes))
    vkey = ref[idx] * n_nodes + node.astype(np.int64)
    blocked = np.unique(vkey[~oneway[idx]])
    first, stop = _group_bounds(idx, len(lines))
    first, last = first[ow], stop[ow] - 1
    ks, ke = vkey[first], vkey[last]
    # in/out counts of every end point key among the one-way ways
    keys, counts = np.unique(np.concatenate([ks, ke]), return_counts=True)
    out_n = np.zeros(len(keys), dtype=np.int64)
    np.add.at(out_n, np.searchsorted(keys, ks), 1)
    in_n = counts - out_n
    through = (out_n == 1) & (in_n == 1)
    if len(blocked):
        pos = np.minimum(np.searchsorted(blocked, keys), len(blocked) - 1)
        through &= blocked[pos] != keys
    a = np.flatnonzero(through[np.searchsorted(keys, ke)])      # ways ending at a pass-through node
    by_start = np.argsort(ks, kind="stable")
    b = by_start[np.searchsorted(ks[by_start], ke[a])]          # the way starting there
    # turn angle at the join, in a local frame (cos lat)
    cosl = np.cos(np.radians(coords[last[a], 1]))
    in_v = (coords[last[a]] - coords[last[a] - 1]) * np.c_[cosl, np.ones_like(cosl)]
    out_v = (coords[first[b] + 1] - coords[first[b]]) * np.c_[cosl, np.ones_like(cosl)]
    norm = np.hypot(*in_v.T) * np.hypot(*out_v.T)
    cos_turn = np.where(norm > 0, (in_v * out_v).sum(axis=1) / np.where(norm > 0, norm, 1.0), 1.0)
    ok = cos_turn >= math.cos(math.radians(_MAX_CHAIN_TURN_DEG))
    a, b = a[ok], b[ok]
    n = len(ow)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)).tocsr()
    _, label = connected_components(graph, directed=True, connection="weak")
    r = ref[ow]
    shift = frames.along(r, coords[last]) - frames.along(r, coords[first])
    total = np.bincount(label, shift)
    return np.where(total[label] >= 0, _FWD, _BWD).astype(np.int64)


def _networks(refs_code: np.ndarray, one: np.ndarray, lines: np.ndarray, frames: _Frames,
              n_refs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines of every direction network: (LineStrings, group = ref * 3 + direction, one-way flag)."""
    ow = one == 1
    ow_dir = _oneway_directions(refs_code, lines, ow, frames)
    has_oneway = np.zeros(n_refs, dtype=bool)
    has_oneway[refs_code[ow]] = True
    tw = ~ow
    tw_ref = refs_code[tw]
    split = has_oneway[tw_ref]
    net_lines = np.concatenate([lines[ow], lines[tw][split], lines[tw][split], lines[tw][~split]])
    net_group = np.concatenate([refs_code[ow] * 3 + ow_dir, tw_ref[split] * 3 + _FWD,
                                tw_ref[split] * 3 + _BWD, tw_ref[~split] * 3 + _BOTH]).astype(np.int64)
    net_one = np.concatenate([np.ones(int(ow.sum()), dtype=bool),
                              np.zeros(len(net_lines) - int(ow.sum()), dtype=bool)])
    return net_lines, net_group, net_one


def _pieces(net_lines: np.ndarray, net_group: np.ndarray, net_one: np.ndarray,
            frames: _Frames) -> tuple[np.ndarray, np.ndarray]:
    """Maximal unbranched chains of each direction network, oriented in the direction of travel."""
    import shapely

    a, b, li = _segments(net_lines)
    if len(a) == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
    group, one = net_group[li], net_one[li]
    za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
    nodes, inv = np.unique(np.concatenate([za, zb]), return_inverse=True)
    u, v = inv[: len(a)].astype(np.int64), inv[len(a):].astype(np.int64)
    keep = u != v
    a, b, group, one, u, v, li = a[keep], b[keep], group[keep], one[keep], u[keep], v[keep], li[keep]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((~one, hi, lo, group))           # one-way copy first among duplicates
    first = np.r_[True, (np.diff(group[order]) != 0) | (np.diff(lo[order]) != 0) | (np.diff(hi[order]) != 0)]
    sel = np.sort(order[first])                         # back in line order
    a, b, group, one, u, v, li = a[sel], b[sel], group[sel], one[sel], u[sel], v[sel], li[sel]

    # runs: consecutive segments of one input line through nodes of degree 2 (in the group's
    # network); merging the runs is merging the segments, with far fewer geometries
    n_nodes = len(nodes)
    ends = np.concatenate([group * n_nodes + u, group * n_nodes + v])
    _, end_inv, degree = np.unique(ends, return_inverse=True, return_counts=True)
    deg_u = degree[end_inv[: len(u)]]
    new_run = np.r_[True, (li[1:] != li[:-1]) | (v[:-1] != u[1:]) | (deg_u[1:] != 2)]
    run = np.cumsum(new_run) - 1
    run_first = np.flatnonzero(new_run)
    run_last = np.r_[run_first[1:] - 1, len(u) - 1]
    vpos = np.concatenate([np.arange(len(u), dtype=float), run_last + 0.5])
    vorder = np.argsort(vpos, kind="stable")
    verts = np.concatenate([a, b[run_last]])[vorder]
    vrun = np.concatenate([run, np.arange(len(run_first))])[vorder]
    run_lines = shapely.linestrings(verts, indices=vrun)
    pieces, piece_group = _merge_groups(run_lines, group[run_first], directed=False)

    # orientation: one-way segments vote (by length); else along / against the axis
    n_groups = int(group.max()) + 1
    use_group = float(n_groups) * n_nodes * n_nodes < 2.0**62
    def key(g: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        base = x * n_nodes + y
        return g * (n_nodes * n_nodes) + base if use_group else base
    oneway_keys = np.sort(key(group[one], u[one], v[one]))

    coords, pidx = shapely.get_coordinates(pieces, return_index=True)
    same = np.flatnonzero(pidx[1:] == pidx[:-1])
    z = coords[:, 0] + 1j * coords[:, 1]
    node = np.searchsorted(nodes, z)
    pg = piece_group[pidx[same]]
    su, sv = node[same], node[same + 1]
    length = haversine_m(coords[same, 0], coords[same, 1], coords[same + 1, 0], coords[same + 1, 1])

    def member(keys: np.ndarray) -> np.ndarray:
        if len(oneway_keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        pos = np.minimum(np.searchsorted(oneway_keys, keys), len(oneway_keys) - 1)
        return oneway_keys[pos] == keys

    vote = length * (member(key(pg, su, sv)).astype(float) - member(key(pg, sv, su)).astype(float))
    score = np.bincount(pidx[same], vote, len(pieces))
    first_pt, last_pt = _ends(pieces)
    ref = piece_group // 3
    direction = piece_group % 3
    rise = frames.along(ref, last_pt) - frames.along(ref, first_pt)
    flip = np.where(score != 0, score < 0, np.where(direction == _BWD, rise > 0, rise < 0))
    if flip.any():
        pieces = pieces.copy()
        pieces[flip] = shapely.reverse(pieces[flip])
    return pieces, piece_group


def analyze_corridors(
    ways: pd.DataFrame,
    stations: pd.DataFrame | None,
    *,
    group: str | None = "货车司机",
    station_radius_m: float = 2000.0,
    reach_km: float = 25.0,
    max_gap_km: float = 50.0,
) -> CorridorResult:
    """Gaps between stations along every highway corridor (ref) of ``ways``.

    ``ways``: the frame of :func:`yizhan.geodata.highways.read_highway_ways` (``ref``, ``oneway``,
    LineString ``geometry`` in WGS-84 lon/lat; ``name``, ``highway`` optional).  ``stations``: a
    registry frame (``id``, ``name``, ``type``, ``groups``, ``status``, ``lon``, ``lat`` WGS-84);
    only stations in service (在运营) serving ``group`` count (``None``: every station in service;
    an unknown group raises ValueError).  ``station_radius_m`` (metres): how far from the road a
    station may be; ``reach_km``: reach along the road for ``share_within_reach``; ``max_gap_km``:
    gaps longer than this are flagged ``over_max``.  See the module docstring for the semantics.
    """
    import geopandas as gpd
    import shapely

    if group is not None:
        group = model.canonical_group(group)
    _check_params(float(station_radius_m), float(reach_km), float(max_gap_km))
    radius_m, reach_m, max_gap_m = float(station_radius_m), float(reach_km) * 1000, float(max_gap_km) * 1000
    sts = _prepare_stations(stations, group)
    ref_str, one, lines, names = _prepare_ways(ways)

    ref_codes, ref_names = pd.factorize(pd.Series(ref_str, dtype=object), sort=True)
    ref_names = np.asarray(ref_names, dtype=object)
    n_refs = len(ref_names)
    ref_codes = ref_codes.astype(np.int64)
    frames = _frames(ref_codes, lines, n_refs)
    net_lines, net_group, net_one = _networks(ref_codes, one, lines, frames, n_refs)
    pieces, piece_group = _pieces(net_lines, net_group, net_one, frames)

    # -- measures along every piece (great-circle metres from the piece start)
    coords, pidx = shapely.get_coordinates(pieces, return_index=True)
    n_pieces = len(pieces)
    vstart, vstop = _group_bounds(pidx, n_pieces)
    seg = np.flatnonzero(pidx[1:] == pidx[:-1])
    seg_len = haversine_m(coords[seg, 0], coords[seg, 1], coords[seg + 1, 0], coords[seg + 1, 1])
    step = np.zeros(len(coords))
    step[seg + 1] = seg_len
    cum = np.cumsum(step)
    meas = cum - cum[vstart][pidx] if len(coords) else cum
    length_m = meas[vstop - 1] if n_pieces else np.zeros(0)
    offset = np.r_[0.0, np.cumsum(length_m + 1.0)][:-1] if n_pieces else np.zeros(0)
    gm = meas + (offset[pidx] if len(coords) else 0.0)   # strictly increasing over all pieces

    # -- piece numbering and headings
    p_ref, p_dir = piece_group // 3, piece_group % 3
    if n_pieces:
        first_pt, last_pt = coords[vstart], coords[vstop - 1]
        t0 = frames.along(p_ref, first_pt)
        sort_t = np.where(p_dir == _BWD, -t0, t0)
        order = np.lexsort((-length_m, sort_t, piece_group))
        number = np.empty(n_pieces, dtype=np.int64)
        sg = piece_group[order]
        run_start = np.r_[0, np.flatnonzero(np.diff(sg)) + 1]
        number[order] = np.arange(n_pieces) - np.repeat(run_start, np.diff(np.r_[run_start, n_pieces])) + 1
        x0, y0 = frames.xy(p_ref, first_pt[:, 0], first_pt[:, 1])
        x1, y1 = frames.xy(p_ref, last_pt[:, 0], last_pt[:, 1])
        gids, ginv = np.unique(piece_group, return_inverse=True)
        dx = np.bincount(ginv, x1 - x0, len(gids))
        dy = np.bincount(ginv, y1 - y0, len(gids))
        g_ref, g_dir = gids // 3, gids % 3
        sign = np.where(g_dir == _BWD, -1.0, 1.0)
        still = np.hypot(dx, dy) < 1e-9
        dx = np.where(still, sign * frames.ax[g_ref], dx)
        dy = np.where(still, sign * frames.ay[g_ref], dy)
        bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
        heading = np.asarray(COMPASS, dtype=object)[(np.floor((bearing + 22.5) / 45.0).astype(int)) % 8][ginv]
    else:
        number = np.zeros(0, dtype=np.int64)
        heading = np.zeros(0, dtype=object)

    # -- stations on pieces
    pl_piece, pl_station, pl_at, pl_off = _place(sts, coords, pidx, seg, seg_len, meas, radius_m)

    # -- gaps
    gaps = _gaps(pl_piece, pl_station, pl_at, length_m, n_pieces)
    g_piece, g_from, g_to, g_fs, g_ts = gaps
    from_pt = _interpolate(g_piece, g_from, coords, gm, offset, vstart, vstop)
    to_pt = _interpolate(g_piece, g_to, coords, gm, offset, vstart, vstop)
    g_lines = _substrings(g_piece, g_from, g_to, from_pt, to_pt, coords, gm, offset)
    sid = np.r_[sts["id"].to_numpy(dtype=object), np.array([""], dtype=object)]
    dir_names = np.asarray(DIRECTIONS, dtype=object)
    gap_frame = pd.DataFrame({
        "ref": ref_names[p_ref[g_piece]] if len(g_piece) else np.zeros(0, dtype=object),
        "direction": dir_names[p_dir[g_piece]],
        "piece": number[g_piece].astype(np.int64),
        "from_km": g_from / 1000, "to_km": g_to / 1000, "length_km": (g_to - g_from) / 1000,
        "from_lon": from_pt[:, 0], "from_lat": from_pt[:, 1],
        "to_lon": to_pt[:, 0], "to_lat": to_pt[:, 1],
        "from_station": sid[g_fs], "to_station": sid[g_ts],
        "over_max": (g_to - g_from) > max_gap_m,
    })
    gap_order = np.lexsort((gap_frame["from_km"].to_numpy(), gap_frame["piece"].to_numpy(),
                            p_dir[g_piece], p_ref[g_piece], -gap_frame["length_km"].to_numpy()))
    gap_gdf = gpd.GeoDataFrame(gap_frame.iloc[gap_order].reset_index(drop=True),
                               geometry=gpd.GeoSeries(g_lines[gap_order], crs=4326), crs=4326)

    # -- placed stations
    placed = pd.DataFrame({
        "ref": ref_names[p_ref[pl_piece]] if len(pl_piece) else np.zeros(0, dtype=object),
        "direction": dir_names[p_dir[pl_piece]],
        "piece": number[pl_piece].astype(np.int64),
        "station_id": sts["id"].to_numpy(dtype=object)[pl_station],
        "name": sts["name"].to_numpy(dtype=object)[pl_station],
        "type": sts["type"].to_numpy(dtype=object)[pl_station],
        "lon": sts["lon"].to_numpy()[pl_station], "lat": sts["lat"].to_numpy()[pl_station],
        "at_km": pl_at / 1000, "offset_m": pl_off,
    })
    pl_order = np.lexsort((pl_at, number[pl_piece], p_dir[pl_piece], p_ref[pl_piece]))
    placed = placed.iloc[pl_order].reset_index(drop=True)

    # -- pieces
    n_st = np.bincount(pl_piece, minlength=n_pieces)
    piece_frame = pd.DataFrame({
        "ref": ref_names[p_ref] if n_pieces else np.zeros(0, dtype=object),
        "direction": dir_names[p_dir], "heading": heading, "piece": number,
        "length_km": length_m / 1000, "n_stations": n_st.astype(np.int64)})
    pc_order = np.lexsort((number, p_dir, p_ref))
    piece_gdf = gpd.GeoDataFrame(piece_frame.iloc[pc_order].reset_index(drop=True),
                                 geometry=gpd.GeoSeries(pieces[pc_order], crs=4326), crs=4326)

    corridors = _corridor_rows(ref_names, ref_codes, names, p_ref, p_dir, length_m, pl_piece,
                               pl_station, pl_at, g_piece, g_to - g_from, max_gap_m, reach_m)
    params = {"group": group, "station_radius_m": radius_m, "reach_km": float(reach_km),
              "max_gap_km": float(max_gap_km), "n_stations": len(sts), "n_corridors": int(n_refs),
              "n_pieces": int(n_pieces), "crs": "EPSG:4326"}
    log.info("corridors: %d refs, %d pieces, %d stations placed %d times, %d gaps",
             n_refs, n_pieces, len(sts), len(placed), len(gap_gdf))
    return CorridorResult(corridors=corridors, gaps=gap_gdf, pieces=piece_gdf, placed=placed,
                          params=params)


def _place(sts: pd.DataFrame, coords: np.ndarray, pidx: np.ndarray, seg: np.ndarray,
           seg_len: np.ndarray, meas: np.ndarray, radius_m: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(piece, station row, at metres, offset metres) of every station within the radius of a
    piece, at its nearest point on the piece."""
    import shapely

    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
    if len(sts) == 0 or len(seg) == 0:
        return empty
    a, b = coords[seg], coords[seg + 1]
    # spatial index over chunks of up to _CHUNK consecutive segments of a piece (their bounding
    # boxes), then every segment of a candidate chunk is a candidate
    seg_piece = pidx[seg]
    first_seg = np.searchsorted(seg_piece, seg_piece, "left")
    new_chunk = ((np.arange(len(seg)) - first_seg) % _CHUNK) == 0
    cstart = np.flatnonzero(new_chunk)
    cstop = np.r_[cstart[1:], len(seg)]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    cmin, cmax = np.minimum.reduceat(lo, cstart, axis=0), np.maximum.reduceat(hi, cstart, axis=0)
    tree = shapely.STRtree(shapely.box(cmin[:, 0], cmin[:, 1], cmax[:, 0], cmax[:, 1]))
    slon, slat = sts["lon"].to_numpy(), sts["lat"].to_numpy()
    dlat = radius_m / _M_PER_DEG * 1.01 + 1e-9
    cos_far = np.cos(np.radians(np.minimum(np.abs(slat) + dlat, 89.9)))
    dlon = radius_m / (_M_PER_DEG * cos_far) * 1.01 + 1e-9
    boxes = shapely.box(slon - dlon, slat - dlat, slon + dlon, slat + dlat)
    st, ch = tree.query(boxes)
    if len(st) == 0:
        return empty
    size = cstop[ch] - cstart[ch]
    st = np.repeat(st, size)
    sg = np.repeat(cstart[ch], size) + (np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size))
    k = np.cos(np.radians(slat[st])) * _M_PER_DEG
    ax, ay = (a[sg, 0] - slon[st]) * k, (a[sg, 1] - slat[st]) * _M_PER_DEG
    dx, dy = (b[sg, 0] - a[sg, 0]) * k, (b[sg, 1] - a[sg, 1]) * _M_PER_DEG
    dd = dx * dx + dy * dy
    t = np.clip(np.where(dd > 0, -(ax * dx + ay * dy) / np.where(dd > 0, dd, 1.0), 0.0), 0.0, 1.0)
    dist = np.hypot(ax + t * dx, ay + t * dy)
    ok = dist <= radius_m
    st, sg, t, dist = st[ok], sg[ok], t[ok], dist[ok]
    piece = pidx[seg[sg]]
    vlast = np.searchsorted(pidx, np.arange(int(pidx[-1]) + 1), "right") - 1
    at = np.minimum(meas[seg[sg]] + t * seg_len[sg], meas[vlast[piece]])
    order = np.lexsort((at, dist, st, piece))
    piece, st, at, dist = piece[order], st[order], at[order], dist[order]
    first = np.r_[True, (np.diff(piece) != 0) | (np.diff(st) != 0)] if len(piece) else np.zeros(0, bool)
    return piece[first].astype(np.int64), st[first].astype(np.int64), at[first], dist[first]


def _gaps(pl_piece: np.ndarray, pl_station: np.ndarray, pl_at: np.ndarray, length_m: np.ndarray,
          n_pieces: int) -> tuple[np.ndarray, ...]:
    """(piece, from m, to m, from station row, to station row) of every gap; row -1 = piece end."""
    pieces = np.arange(n_pieces)
    ev_piece = np.concatenate([pieces, pl_piece, pieces])
    ev_pos = np.concatenate([np.zeros(n_pieces), pl_at, length_m])
    ev_kind = np.concatenate([np.zeros(n_pieces, np.int8), np.ones(len(pl_piece), np.int8),
                              np.full(n_pieces, 2, np.int8)])
    ev_station = np.concatenate([np.full(n_pieces, -1), pl_station, np.full(n_pieces, -1)]).astype(np.int64)
    order = np.lexsort((ev_kind, ev_pos, ev_piece))
    ev_piece, ev_pos, ev_station = ev_piece[order], ev_pos[order], ev_station[order]
    same = np.flatnonzero((ev_piece[1:] == ev_piece[:-1]) & (ev_pos[1:] - ev_pos[:-1] >= _MIN_GAP_M))
    return (ev_piece[same].astype(np.int64), ev_pos[same], ev_pos[same + 1], ev_station[same],
            ev_station[same + 1])


def _locate(piece: np.ndarray, pos: np.ndarray, gm: np.ndarray, offset: np.ndarray,
            vstart: np.ndarray, vstop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment (index of its first vertex) and fraction along it of positions (m) on pieces."""
    g = offset[piece] + pos
    k = np.searchsorted(gm, g, "right") - 1
    k = np.clip(k, vstart[piece], vstop[piece] - 2)
    span = gm[k + 1] - gm[k]
    frac = np.clip(np.where(span > 0, (g - gm[k]) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    return k, frac


def _interpolate(piece: np.ndarray, pos: np.ndarray, coords: np.ndarray, gm: np.ndarray,
                 offset: np.ndarray, vstart: np.ndarray, vstop: np.ndarray) -> np.ndarray:
    """(N, 2) lon/lat of positions (m from the piece start) on pieces."""
    if len(piece) == 0:
        return np.zeros((0, 2))
    k, frac = _locate(piece, pos, gm, offset, vstart, vstop)
    return coords[k] + frac[:, None] * (coords[k + 1] - coords[k])


def _substrings(piece: np.ndarray, start: np.ndarray, stop: np.ndarray, from_pt: np.ndarray,
                to_pt: np.ndarray, coords: np.ndarray, gm: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """LineStrings of the road between two positions on each piece (vectorised substring)."""
    import shapely

    if len(piece) == 0:
        return np.zeros(0, dtype=object)
    ga, gb = offset[piece] + start, offset[piece] + stop
    i0 = np.searchsorted(gm, ga, "right")
    i1 = np.searchsorted(gm, gb, "left")
    n_in = np.maximum(i1 - i0, 0)
    total = n_in + 2
    line = np.repeat(np.arange(len(piece)), total)
    pos_in_line = np.arange(int(total.sum())) - np.repeat(np.cumsum(total) - total, total)
    out = np.empty((int(total.sum()), 2))
    is_first = pos_in_line == 0
    is_last = pos_in_line == total[line] - 1
    mid = ~(is_first | is_last)
    out[is_first] = from_pt
    out[is_last] = to_pt
    out[mid] = coords[i0[line[mid]] + pos_in_line[mid] - 1]
    return shapely.linestrings(out, indices=line)


def _corridor_rows(ref_names: np.ndarray, ref_codes: np.ndarray, names: np.ndarray, p_ref: np.ndarray,
                   p_dir: np.ndarray, length_m: np.ndarray, pl_piece: np.ndarray, pl_station: np.ndarray,
                   pl_at: np.ndarray, g_piece: np.ndarray, g_len: np.ndarray, max_gap_m: float,
                   reach_m: float) -> pd.DataFrame:
    """One row per ref (see the module docstring)."""
    n_refs = len(ref_names)
    if n_refs == 0:
        return pd.DataFrame({
            "ref": pd.Series(dtype=object), "name": pd.Series(dtype=object),
            "length_km": pd.Series(dtype=float), "pieces": pd.Series(dtype="int64"),
            "directions": pd.Series(dtype=object), "stations": pd.Series(dtype="int64"),
            "longest_gap_km": pd.Series(dtype=float), "n_gaps_over_max": pd.Series(dtype="int64"),
            "share_within_reach": pd.Series(dtype=float)})
    # name: most common non-empty name (ties: alphabetical)
    named = pd.DataFrame({"ref": ref_codes, "name": names})
    named = named[named["name"] != ""]
    counts = named.groupby(["ref", "name"]).size().reset_index(name="n")
    counts = counts.sort_values(["ref", "n", "name"], ascending=[True, False, True]).drop_duplicates("ref")
    name = np.full(n_refs, "", dtype=object)
    name[counts["ref"].to_numpy(dtype=np.int64)] = counts["name"].to_numpy(dtype=object)

    by_dir = np.zeros((n_refs, 3))
    np.add.at(by_dir, (p_ref, p_dir), length_m)
    n_pieces = np.bincount(p_ref, minlength=n_refs)
    present = np.zeros((n_refs, 3), dtype=bool)
    present[p_ref, p_dir] = True
    labels = np.array(["+".join(d for d, on in zip(DIRECTIONS, row) if on) for row in present], dtype=object)

    st_ref = p_ref[pl_piece]
    pairs = np.unique(np.stack([st_ref, pl_station], axis=1), axis=0) if len(st_ref) else np.zeros((0, 2), np.int64)
    n_stations = np.bincount(pairs[:, 0].astype(np.int64), minlength=n_refs)

    gap_ref = p_ref[g_piece]
    longest = np.zeros(n_refs)
    np.maximum.at(longest, gap_ref, g_len)
    over = np.bincount(gap_ref, weights=(g_len > max_gap_m).astype(float), minlength=n_refs).astype(np.int64)

    covered = _covered_m(pl_piece, pl_at, length_m, reach_m)
    measured = np.bincount(p_ref, length_m, n_refs)
    within = np.bincount(p_ref, covered, n_refs)
    share = np.where(measured > 0, within / np.where(measured > 0, measured, 1.0), 0.0)

    frame = pd.DataFrame({
        "ref": ref_names, "name": name, "length_km": by_dir.max(axis=1) / 1000,
        "pieces": n_pieces.astype(np.int64), "directions": labels, "stations": n_stations.astype(np.int64),
        "longest_gap_km": longest / 1000, "n_gaps_over_max": over, "share_within_reach": share})
    order = np.lexsort((frame["ref"].to_numpy(dtype=str), -frame["longest_gap_km"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _covered_m(pl_piece: np.ndarray, pl_at: np.ndarray, length_m: np.ndarray, reach_m: float) -> np.ndarray:
    """Metres of each piece within ``reach_m`` of a station along the road (union of intervals)."""
    covered = np.zeros(len(length_m))
    if len(pl_piece) == 0 or reach_m <= 0:
        return covered
    order = np.lexsort((pl_at, pl_piece))
    piece, at = pl_piece[order], pl_at[order]
    lo = np.maximum(at - reach_m, 0.0)
    hi = np.minimum(at + reach_m, length_m[piece])
    new = np.r_[True, piece[1:] != piece[:-1]]
    prev_hi = np.where(new, -np.inf, np.r_[-np.inf, hi[:-1]])
    part = np.maximum(hi - np.maximum(lo, prev_hi), 0.0)
    np.add.at(covered, piece, part)
    return covered


# -- writing ---------------------------------------------------------------------------------------

def write_corridor_outputs(result: CorridorResult, out_dir: str | Path) -> list[Path]:
    """Write ``corridors.csv`` (UTF-8 with BOM, one row per corridor, km to 3 decimals) and
    ``corridor_gaps.geojson`` (the gap lines, WGS-84) into ``out_dir``; returns the paths."""
    from ..stations.export import neutralize_formulas

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = result.corridors.copy()
    for c in ("length_km", "longest_gap_km"):
        table[c] = table[c].round(3)
    table["share_within_reach"] = table["share_within_reach"].round(4)
    csv_path = out / "corridors.csv"
    neutralize_formulas(table).to_csv(csv_path, index=False, encoding="utf-8-sig")
    geo_path = out / "corridor_gaps.geojson"
    geo_path.write_text(json.dumps(result.gaps_geojson(), ensure_ascii=False), encoding="utf-8")
    return [csv_path, geo_path]
