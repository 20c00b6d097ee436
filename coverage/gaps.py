"""空白点 (blank spots) and 盲区 (blind zones).

* A blank spot is an uncovered demand cell whose demand is above a floor, ranked by demand and
  then by how far beyond the threshold it lies.
* A blind zone is a connected group of uncovered demand cells (H3 adjacency: cells sharing an
  edge), found with scipy's connected components over a sparse adjacency matrix.  Every group is
  a zone; size or demand floors are display filters applied later, off by default.
* An administrative blind zone is a district with demand but no suitable station.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import hexgrid


def blank_spots(cells: pd.DataFrame, *, threshold_m: float, floor: float = 0.0) -> pd.DataFrame:
    """Uncovered cells with ``demand > floor``, ranked (1 = most demand, then furthest beyond).

    ``cells`` needs columns h3, demand, distance_m, covered, nearest_id, adcode, lon, lat.
    Adds ``excess_m`` (distance beyond the threshold; inf when no station is reachable) and ``rank``.
    """
    sub = cells[~cells["covered"] & (cells["demand"] > floor)].copy()
    sub["excess_m"] = sub["distance_m"] - threshold_m
    sub = sub.iloc[np.lexsort((sub["h3"].to_numpy(dtype=object), -sub["excess_m"].to_numpy(), -sub["demand"].to_numpy()))]
    sub.insert(0, "rank", np.arange(1, len(sub) + 1))
    return sub.reset_index(drop=True)


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
    nb, origin = hexgrid.neighbours(cells)
    pos = np.minimum(np.searchsorted(sorted_cells, nb), n - 1)
    inside = sorted_cells[pos] == nb
    a, b = origin[inside], order[pos[inside]]
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def blind_zones(cells: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Blind zones (connected uncovered demand cells), largest demand first, and each cell's zone.

    Returns ``(zones, cell_zone)``: a GeoDataFrame with one row per zone — zone (1..), n_cells,
    demand, area_km2, districts (``、``-joined adcodes), lon/lat (demand-weighted centre of the
    zone's cells), max_distance_m, geometry (the outline polygon, WGS-84) — and an int array
    aligned with ``cells`` giving each cell's zone number (0 for covered cells).
    """
    import geopandas as gpd

    uncovered = ~cells["covered"].to_numpy(dtype=bool)
    cell_zone = np.zeros(len(cells), dtype=np.int64)
    un = cells[uncovered].reset_index(drop=True)
    columns = ["zone", "n_cells", "demand", "area_km2", "districts", "lon", "lat", "max_distance_m"]
    if un.empty:
        empty = gpd.GeoDataFrame(pd.DataFrame(columns=columns), geometry=gpd.GeoSeries([], crs=4326), crs=4326)
        return empty, cell_zone
    raw_cells = (un["h3"].to_numpy(dtype=np.uint64) if pd.api.types.is_integer_dtype(un["h3"])
                 else hexgrid.str_to_cells(un["h3"].to_numpy(dtype=object)))
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
    pairs = un.loc[un["adcode"] != "", ["_zone", "adcode"]].drop_duplicates()
    districts = pairs.sort_values("adcode").groupby("_zone")["adcode"].agg("、".join)
    zones["districts"] = districts.reindex(zones.index).fillna("")
    zones = gpd.GeoDataFrame(zones, geometry=_outlines(raw_cells, labels, len(zones)), crs=4326)
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


def _outlines(cells: np.ndarray, labels: np.ndarray, n_zones: int) -> np.ndarray:
    """Outline polygon (with holes) of each zone, indexed by component label.

    h3's ``cells_to_h3shape`` traces the boundary of a whole set of cells at once (C, linear in
    the boundary), far faster than unioning hexagons; each resulting polygon is matched to its
    zone through the centre of one of the zone's cells, which lies inside it.
    """
    import h3.api.numpy_int as h3n
    import shapely

    out = np.full(n_zones, None, dtype=object)
    if len(cells) == 0:
        return out
    shape = h3n.cells_to_h3shape(cells)
    polys = []
    for poly in getattr(shape, "polys", [shape]):
        outer = np.asarray(poly.outer)[:, ::-1]
        holes = [np.asarray(h)[:, ::-1] for h in poly.holes]
        polys.append(shapely.Polygon(outer, holes))
    polys = np.array(polys, dtype=object)
    first = np.unique(labels, return_index=True)[1]
    lon, lat = hexgrid.cells_to_lonlat(cells[first])
    tree = shapely.STRtree(polys)
    point_idx, poly_idx = tree.query(shapely.points(lon, lat), predicate="within")
    out[labels[first][point_idx]] = polys[poly_idx]
    return out


def admin_blind_zones(cells: pd.DataFrame, station_adcodes: pd.Series) -> pd.DataFrame:
    """Districts with demand but no suitable station: adcode, name, demand, n_cells."""
    from ..geodata.boundaries import name_of

    have = set(station_adcodes.astype(str))
    per = cells[cells["adcode"] != ""].groupby("adcode").agg(demand=("demand", "sum"), n_cells=("h3", "size"))
    per = per[(per["demand"] > 0) & ~per.index.isin(have)].sort_values("demand", ascending=False).reset_index()
    per.insert(1, "name", [name_of(a) or "" for a in per["adcode"]])
    return per
