"""空白点 (blank spots) and 盲区 (blind zones).

* A blank spot is an uncovered demand cell whose demand is above a floor, ranked by demand and
  then by how far beyond the threshold it lies.
* A blind zone is a connected group of uncovered demand cells (H3 adjacency: cells sharing an
  edge), found with scipy's connected components over a sparse adjacency matrix.  Every group is
  a zone; size or demand floors are display filters applied later, off by default.
* An administrative blind zone is a district with demand but no suitable station.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from . import hexgrid


def blank_spots(cells: pd.DataFrame, *, threshold_m: float, floor: float = 0.0) -> pd.DataFrame:
    """Uncovered cells with ``demand > floor``, ranked (1 = most demand, then furthest beyond).

    ``cells`` needs columns h3, demand, distance_m, covered, nearest_id, adcode, lon, lat.
    Adds ``excess_m`` (distance beyond the threshold; inf when no station is reachable) and ``rank``.
    """
    sub = cells[~cells["covered"] & (cells["demand"] > floor)]
    excess = sub["distance_m"].to_numpy(dtype=float) - threshold_m
    # Ties broken by the cell id: as a number, which orders like its 15-digit hex string and sorts
    # without comparing Python strings.
    ids = _cell_ids(sub["h3"])
    order = np.lexsort((ids, -excess, -sub["demand"].to_numpy(dtype=float)))
    sub = sub.iloc[order].assign(excess_m=excess[order])
    sub.insert(0, "rank", np.arange(1, len(sub) + 1))
    return sub.reset_index(drop=True)


def _cell_ids(h3: pd.Series) -> np.ndarray:
    """The cells of an ``h3`` column (string ids or integers) as uint64."""
    if pd.api.types.is_integer_dtype(h3):
        return h3.to_numpy(dtype=np.uint64)
    return hexgrid.str_to_cells(h3.to_numpy(dtype=object))


#: Cells whose neighbours are looked up at once in :func:`label_zones` (bounds its memory).
_LABEL_CHUNK = 500_000


def label_zones(cells: np.ndarray) -> np.ndarray:
    """Connected-component label (0..k-1) of each cell under H3 edge adjacency."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cells = np.asarray(cells, dtype=np.uint64)
    n = len(cells)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(cells)
    sorted_cells = cells[order]
    index = np.int32 if n < 2**31 else np.int64
    a_parts, b_parts = [], []
    for start in range(0, n, _LABEL_CHUNK):       # each undirected edge once (a < b), in chunks
        nb, origin = hexgrid.neighbours(cells[start:start + _LABEL_CHUNK])
        pos = np.minimum(np.searchsorted(sorted_cells, nb), n - 1)
        inside = sorted_cells[pos] == nb
        a, b = (origin[inside] + start).astype(index), order[pos[inside]].astype(index)
        a_parts.append(a[a < b])
        b_parts.append(b[a < b])
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def blind_zones(cells: pd.DataFrame, *, outlines: Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None = None,
                ) -> tuple[pd.DataFrame, np.ndarray]:
    """Blind zones (connected uncovered demand cells), largest demand first, and each cell's zone.

    Returns ``(zones, cell_zone)``: a GeoDataFrame with one row per zone — zone (1..), n_cells,
    demand, area_km2, districts (``、``-joined adcodes), lon/lat (demand-weighted centre of the
    zone's cells), max_distance_m, geometry (the outline polygon, WGS-84) — and an int array
    aligned with ``cells`` giving each cell's zone number (0 for covered cells).  ``outlines``
    replaces :func:`zone_outlines` (same arguments and result), e.g. to trace them on Dask workers.
    """
    import geopandas as gpd

    uncovered = ~cells["covered"].to_numpy(dtype=bool)
    cell_zone = np.zeros(len(cells), dtype=np.int64)
    un = cells[uncovered].reset_index(drop=True)
    columns = ["zone", "n_cells", "demand", "area_km2", "districts", "lon", "lat", "max_distance_m"]
    if un.empty:
        empty = gpd.GeoDataFrame(pd.DataFrame(columns=columns), geometry=gpd.GeoSeries([], crs=4326), crs=4326)
        return empty, cell_zone
    raw_cells = _cell_ids(un["h3"])
    labels = label_zones(raw_cells)
    un = un.assign(_zone=labels, _area=_cell_areas(raw_cells), _w=un["demand"].to_numpy())
    un["_wlon"] = un["lon"] * un["_w"]
    un["_wlat"] = un["lat"] * un["_w"]
    g = un.groupby("_zone", sort=True)
    zones = pd.DataFrame({
        "n_cells": g.size(), "demand": g["demand"].sum(), "area_km2": g["_area"].sum(),
        "lon": g["_wlon"].sum() / g["_w"].sum(), "lat": g["_wlat"].sum() / g["_w"].sum(),
        "max_distance_m": g["distance_m"].max(),
    })
    zones["districts"] = _joined_districts(un["_zone"].to_numpy(), un["adcode"].to_numpy(dtype=object), len(zones))
    zones = gpd.GeoDataFrame(zones, geometry=(outlines or zone_outlines)(raw_cells, labels, len(zones)), crs=4326)
    zones = zones.sort_values(["demand", "n_cells"], ascending=False, kind="stable")
    number = pd.Series(np.arange(1, len(zones) + 1), index=zones.index)   # component label -> zone
    cell_zone[np.flatnonzero(uncovered)] = number.reindex(labels).to_numpy()
    zones = zones.reset_index(drop=True)
    zones.insert(0, "zone", np.arange(1, len(zones) + 1))
    return zones[columns + ["geometry"]], cell_zone


def _cell_areas(cells: np.ndarray) -> np.ndarray:
    """Area (km²) of each cell: the exact area of one cell per resolution-6 parent, shared by its
    children.  Cell areas change smoothly across the grid (well under 0.1 % within a parent of
    ~36 km²), and this needs one exact computation per ~343 cells."""
    if len(cells) == 0:
        return np.empty(0)
    res = int(hexgrid.cell_resolution(cells[:1])[0])
    if res <= 6:
        return hexgrid.cell_area_km2(cells)
    parent = hexgrid.parents(cells, 6)
    _, first, inverse = np.unique(parent, return_index=True, return_inverse=True)
    return hexgrid.cell_area_km2(cells[first])[inverse]


def _joined_districts(zone: np.ndarray, adcode: np.ndarray, n_zones: int) -> np.ndarray:
    """The ``、``-joined sorted district codes of each zone (label 0..n_zones-1; "" when none).

    Most zones lie in one district: those take their code directly; only zones spanning several
    districts are joined in Python (a per-group ``agg("、".join)`` took 15 s for 300 000 zones)."""
    out = np.full(n_zones, "", dtype=object)
    keep = adcode != ""
    pairs = pd.DataFrame({"z": zone[keep], "a": adcode[keep]}).drop_duplicates().sort_values(["z", "a"])
    z, a = pairs["z"].to_numpy(), pairs["a"].to_numpy(dtype=object)
    if len(z) == 0:
        return out
    counts = np.bincount(z, minlength=n_zones)
    one = counts[z] == 1
    out[z[one]] = a[one]
    many = ~one
    if many.any():
        zm, am = z[many], a[many]
        starts = np.flatnonzero(np.r_[True, zm[1:] != zm[:-1]])
        out[zm[starts]] = ["、".join(g) for g in np.split(am, starts[1:])]
    return out


def zone_outlines(cells: np.ndarray, labels: np.ndarray, n_zones: int) -> np.ndarray:
    """Outline polygon (with holes) of each zone, indexed by component label.

    Zones of one cell (most of them where demand is sparse) take the cell's hexagon from h3ronpy
    (vectorised; the same vertices as h3's ``cell_to_boundary`` to 1e-9 degrees).  For the others
    h3's ``cells_to_h3shape`` traces the boundary of all their cells at once (C, linear in the
    boundary), far faster than unioning hexagons; each resulting polygon is matched to its zone
    through the centre of one of the zone's cells, which lies inside it.
    """
    import h3.api.numpy_int as h3n
    import pyarrow as pa
    import shapely
    from h3ronpy.vector import cells_to_wkb_polygons

    out = np.full(n_zones, None, dtype=object)
    if len(cells) == 0:
        return out
    size = np.bincount(labels, minlength=n_zones)
    single = size[labels] == 1
    if single.any():
        wkb = pa.array(cells_to_wkb_polygons(pa.array(cells[single]))).to_numpy(zero_copy_only=False)
        out[labels[single]] = shapely.from_wkb(wkb)
    if single.all():
        return out
    multi_cells, multi_labels = cells[~single], labels[~single]
    shape = h3n.cells_to_h3shape(multi_cells)
    polys = []
    for poly in getattr(shape, "polys", [shape]):
        outer = np.asarray(poly.outer)[:, ::-1]
        holes = [np.asarray(h)[:, ::-1] for h in poly.holes]
        polys.append(shapely.Polygon(outer, holes))
    polys = np.array(polys, dtype=object)
    first = np.unique(multi_labels, return_index=True)[1]
    lon, lat = hexgrid.cells_to_lonlat(multi_cells[first])
    tree = shapely.STRtree(polys)
    point_idx, poly_idx = tree.query(shapely.points(lon, lat), predicate="within")
    out[multi_labels[first][point_idx]] = polys[poly_idx]
    return out


def admin_blind_zones(cells: pd.DataFrame, station_adcodes: pd.Series) -> pd.DataFrame:
    """Districts with demand but no suitable station: adcode, name, demand, n_cells."""
    from ..geodata.boundaries import name_of

    have = set(station_adcodes.astype(str))
    per = cells[cells["adcode"] != ""].groupby("adcode").agg(demand=("demand", "sum"), n_cells=("h3", "size"))
    per = per[(per["demand"] > 0) & ~per.index.isin(have)].sort_values("demand", ascending=False).reset_index()
    per.insert(1, "name", [name_of(a) or "" for a in per["adcode"]])
    return per
