"""Change over time and annual targets on the web (routes of the ``api`` blueprint).

* ``GET /api/coverage/compare?before=ID&after=ID[&metric=&group=&hour=&res=&threshold_m=&bbox=&out_crs=]``
  — two hotspot datasets analysed with the same options (the cached analyses of
  :meth:`Services.coverage`) and compared with :func:`yizhan.coverage.compare.compare_results`:
  ``{"headline", "districts", "cells", "new_zones"}`` (``cells``: the changed hexagons, limited to
  ``bbox`` when given; ``new_zones``: the outlines of the new blind zones).  Any logged-in account;
  400 for a missing, malformed or equal id, 404 for an unknown one.
* ``GET /api/targets?area=ADCODE[&dataset=ID]`` — progress this year against ``ANNUAL_TARGETS`` in
  an area (the report's own computation, :func:`yizhan.coverage.report._progress`, so the numbers
  agree with the report): new stations by type created this year vs the yearly target, covered
  share of each target group (its coverage analysis of the dataset) vs the target.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from flask import current_app

from . import geo
from .api import COVERAGE_PARAMS, _coverage_args, _no_hotspots, _out_crs, bp, dataset_param
from .auth import current_user, in_scope, require
from .datasets import area_param
from .errors import ApiError, args, bilingual
from .geo import json_response as _json
from .ratelimit import check_analysis
from .services import services

#: Comparisons kept (each holds its two analyses).
_COMPARE_CACHE = 4


def _dataset_id(a: dict[str, str], name: str) -> dict[str, Any]:
    """The dataset record of parameter ``name`` (required): 400 when missing or malformed, 404 unknown."""
    from ..coverage.datasets import DatasetNotFound

    raw = a.get(name, "").strip()
    if not raw:
        raise ApiError(f"缺少参数 {name}（数据集编号）", f"missing parameter {name} (a dataset id)", field=name)
    if not (raw.isdigit() and len(raw) <= 10):
        raise ApiError(f"参数 {name} 应为数据集编号（整数）", f"parameter {name} must be a dataset id (an integer)",
                       field=name)
    try:
        return services().datasets().require(int(raw))
    except DatasetNotFound:
        raise ApiError(f"热点数据集不存在：{raw}", f"no such hotspot dataset: {raw}", status=404, field=name) from None


def _comparison(before: Any, after: Any, names: tuple[str, str]) -> Any:
    from ..coverage.compare import compare_results

    cache = current_app.extensions.setdefault("yizhan_api", {}).setdefault("compare", [])
    for b, a, n, comp in cache:
        if b is before and a is after and n == names:
            return comp
    check_analysis()
    try:
        comp = compare_results(before, after, before_name=names[0], after_name=names[1])
    except ValueError as exc:
        zh, en = bilingual(str(exc))
        raise ApiError(zh, en) from None
    cache.append((before, after, names, comp))
    del cache[:-_COMPARE_CACHE]
    return comp


def _convert_features(fc: dict[str, Any], out_crs: str) -> dict[str, Any]:
    if out_crs == "wgs84" or not fc.get("features"):
        return fc
    geoms = shapely.from_geojson([shapely.to_geojson(shapely.geometry.shape(f["geometry"])) for f in fc["features"]])
    for f, g in zip(fc["features"], geo.transform_geoms(geoms, out_crs)):
        f["geometry"] = shapely.geometry.mapping(g)
    return fc


def _cells(comp: Any, bbox: Any, out_crs: str) -> dict[str, Any]:
    fc = comp.to_geojson_cells()
    if bbox is not None and fc.get("features"):
        cells = comp.cells
        margin = geo.expand_bbox(bbox, geo.cell_margin_m(int(comp.headline.get("res") or 9)))
        keep = geo.in_bbox(cells["lon"].to_numpy(dtype=float), cells["lat"].to_numpy(dtype=float), margin)
        wanted = set(cells["h3"].astype(str).to_numpy()[keep])
        fc["features"] = [f for f in fc["features"] if str((f.get("properties") or {}).get("h3")) in wanted]
    return _convert_features(fc, out_crs)


def _zones(comp: Any, out_crs: str) -> dict[str, Any]:
    zones = comp.new_zones
    columns = [c for c in zones.columns if c != "geometry"]
    geoms = geo.transform_geoms(zones.geometry.to_numpy(), out_crs) if out_crs != "wgs84" else zones.geometry.to_numpy()
    features = [{"type": "Feature", "properties": geo.clean(row), "geometry": shapely.geometry.mapping(g)}
                for row, g in zip(pd.DataFrame(zones[columns]).to_dict("records"), geoms)]
    return {"type": "FeatureCollection", "features": features}


@bp.route("/coverage/compare")
@require()
def coverage_compare():  # noqa: ANN201
    """Two hotspot datasets compared: headline, districts then and now, changed cells, new blind zones."""
    a = args((COVERAGE_PARAMS - {"dataset"}) | {"before", "after", "bbox", "out_crs"})
    before, after = _dataset_id(a, "before"), _dataset_id(a, "after")
    if int(before["id"]) == int(after["id"]):
        raise ApiError("参数 before 和 after 应为两个不同的数据集", "parameters before and after must be two different "
                       "datasets", field="after")
    bbox, out_crs = geo.parse_bbox(a.get("bbox")), _out_crs(a)
    p = _coverage_args({k: v for k, v in a.items() if k in COVERAGE_PARAMS})
    p.pop("dataset")
    svc = services()
    try:
        r_before = svc.coverage(**p, dataset=before)
        r_after = svc.coverage(**p, dataset=after)
    except ValueError as exc:
        raise ApiError("覆盖分析参数无效", f"invalid coverage parameters: {exc}") from None
    if r_before is None or r_after is None:
        raise _no_hotspots()
    comp = _comparison(r_before, r_after, (str(before["name"]), str(after["name"])))
    out = comp.to_json()
    return _json({"before": {"id": before["id"], "name": before["name"]},
                  "after": {"id": after["id"], "name": after["name"]},
                  "headline": out["headline"], "districts": out["districts"],
                  "cells": _cells(comp, bbox, out_crs), "new_zones": _zones(comp, out_crs)})


# -- annual targets ------------------------------------------------------------------------------------
def _ratio(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


@bp.route("/targets")
@require()
def targets():  # noqa: ANN201
    """Progress this year against ANNUAL_TARGETS in an area (as in the report)."""
    from ..coverage.report import _area_row, _in_year, _inside, _progress, station_creations
    from ..geodata.boundaries import level_of, name_of

    a = args({"area", "dataset"})
    area = area_param(a)
    if not in_scope(current_user(), area):
        raise ApiError("只能查看本辖区的目标进度", "you may only see the targets of your own area", status=403,
                       field="area")
    record = dataset_param(a)
    level = level_of(area) or "district"
    cfg = current_app.config
    tz = cfg.get("TIMEZONE") or "Asia/Shanghai"
    year = datetime.now(ZoneInfo(tz)).year
    targets_cfg = cfg.get("ANNUAL_TARGETS") or {}
    svc = services()

    created = station_creations(svc.registry, year=year, tz=tz)
    new = created[_inside(created["adcode"], area) & _in_year(created["at"], year, tz)] if len(created) else created
    kw = {"metric": "great-circle", "threshold_m": None, "thresholds": cfg.get("THRESHOLDS_M"), "network": None}
    counts = _progress({"new_stations": targets_cfg.get("new_stations") or {}}, new, None, None, group=None,
                       row=None, **kw)
    new_rows = [{"type": t, "done": int(d), "target": int(tg), "ratio": _ratio(r),
                 "progress": None if _ratio(r) is None else min(max(_ratio(r), 0.0), 1.0)}
                for t, d, tg, r in zip((targets_cfg.get("new_stations") or {}), counts["done"], counts["target"],
                                       counts["ratio"])]
    share_rows = []
    for g, target in (targets_cfg.get("covered_share") or {}).items():
        result = svc.coverage(group=g, dataset=record)
        if result is None:
            share, ratio = None, None
        else:
            row = _area_row(result.summary, area, level)
            t = _progress({"covered_share": {g: target}}, new, None, None, group=g, row=row, **kw)
            share, ratio = _ratio(t["done"].iloc[0]), _ratio(t["ratio"].iloc[0])
        share_rows.append({"group": g, "current": share, "target": float(target), "ratio": ratio,
                           "progress": None if ratio is None else min(max(ratio, 0.0), 1.0)})
    return _json({"year": year, "area": area, "name": name_of(area) or area, "level": level,
                  "dataset": {"id": record["id"], "name": record["name"]} if record else None,
                  "new_stations": new_rows, "covered_share": share_rows})
