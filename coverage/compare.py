"""Change over time: two coverage analyses compared (two hotspot datasets, then and now).

>>> from yizhan.coverage.compare import compare_results                   # doctest: +SKIP
>>> then = analyze(stations, store.demand(1, 9), group="外卖配送员")
>>> now = analyze(stations, store.demand(2, 9), group="外卖配送员")
>>> change = compare_results(then, now, before_name="2026年9月", after_name="2026年10月")
>>> change.headline["covered_share_after"], change.districts, change.cells, change.new_zones

Both analyses must have been made with the same distance metric, H3 resolution, coverage
threshold, worker group and hour (and, for an hour, weekday) — otherwise a bilingual
:class:`ValueError`.  The stations may differ (the registry then and now): the comparison is about
the demand cells.

**Per district** (and city, province, total): the rows of each analysis's own summary
(:func:`yizhan.coverage.summary.district_summary`, the ``summary.xlsx`` rows), side by side:
demand, covered demand and covered share then and now, and the change in percentage points.

**Per cell** — a cell's state in one analysis is *covered* (a demand cell within the threshold),
*uncovered* (a demand cell beyond it: a 空白点 at floor 0, part of a 盲区) or *absent* (no demand
there; the analyses keep only cells with demand > 0).  The ``cells`` frame holds exactly the cells
that entered or left the uncovered set, with their ``change``:

=========================  ==================  ==================  =============================
``change``                 then                now                 counted as
=========================  ==================  ==================  =============================
``lost_coverage``          covered             uncovered           became uncovered
``new_uncovered_demand``   absent (no demand)  uncovered           became uncovered
``gained_coverage``        uncovered           covered             became covered
``demand_gone``            uncovered           absent (no demand)  neither: the gap closed because
                                                                   its demand went away
=========================  ==================  ==================  =============================

Cells in the same state both times, demand appearing in a covered cell (absent → covered) and
demand leaving a covered cell (covered → absent) change no gap and are not listed (they do move the
covered shares, which count demand).

**Blind zones**: a zone of the later analysis that shares no cell with any zone of the earlier
one is *new* (``new_zones``: all its cells are ``lost_coverage`` or ``new_uncovered_demand``); a
zone of the earlier analysis that shares no cell with any later zone is *gone* (``gone_zones``).

Everything is computed with merges and group-bys on the H3 cell ids (no loop over cells).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .analysis import CoverageResult

__all__ = ["CHANGES", "CHANGE_LABELS", "Comparison", "compare_results"]

#: The values of the ``change`` column, in the order the frames list them.
CHANGES: tuple[str, ...] = ("lost_coverage", "new_uncovered_demand", "gained_coverage", "demand_gone")
#: Chinese and English labels of the changes (legend of the maps, the report, the CLI).
CHANGE_LABELS: dict[str, tuple[str, str]] = {
    "lost_coverage": ("失去覆盖", "was covered, now uncovered"),
    "new_uncovered_demand": ("新增未覆盖需求", "new demand in an uncovered cell"),
    "gained_coverage": ("新获覆盖", "was uncovered, now covered"),
    "demand_gone": ("需求消失", "uncovered cell whose demand went away"),
}
#: Parameters both analyses must share (``weekday`` too when an hour is given).
SAME_PARAMS: tuple[str, ...] = ("metric", "res", "threshold_m", "group", "hour", "mode")
_PARAM_ZH = {"metric": "距离度量", "res": "H3 分辨率", "threshold_m": "覆盖阈值（米）", "group": "劳动者群体",
             "hour": "小时", "weekday": "星期", "mode": "出行方式"}
_LEVEL_ORDER = {"district": 0, "city": 1, "province": 2, "total": 3}
_ZONE_COLUMNS = ["zone", "n_cells", "demand", "area_km2", "districts", "lon", "lat", "max_distance_m"]


@dataclass(frozen=True)
class Comparison:
    """Two analyses compared (see the module docstring for the rules).

    * ``headline`` — covered share then and now (0-1) and its change in percentage points, demand
      and demand cells then and now, ``n_<change>`` for each change, ``n_became_uncovered``
      (lost_coverage + new_uncovered_demand), ``n_became_covered`` (gained_coverage),
      ``n_blind_zones_before``/``_after``, ``n_new_zones``, ``n_gone_zones``, stations used then and
      now, the shared parameters and the two names;
    * ``districts`` — one row per summary row (districts, then cities, provinces, the total):
      ``adcode``, ``name``, ``level``, ``demand_before``/``_after``, ``covered_demand_before``/``_after``,
      ``covered_share_before``/``_after`` (NaN without demand), ``change_pp``, ``n_cells_before``/``_after``,
      ``n_stations_before``/``_after``, ``n_<change>`` (cells of the unit), ``n_new_zones`` (new blind
      zones touching the unit);
    * ``cells`` — the changed cells: ``h3``, ``change``, ``adcode``, ``lon``, ``lat`` (centre),
      ``demand_before``/``_after`` (0 when absent), ``covered_before``/``_after`` (NA when absent),
      ``distance_m_before``/``_after`` and ``nearest_before``/``_after`` (NaN/None when absent),
      ``zone_before``/``_after`` (blind zone number in each analysis, 0 for none);
    * ``new_zones``, ``gone_zones`` — GeoDataFrames: the zone's row of the later (earlier) analysis
      (``zone`` is its number there, ``n_cells``, ``demand``, ``area_km2``, ``districts``, ``lon``, ``lat``,
      ``max_distance_m``, ``geometry`` the outline) with ``district_names`` and the count of its cells
      by change.
    """

    headline: dict[str, Any]
    districts: pd.DataFrame
    cells: pd.DataFrame
    new_zones: Any  # geopandas.GeoDataFrame
    gone_zones: Any  # geopandas.GeoDataFrame
    before: CoverageResult = field(repr=False)
    after: CoverageResult = field(repr=False)

    @property
    def became_uncovered(self) -> pd.DataFrame:
        """Cells uncovered now that were covered, or had no demand, before."""
        return self.cells[self.cells["change"].isin(["lost_coverage", "new_uncovered_demand"])].reset_index(drop=True)

    @property
    def became_covered(self) -> pd.DataFrame:
        """Cells covered now that had demand and were uncovered before."""
        return self.cells[self.cells["change"] == "gained_coverage"].reset_index(drop=True)

    def to_json(self) -> dict[str, Any]:
        """The headline and the districts as plain JSON values (NaN -> None)."""
        return {"headline": _plain(self.headline),
                "districts": [_plain(r) for r in self.districts.to_dict("records")]}

    def _cell_features(self, path: Path) -> None:
        from . import hexgrid
        from .outputs import write_features_geojson

        cells = self.cells
        frame = cells.assign(change_zh=cells["change"].map({k: v[0] for k, v in CHANGE_LABELS.items()}),
                             zone_before=cells["zone_before"].astype(float),
                             zone_after=cells["zone_after"].astype(float))
        columns = ["h3", "change", "change_zh", "adcode", "demand_before", "demand_after", "distance_m_before",
                   "distance_m_after", "nearest_before", "nearest_after", "zone_before", "zone_after"]
        polygons = hexgrid.cell_polygons(hexgrid.str_to_cells(cells["h3"].to_numpy(dtype=object)))
        write_features_geojson(frame, path, columns=columns, geometry=polygons)

    def to_geojson_cells(self) -> dict[str, Any]:
        """The changed cells as a GeoJSON FeatureCollection (a dict): one hexagon per cell (WGS-84)
        with the properties ``h3``, ``change``, ``change_zh``, ``adcode``, ``demand_before``/``_after``,
        ``distance_m_before``/``_after`` (null when absent or unreachable), ``nearest_before``/``_after``,
        ``zone_before``/``_after``."""
        with tempfile.TemporaryDirectory(prefix="yizhan-compare-") as tmp:
            path = Path(tmp, "cells.geojson")
            self._cell_features(path)
            return json.loads(path.read_text(encoding="utf-8"))

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``compare_districts.csv`` (UTF-8 with BOM), ``compare_cells.geojson``,
        ``new_blind_zones.geojson``, ``gone_blind_zones.geojson`` and ``compare.json`` (the headline
        and the districts) into ``out_dir``; returns the paths."""
        from .outputs import write_features_geojson

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "compare_districts.csv", out / "compare_cells.geojson", out / "new_blind_zones.geojson",
                 out / "gone_blind_zones.geojson", out / "compare.json"]
        self.districts.to_csv(paths[0], index=False, encoding="utf-8-sig")
        self._cell_features(paths[1])
        for zones, path in ((self.new_zones, paths[2]), (self.gone_zones, paths[3])):
            columns = [c for c in zones.columns if c != "geometry"]
            write_features_geojson(pd.DataFrame(zones[columns]), path, columns=columns,
                                   geometry=zones.geometry.to_numpy())
        paths[4].write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        return paths


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, v in values.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating, float)):
            v = float(v) if math.isfinite(float(v)) else None
        elif isinstance(v, np.bool_):
            v = bool(v)
        elif v is pd.NA:
            v = None
        out[key] = v
    return out


def check_comparable(before: CoverageResult, after: CoverageResult) -> None:
    """Raise a bilingual ValueError unless the two analyses share metric, resolution, threshold,
    worker group, hour (and weekday, for an hour) and travel mode."""
    pb, pa_ = before.params, after.params
    keys = list(SAME_PARAMS) + (["weekday"] if pb.get("hour") is not None or pa_.get("hour") is not None else [])
    differ = []
    for key in keys:
        x, y = pb.get(key), pa_.get(key)
        if key == "threshold_m" and x is not None and y is not None:
            same = math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-6)
        else:
            same = (x or None) == (y or None) if key in ("group", "mode") else x == y
        if not same:
            differ.append((key, x, y))
    if differ:
        zh = "，".join(f"{_PARAM_ZH[k]} {x} 与 {y}" for k, x, y in differ)
        en = ", ".join(f"{k} {x!r} vs {y!r}" for k, x, y in differ)
        raise ValueError(f"两次分析的参数不同，无法对比（{zh}）：请用相同的度量、分辨率、阈值、群体和小时分析 / the two "
                         f"analyses cannot be compared, their parameters differ ({en}): analyse both with the same "
                         "metric, resolution, threshold, worker group and hour")


def _side(result: CoverageResult) -> pd.DataFrame:
    c = result.cells
    zone = c["zone"] if "zone" in c else pd.Series(np.where(c["covered"], 0, -1), index=c.index)
    return pd.DataFrame({"h3": c["h3"].astype(str).to_numpy(dtype=object), "demand": c["demand"].to_numpy(dtype=float),
                         "covered": c["covered"].to_numpy(dtype=bool),
                         "distance_m": c["distance_m"].to_numpy(dtype=float),
                         "nearest": c["nearest_id"].to_numpy(dtype=object), "zone": zone.to_numpy(dtype=np.int64),
                         "adcode": c["adcode"].fillna("").astype(str).to_numpy(dtype=object),
                         "lon": c["lon"].to_numpy(dtype=float), "lat": c["lat"].to_numpy(dtype=float)})


def _changed_cells(before: CoverageResult, after: CoverageResult) -> pd.DataFrame:
    """The cells that entered or left the uncovered set, with their ``change`` (module docstring)."""
    m = _side(before).merge(_side(after), on="h3", how="outer", suffixes=("_before", "_after"), indicator=True,
                            sort=False)
    in_b = m["_merge"].isin(["both", "left_only"]).to_numpy()
    in_a = m["_merge"].isin(["both", "right_only"]).to_numpy()
    cov_b = in_b & m["covered_before"].eq(True).to_numpy(dtype=bool)
    cov_a = in_a & m["covered_after"].eq(True).to_numpy(dtype=bool)
    unc_b, unc_a = in_b & ~cov_b, in_a & ~cov_a
    change = np.select([cov_b & unc_a, ~in_b & unc_a, unc_b & cov_a, unc_b & ~in_a], list(CHANGES), default="")
    keep = change != ""
    m = m[keep]
    change = change[keep]
    in_b, in_a = in_b[keep], in_a[keep]
    out = pd.DataFrame({
        "h3": m["h3"].to_numpy(dtype=object),
        "change": change.astype(object),
        "adcode": m["adcode_after"].where(in_a, m["adcode_before"]).fillna("").to_numpy(dtype=object),
        "lon": np.where(in_a, m["lon_after"], m["lon_before"]).astype(float),
        "lat": np.where(in_a, m["lat_after"], m["lat_before"]).astype(float),
        "demand_before": m["demand_before"].fillna(0.0).to_numpy(dtype=float),
        "demand_after": m["demand_after"].fillna(0.0).to_numpy(dtype=float),
        "covered_before": pd.array(m["covered_before"].eq(True).to_numpy(dtype=bool), dtype="boolean"),
        "covered_after": pd.array(m["covered_after"].eq(True).to_numpy(dtype=bool), dtype="boolean"),
        "distance_m_before": m["distance_m_before"].to_numpy(dtype=float),
        "distance_m_after": m["distance_m_after"].to_numpy(dtype=float),
        "nearest_before": m["nearest_before"].where(in_b, None).to_numpy(dtype=object),
        "nearest_after": m["nearest_after"].where(in_a, None).to_numpy(dtype=object),
        "zone_before": m["zone_before"].fillna(0).to_numpy(dtype=np.int64),
        "zone_after": m["zone_after"].fillna(0).to_numpy(dtype=np.int64),
    })
    out.loc[~in_b, "covered_before"] = pd.NA
    out.loc[~in_a, "covered_after"] = pd.NA
    rank = pd.Series(range(len(CHANGES)), index=list(CHANGES))
    out = out.assign(_r=out["change"].map(rank).to_numpy(), _d=-np.maximum(out["demand_before"], out["demand_after"]))
    return out.sort_values(["_r", "_d", "h3"], kind="stable").drop(columns=["_r", "_d"]).reset_index(drop=True)


def _zones_without_shared_cells(result: CoverageResult, other: CoverageResult, cells: pd.DataFrame,
                                side: str) -> Any:
    """The blind zones of ``result`` none of whose cells is uncovered in ``other``, with district
    names and their cells counted by change (``side``: "after" for new zones, "before" for gone)."""
    import geopandas as gpd

    from .report import _district_names

    zones = result.blind_zones
    c = result.cells
    if "zone" not in c or not len(zones):
        empty = pd.DataFrame(columns=_ZONE_COLUMNS + ["district_names"] + [f"n_{k}" for k in CHANGES])
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    theirs = other.cells
    other_uncovered = theirs.loc[~theirs["covered"].to_numpy(dtype=bool), "h3"]
    mine = c.loc[c["zone"].to_numpy() > 0, ["h3", "zone"]]
    shared = mine["h3"].isin(other_uncovered).groupby(mine["zone"].to_numpy()).any()
    keep = ~zones["zone"].map(shared).fillna(False).to_numpy(dtype=bool)
    picked = zones[keep].reset_index(drop=True)
    picked = picked.assign(district_names=[_district_names(d) for d in picked["districts"]])
    counts = (cells[cells[f"zone_{side}"].isin(picked["zone"])].groupby([f"zone_{side}", "change"]).size()
              .unstack(fill_value=0))
    for k in CHANGES:
        col = counts[k] if k in counts else pd.Series(dtype=int)
        picked[f"n_{k}"] = picked["zone"].map(col).fillna(0).astype(int).to_numpy()
    cols = _ZONE_COLUMNS + ["district_names"] + [f"n_{k}" for k in CHANGES]
    return gpd.GeoDataFrame(picked[cols], geometry=picked.geometry.to_numpy(), crs=4326)


def _summary_side(result: CoverageResult) -> pd.DataFrame:
    s = result.summary
    return s[["adcode", "name", "level", "n_stations", "demand", "covered_demand", "covered_share", "n_cells"]].assign(
        adcode=s["adcode"].fillna("").astype(str))


def _unit_keys(codes: pd.Series, level: str) -> pd.Series:
    from .summary import _parents

    codes = codes.fillna("").astype(str)
    if level == "district":
        return codes
    if level == "total":
        return pd.Series("", index=codes.index, dtype=object)
    return _parents(codes, level)


def _districts(before: CoverageResult, after: CoverageResult, cells: pd.DataFrame, new_zones: Any) -> pd.DataFrame:
    """The summary rows of both analyses side by side, with the cell changes and new zones per unit."""
    m = _summary_side(before).merge(_summary_side(after), on=["level", "adcode"], how="outer",
                                    suffixes=("_before", "_after"))
    out = pd.DataFrame({"adcode": m["adcode"], "name": m["name_after"].fillna(m["name_before"]), "level": m["level"]})
    for col in ("demand", "covered_demand", "n_cells", "n_stations"):
        for side in ("before", "after"):
            out[f"{col}_{side}"] = m[f"{col}_{side}"].fillna(0)
    for side in ("before", "after"):
        out[f"covered_share_{side}"] = m[f"covered_share_{side}"].astype(float)
    out["change_pp"] = (out["covered_share_after"] - out["covered_share_before"]) * 100
    for col in ("n_cells", "n_stations"):
        for side in ("before", "after"):
            out[f"{col}_{side}"] = out[f"{col}_{side}"].astype(int)
    # the changed cells and the new zones of each unit, level by level
    zone_codes = (new_zones["districts"].fillna("").astype(str).str.split("、").explode() if len(new_zones)
                  else pd.Series(dtype=object))
    zone_codes = zone_codes[zone_codes != ""]
    for k in CHANGES:
        out[f"n_{k}"] = 0
    out["n_new_zones"] = 0
    for level in ("district", "city", "province", "total"):
        rows = (out["level"] == level).to_numpy()
        if not rows.any():
            continue
        key = _unit_keys(cells["adcode"], level)
        counts = pd.crosstab(key, cells["change"]) if len(cells) else pd.DataFrame()
        for k in CHANGES:
            if k in counts:
                out.loc[rows, f"n_{k}"] = out.loc[rows, "adcode"].map(counts[k]).fillna(0).astype(int).to_numpy()
        if len(zone_codes):
            pairs = pd.DataFrame({"zone": zone_codes.index, "key": _unit_keys(zone_codes, level).to_numpy()})
            pairs = pairs[(pairs["key"] != "") | (level == "total")].drop_duplicates()
            per = pairs["key"].value_counts()
            out.loc[rows, "n_new_zones"] = out.loc[rows, "adcode"].map(per).fillna(0).astype(int).to_numpy()
    if ((out["level"] == "total").any()) and len(new_zones):
        out.loc[out["level"] == "total", "n_new_zones"] = len(new_zones)
    out = out.assign(_o=out["level"].map(_LEVEL_ORDER).fillna(9)).sort_values(["_o", "adcode"], kind="stable")
    out = out.drop(columns="_o").reset_index(drop=True)
    out.loc[out["level"] == "total", "name"] = "合计 / total"
    return out


def compare_results(before: CoverageResult, after: CoverageResult, *, before_name: str | None = None,
                    after_name: str | None = None) -> Comparison:
    """Compare two analyses of the same options (``before`` then, ``after`` now); see the module
    docstring for the rules.  ``before_name``/``after_name`` name them in the headline (e.g. the
    dataset names).  A bilingual ValueError when the options differ."""
    check_comparable(before, after)
    cells = _changed_cells(before, after)
    new_zones = _zones_without_shared_cells(after, before, cells, "after")
    gone_zones = _zones_without_shared_cells(before, after, cells, "before")
    districts = _districts(before, after, cells, new_zones)
    counts = cells["change"].value_counts()
    n = {f"n_{k}": int(counts.get(k, 0)) for k in CHANGES}
    share_b, share_a = before.covered_share, after.covered_share
    p = after.params
    headline: dict[str, Any] = {
        "before_name": before_name, "after_name": after_name,
        "covered_share_before": share_b, "covered_share_after": share_a, "change_pp": (share_a - share_b) * 100,
        "demand_before": float(before.cells["demand"].sum()), "demand_after": float(after.cells["demand"].sum()),
        "n_cells_before": int(len(before.cells)), "n_cells_after": int(len(after.cells)),
        **n,
        "n_became_uncovered": n["n_lost_coverage"] + n["n_new_uncovered_demand"],
        "n_became_covered": n["n_gained_coverage"],
        "n_blind_zones_before": int(len(before.blind_zones)), "n_blind_zones_after": int(len(after.blind_zones)),
        "n_new_zones": int(len(new_zones)), "n_gone_zones": int(len(gone_zones)),
        "n_stations_before": int(before.params.get("n_stations", 0)),
        "n_stations_after": int(after.params.get("n_stations", 0)),
        "metric": p.get("metric"), "res": p.get("res"), "threshold_m": p.get("threshold_m"), "group": p.get("group"),
        "hour": p.get("hour"),
    }
    return Comparison(headline, districts, cells, new_zones, gone_zones, before, after)
