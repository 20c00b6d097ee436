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
    sub = sub.sort_values(["demand", "excess_m", "h3"], ascending=[False, False, True], kind="stable")
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


def blind_zones(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per blind zone (connected uncovered demand cells), largest demand first.

    Columns: zone (1..), n_cells, demand, area_km2, districts (``、``-joined adcodes),
    lon/lat (demand-weighted centre of the zone's cells), max_distance_m, geometry (the outline
    polygon, WGS-84; a GeoDataFrame is returned).
    """
    import geopandas as gpd

    un = cells[~cells["covered"]].reset_index(drop=True)
    columns = ["zone", "n_cells", "demand", "area_km2", "districts", "lon", "lat", "max_distance_m"]
    if un.empty:
        return gpd.GeoDataFrame(pd.DataFrame(columns=columns), geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    raw_cells = (un["h3"].to_numpy(dtype=np.uint64) if pd.api.types.is_integer_dtype(un["h3"])
                 else hexgrid.str_to_cells(un["h3"].to_numpy(dtype=object)))
    labels = label_zones(raw_cells)
    un = un.assign(_zone=labels, _area=hexgrid.cell_area_km2(raw_cells), _w=un["demand"].to_numpy())
    un["_wlon"] = un["lon"] * un["_w"]
    un["_wlat"] = un["lat"] * un["_w"]
    g = un.groupby("_zone", sort=True)
    zones = pd.DataFrame({
        "n_cells": g.size(), "demand": g["demand"].sum(), "area_km2": g["_area"].sum(),
        "lon": g["_wlon"].sum() / g["_w"].sum(), "lat": g["_wlat"].sum() / g["_w"].sum(),
        "max_distance_m": g["distance_m"].max(),
    })
    districts = un[un["adcode"] != ""].groupby("_zone")["adcode"].agg(lambda s: "、".join(sorted(set(s))))
    zones["districts"] = districts.reindex(zones.index).fillna("")
    hexes = gpd.GeoDataFrame({"_zone": labels}, geometry=hexgrid.cell_polygons(raw_cells), crs=4326)
    # Hexagons of one zone never overlap: the fast coverage union applies.
    outlines = hexes.dissolve(by="_zone", method="coverage")
    zones = gpd.GeoDataFrame(zones, geometry=outlines.geometry.reindex(zones.index).to_numpy(), crs=4326)
    zones = zones.sort_values(["demand", "n_cells"], ascending=False, kind="stable").reset_index(drop=True)
    zones.insert(0, "zone", np.arange(1, len(zones) + 1))
    return zones[columns + ["geometry"]]


def admin_blind_zones(cells: pd.DataFrame, station_adcodes: pd.Series) -> pd.DataFrame:
    """Districts with demand but no suitable station: adcode, name, demand, n_cells."""
    from ..geodata.boundaries import name_of

    have = set(station_adcodes.astype(str))
    per = cells[cells["adcode"] != ""].groupby("adcode").agg(demand=("demand", "sum"), n_cells=("h3", "size"))
    per = per[(per["demand"] > 0) & ~per.index.isin(have)].sort_values("demand", ascending=False).reset_index()
    per.insert(1, "name", [name_of(a) or "" for a in per["adcode"]])
    return per
