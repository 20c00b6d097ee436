"""Impact of proposed sites on an existing coverage result.

Adding stations can only shorten distances, so the new distance of every demand cell is the
minimum of its old distance and its distance to the nearest proposed site, measured with the
same metric.  That gives exactly what a re-run of :func:`yizhan.coverage.analyze` with the sites
added would give (tests check it), at the cost of measuring from the proposed sites only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import hexgrid
from .analysis import CoverageResult, measure


@dataclass(frozen=True)
class Impact:
    """What a set of proposed sites changes.

    ``cells`` is the result's cell table with ``new_distance_m``, ``new_covered`` and
    ``newly_covered``; ``districts`` the per-district before/after figures; ``blank_spots_removed``
    and ``blind_zones`` (each zone with ``covered_cells``/``removed``) the gaps it closes.
    """

    new_demand: float
    new_share: float
    covered_before: float
    covered_after: float
    total_demand: float
    cells: pd.DataFrame
    districts: pd.DataFrame
    blank_spots_removed: pd.DataFrame
    blind_zones: pd.DataFrame

    def as_dict(self, *, limit: int = 20) -> dict[str, Any]:
        """JSON-ready summary (lists cut to ``limit`` rows)."""
        zones = self.blind_zones[self.blind_zones["covered_cells"] > 0]
        return {
            "new_demand": self.new_demand, "new_share": self.new_share, "covered_before": self.covered_before,
            "covered_after": self.covered_after, "total_demand": self.total_demand,
            "share_before": self.covered_before / self.total_demand if self.total_demand else None,
            "share_after": self.covered_after / self.total_demand if self.total_demand else None,
            "blank_spots_removed": int(len(self.blank_spots_removed)),
            "blind_zones_touched": int(len(zones)), "blind_zones_removed": int(zones["removed"].sum()),
            "districts": self.districts.head(limit).to_dict(orient="records"),
            "blank_spot_cells": self.blank_spots_removed["h3"].head(limit).tolist(),
        }


def site_impact(result: CoverageResult, site_lon: Any, site_lat: Any, *, network: Any = None) -> Impact:
    """Impact of adding stations at ``(site_lon, site_lat)`` (WGS-84) to ``result``'s stations."""
    lon = np.atleast_1d(np.asarray(site_lon, dtype=float))
    lat = np.atleast_1d(np.asarray(site_lat, dtype=float))
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise ValueError("选址坐标无效 / invalid site coordinates")
    p = result.params
    cells = result.cells.copy()
    raw = hexgrid.str_to_cells(cells["h3"].to_numpy(dtype=object)) if len(cells) else np.empty(0, np.uint64)
    sites = pd.DataFrame({"lon": lon, "lat": lat})
    d = measure(raw, sites, metric=p["metric"], res=p["res"], network=network)
    threshold = float(p["threshold_m"])
    cells["new_distance_m"] = np.minimum(cells["distance_m"].to_numpy(dtype=float), d.distance_m)
    cells["new_covered"] = cells["new_distance_m"] <= threshold
    cells["newly_covered"] = cells["new_covered"] & ~cells["covered"]
    total = float(cells["demand"].sum())
    before = float(cells.loc[cells["covered"], "demand"].sum())
    after = float(cells.loc[cells["new_covered"], "demand"].sum())

    per = cells.assign(_b=np.where(cells["covered"], cells["demand"], 0.0),
                       _a=np.where(cells["new_covered"], cells["demand"], 0.0)).groupby("adcode")
    districts = pd.DataFrame({"demand": per["demand"].sum(), "covered_before": per["_b"].sum(),
                              "covered_after": per["_a"].sum()})
    districts["new_demand"] = districts["covered_after"] - districts["covered_before"]
    districts["share_before"] = districts["covered_before"] / districts["demand"]
    districts["share_after"] = districts["covered_after"] / districts["demand"]
    districts = districts[districts["new_demand"] > 0].sort_values("new_demand", ascending=False).reset_index()

    newly = set(cells.loc[cells["newly_covered"], "h3"])
    blank = result.blank_spots
    removed = blank[blank["h3"].isin(newly)]
    if (cells["zone"] > 0).any():
        un = cells[cells["zone"] > 0]
        zone_table = un.groupby("zone").agg(n_cells=("h3", "size"), covered_cells=("newly_covered", "sum"),
                                            demand=("demand", "sum")).reset_index()
        zone_table["removed"] = zone_table["covered_cells"] == zone_table["n_cells"]
    else:
        zone_table = pd.DataFrame(columns=["zone", "n_cells", "covered_cells", "demand", "removed"])
    return Impact(after - before, (after - before) / total if total else 0.0, before, after, total, cells,
                  districts, removed.reset_index(drop=True), zone_table)
