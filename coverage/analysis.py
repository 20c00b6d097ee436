"""The coverage analysis: the stable Python API that the CLI, the web app and notebooks call.

>>> from yizhan.coverage import analyze, read_hotspots, aggregate       # doctest: +SKIP
>>> demand = aggregate(read_hotspots("hotspots.csv"), res=9)
>>> result = analyze(registry.stations(), demand, metric="great-circle", group="外卖配送员")
>>> result.summary, result.blank_spots, result.blind_zones

Stations are filtered to those in service (在运营) that serve the worker group and, when an
hour is given, are open at the middle of that hour (HH:30) on ``weekday``.  Demand is filtered to
the group and hour the same way.  A cell is covered when its distance to the nearest suitable
station is at most the threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULTS
from ..stations import model
from . import distances as dist_mod
from . import gaps, hexgrid
from .demand import DemandGrid
from .summary import district_summary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoverageResult:
    """Everything one analysis produced (frozen: nothing appears only after a later call)."""

    params: dict[str, Any]
    cells: pd.DataFrame
    blank_spots: pd.DataFrame
    blind_zones: Any  # geopandas.GeoDataFrame
    admin_blind_zones: pd.DataFrame
    summary: pd.DataFrame
    stations: pd.DataFrame = field(repr=False)

    @property
    def covered_share(self) -> float:
        """Share of demand covered (0-1; NaN without demand)."""
        total = float(self.cells["demand"].sum())
        return float(self.cells.loc[self.cells["covered"], "demand"].sum() / total) if total else float("nan")


def threshold_for(group: str | None, threshold_m: float | None = None,
                  thresholds: dict[str, float] | None = None, default_m: float | None = None) -> float:
    """The coverage threshold in metres: explicit value, else the group's default, else the default."""
    if threshold_m is not None:
        if not np.isfinite(threshold_m) or threshold_m <= 0:
            raise ValueError("阈值应为正数（米）/ threshold must be a positive number of metres")
        return float(threshold_m)
    table = thresholds or DEFAULTS["THRESHOLDS_M"]
    if group:
        return float(table[model.canonical_group(group)])
    return float(default_m if default_m is not None else DEFAULTS["DEFAULT_THRESHOLD_M"])


def select_stations(stations: pd.DataFrame, *, group: str | None = None, hour: int | None = None,
                    weekday: int = 0, status: str = "在运营") -> pd.DataFrame:
    """Stations that count: in service, serving ``group``, open at ``hour``:30 on ``weekday``."""
    from ..stations.hours import open_mask

    s = stations[np.isfinite(stations["lon"].to_numpy(dtype=float)) & np.isfinite(stations["lat"].to_numpy(dtype=float))]
    mask = (s["status"] == status).to_numpy() if status else np.ones(len(s), dtype=bool)
    if group:
        mask = mask & model.serves_mask(s["groups"], group)
    if hour is not None:
        if not 0 <= int(hour) <= 23:
            raise ValueError("小时应为 0–23 / hour must be 0-23")
        mask = mask & open_mask(s["hours"], weekday=weekday, minute=int(hour) * 60 + 30)
    return s[mask].reset_index(drop=True)


def measure(cells: np.ndarray, stations: pd.DataFrame, *, metric: str, res: int, network: Any = None,
            workers: int = -1) -> dist_mod.Distances:
    """Distances from the cell centres to the nearest of ``stations`` with one metric."""
    slon = stations["lon"].to_numpy(dtype=float)
    slat = stations["lat"].to_numpy(dtype=float)
    if metric == "great-circle":
        lon, lat = hexgrid.cells_to_lonlat(cells)
        return dist_mod.great_circle(lon, lat, slon, slat, workers=workers)
    if metric == "grid":
        return dist_mod.grid(cells, slon, slat, res)
    if metric == "network":
        if network is None:
            raise ValueError("道路网络距离需要 OSM 文件（--osm）/ the network metric needs a road network (--osm FILE)")
        from .network import network_distance_and_time

        lon, lat = hexgrid.cells_to_lonlat(cells)
        r = network_distance_and_time(network, slon, slat, lon, lat)
        return dist_mod.Distances(r.distance_m, r.station, time_s=r.time_s)
    raise ValueError(f"未知距离度量 {metric!r}，可选 great-circle、grid、network / unknown metric {metric!r}")


def analyze(stations: pd.DataFrame, demand: DemandGrid, *, metric: str = "great-circle", group: str | None = None,
            hour: int | None = None, weekday: int = 0, threshold_m: float | None = None,
            thresholds: dict[str, float] | None = None, network: Any = None, floor: float = 0.0,
            workers: int = -1) -> CoverageResult:
    """Coverage of ``demand`` by ``stations`` (a registry frame).

    Returns per-cell distances and coverage, blank spots (uncovered cells with demand above
    ``floor``), blind zones (connected uncovered cells), districts with demand but no station,
    and the per-district summary.  ``network`` is a :class:`yizhan.geodata.roads.RoadNetwork`
    (needed for ``metric="network"``).
    """
    if metric not in dist_mod.METRICS:
        raise ValueError(f"未知距离度量 {metric!r} / unknown metric {metric!r}; expected {', '.join(dist_mod.METRICS)}")
    if group:
        group = model.canonical_group(group)
    threshold = threshold_for(group, threshold_m, thresholds)
    used = select_stations(stations, group=group, hour=hour, weekday=weekday)
    per_cell = demand.cells(group=group, hour=hour)
    cells = per_cell["cell"].to_numpy(dtype=np.uint64)
    d = measure(cells, used, metric=metric, res=demand.res, network=network, workers=workers)
    params = {"metric": metric, "res": demand.res, "group": group, "hour": hour, "weekday": weekday,
              "threshold_m": threshold, "floor": floor, "n_stations": len(used), "n_points": demand.n_points,
              "mode": getattr(network, "mode", None)}
    return finish(cells, per_cell["demand"].to_numpy(dtype=float), per_cell["points"].to_numpy(dtype=np.int64),
                  d, used, threshold=threshold, floor=floor, params=params)


def cell_places(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Centre ``lon``/``lat`` and district ``adcode`` of cells (any order; each cell's values
    depend on that cell alone, so parts computed apart concatenate to the whole)."""
    from ..geodata.boundaries import district_of

    lon, lat = hexgrid.cells_to_lonlat(cells)
    return {"lon": lon, "lat": lat, "adcode": district_of(lon, lat) if len(cells) else np.empty(0, dtype=object)}


def finish(cells: np.ndarray, demand: np.ndarray, points: np.ndarray, d: dist_mod.Distances, used: pd.DataFrame,
           *, threshold: float, floor: float, params: dict[str, Any],
           places: dict[str, np.ndarray] | None = None, outlines: Any = None) -> CoverageResult:
    """The result from per-cell demand (cells sorted) and distances: the cell table, blank spots,
    blind zones, districts without a station and the summary (``places`` from :func:`cell_places`
    when already computed, e.g. on Dask workers)."""
    where = places if places is not None else cell_places(cells)
    out = pd.DataFrame({
        "h3": hexgrid.cells_to_str_column(cells),
        "demand": demand,
        "points": points,
        "distance_m": d.distance_m,
        "nearest_id": np.where(d.station >= 0, used["id"].to_numpy(dtype=object)[np.maximum(d.station, 0)], None)
        if len(used) else np.full(len(cells), None, dtype=object),
        "covered": d.distance_m <= threshold,
        "lon": where["lon"], "lat": where["lat"],
        "adcode": where["adcode"],
    })
    if d.grid_steps is not None:
        out["grid_steps"] = d.grid_steps
    if d.time_s is not None:
        out["time_s"] = d.time_s
    blank = gaps.blank_spots(out, threshold_m=threshold, floor=floor)
    zones, out["zone"] = gaps.blind_zones(out, outlines=outlines)
    admin = gaps.admin_blind_zones(out, used["adcode"])
    summary = district_summary(out, used, blank, zones)
    return CoverageResult(params, out, blank, zones, admin, summary, used)


def coverage_by_hour(stations: pd.DataFrame, demand: DemandGrid, *, metric: str = "great-circle",
                     group: str | None = None, weekday: int = 0, threshold_m: float | None = None,
                     thresholds: dict[str, float] | None = None, network: Any = None) -> pd.DataFrame:
    """Coverage for each hour of the day (stations open at HH:30, demand of that hour).

    Columns: hour, open_stations, demand, covered_demand, covered_share, uncovered_cells.
    Night blind zones show as low shares when stations close.
    """
    threshold = threshold_for(group, threshold_m, thresholds)
    rows = []
    for hour in range(24):
        used = select_stations(stations, group=group, hour=hour, weekday=weekday)
        per_cell = demand.cells(group=group, hour=hour)
        cells = per_cell["cell"].to_numpy(dtype=np.uint64)
        d = measure(cells, used, metric=metric, res=demand.res, network=network)
        covered = d.distance_m <= threshold
        total = float(per_cell["demand"].sum())
        cov = float(per_cell["demand"].to_numpy()[covered].sum())
        rows.append(hour_row(hour, len(used), total, cov, int((~covered).sum())))
    return pd.DataFrame(rows)


def hour_row(hour: int, open_stations: int, demand: float, covered_demand: float, uncovered_cells: int) -> dict:
    """One row of :func:`coverage_by_hour`."""
    return {"hour": hour, "open_stations": open_stations, "demand": demand, "covered_demand": covered_demand,
            "covered_share": covered_demand / demand if demand else np.nan, "uncovered_cells": uncovered_cells}
