"""Per-district coverage summary, with city, province and overall rows (any province of mainland China)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stations import model

SUMMARY_COLUMNS_ZH: dict[str, str] = {
    "adcode": "行政区划代码", "name": "名称", "level": "层级", "n_stations": "站点数",
    "demand": "需求量", "covered_demand": "已覆盖需求", "covered_share": "覆盖率",
    "mean_distance_m": "需求加权平均距离（米）", "n_cells": "需求网格数", "n_blank_spots": "空白点数",
    "n_blind_zones": "盲区数", "uncovered_demand": "未覆盖需求",
}


def _names(adcodes: pd.Index) -> list[str]:
    from ..geodata.boundaries import name_of

    return [(name_of(a) or "") if a else "未知区县" for a in adcodes]


def _parents(codes: pd.Series, level: str) -> pd.Series:
    """The city (地级: 仙桃市 429004 is its own city, 重庆's counties belong to 500100) or province
    adcode of each district adcode; ``""`` for a blank or unknown code.  Looks up each distinct
    code once."""
    from ..geodata.boundaries import city_of, province_of

    find = city_of if level == "city" else province_of
    s = codes.fillna("").astype(str)
    uniq = pd.unique(s.to_numpy())
    lookup = {code: (find(code) or "") if code else "" for code in uniq}
    return s.map(lookup) if len(s) else s


def district_summary(cells: pd.DataFrame, stations: pd.DataFrame, blank: pd.DataFrame,
                     zones: pd.DataFrame) -> pd.DataFrame:
    """One row per district with demand or stations, then one per city (地级), one per province,
    then the total.

    Columns: adcode, name, level (district/city/province/total), n_stations, stations_<type> for each
    station type, demand, covered_demand, uncovered_demand, covered_share,
    mean_distance_m (demand-weighted, over cells that reach a station), n_cells,
    n_blank_spots, n_blind_zones (zones touching the district).
    """
    c = cells.assign(_cov=np.where(cells["covered"], cells["demand"], 0.0),
                     _fin=np.isfinite(cells["distance_m"]))
    c["_wd"] = np.where(c["_fin"], c["distance_m"] * c["demand"], 0.0)
    c["_wf"] = np.where(c["_fin"], c["demand"], 0.0)

    def rows(key: pd.Series, st_key: pd.Series, blank_key: pd.Series, zone_keys: list[set[str]], level: str) -> pd.DataFrame:
        g = c.groupby(key)
        out = pd.DataFrame({"demand": g["demand"].sum(), "covered_demand": g["_cov"].sum(),
                            "_wd": g["_wd"].sum(), "_wf": g["_wf"].sum(), "n_cells": g.size()})
        counts = pd.crosstab(st_key, stations["type"]) if len(stations) else pd.DataFrame()
        index = out.index.union(counts.index)
        out = out.reindex(index, fill_value=0)
        for t in model.STATION_TYPES:
            out[f"stations_{t}"] = counts[t].reindex(index, fill_value=0) if t in counts else 0
        out["n_stations"] = out[[f"stations_{t}" for t in model.STATION_TYPES]].sum(axis=1)
        out["n_blank_spots"] = blank_key.value_counts().reindex(index, fill_value=0)
        # zones touching each district: one pass over the (zone, district) pairs, not districts x zones
        per_code = pd.Series([a for z in zone_keys for a in z], dtype=object).value_counts()
        out["n_blind_zones"] = per_code.reindex(index, fill_value=0).to_numpy(dtype=int) if len(index) else []
        out["level"] = level
        return out

    dist_key = c["adcode"].fillna("")
    st_dist = stations["adcode"].fillna("").astype(str) if len(stations) else pd.Series(dtype=str)
    zone_sets = [set(filter(None, str(d).split("、"))) for d in zones.get("districts", pd.Series(dtype=str))]
    district = rows(dist_key, st_dist, blank["adcode"].fillna("") if len(blank) else pd.Series(dtype=str),
                    zone_sets, "district")

    blank_dist = blank["adcode"] if len(blank) else pd.Series(dtype=str)
    zone_codes = pd.Series(sorted(set().union(*zone_sets)), dtype=object)
    upper = []
    for level in ("city", "province"):
        zone_map = dict(zip(zone_codes, _parents(zone_codes, level)))
        part = rows(_parents(dist_key, level), _parents(st_dist, level), _parents(blank_dist, level),
                    [{zone_map[a] for a in z} - {""} for z in zone_sets], level)
        upper.append(part[part.index != ""].sort_index())
    total = pd.DataFrame({k: [v] for k, v in {
        "demand": c["demand"].sum(), "covered_demand": c["_cov"].sum(), "_wd": c["_wd"].sum(),
        "_wf": c["_wf"].sum(), "n_cells": len(c), "n_stations": len(stations),
        "n_blank_spots": len(blank), "n_blind_zones": len(zones), "level": "total"}.items()}, index=["合计"])
    for t in model.STATION_TYPES:
        total[f"stations_{t}"] = int((stations["type"] == t).sum()) if len(stations) else 0
    out = pd.concat([district.sort_index(), *upper, total])
    out["covered_share"] = np.where(out["demand"] > 0, out["covered_demand"] / out["demand"].where(out["demand"] > 0, 1), np.nan)
    out["uncovered_demand"] = out["demand"] - out["covered_demand"]
    out["mean_distance_m"] = np.where(out["_wf"] > 0, out["_wd"] / out["_wf"].where(out["_wf"] > 0, 1), np.nan)
    out.index.name = "adcode"
    out = out.reset_index()
    out["name"] = _names(pd.Index(out["adcode"]))
    out.loc[out["level"] == "total", ["adcode", "name"]] = ["", "合计 / total"]
    cols = (["adcode", "name", "level", "n_stations"] + [f"stations_{t}" for t in model.STATION_TYPES]
            + ["demand", "covered_demand", "uncovered_demand", "covered_share", "mean_distance_m", "n_cells",
               "n_blank_spots", "n_blind_zones"])
    out = out[cols]
    for col in ["n_stations", "n_cells", "n_blank_spots", "n_blind_zones"] + [f"stations_{t}" for t in model.STATION_TYPES]:
        out[col] = out[col].astype(int)
    return out
