"""Write a coverage result: Parquet, GeoParquet, GeoJSON, CSV and an XLSX workbook.

Files in the output folder:

* ``cells.parquet`` — one row per demand cell: ``h3`` (string id), ``demand`` (sum of weights),
  ``distance_m``, ``nearest_id``, ``covered``, plus ``points``, ``lon``, ``lat`` (cell centre,
  WGS-84), ``adcode`` and ``grid_steps`` / ``time_s`` for those metrics;
* ``blank_spots.geojson`` — 空白点: one hexagon per uncovered cell with demand above the floor,
  ranked; ``blank_spots.parquet`` the same as GeoParquet;
* ``blind_zones.geojson`` — 盲区: one feature per zone (outline) with ``demand``, ``area_km2``,
  ``n_cells``, ``districts``, centre ``lon``/``lat``; ``blind_zones.parquet`` as GeoParquet;
* ``summary.csv`` (UTF-8 with BOM) and ``summary.xlsx`` — per district, city and total; the
  workbook also has the blank spots, blind zones, districts without a station, hourly coverage
  (when computed) and the parameters;
* ``hourly.csv`` when hourly coverage was computed; ``params.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..stations.export import neutralize_formulas
from . import hexgrid
from .analysis import CoverageResult
from .summary import SUMMARY_COLUMNS_ZH


def _blank_gdf(blank: pd.DataFrame):  # noqa: ANN202
    import geopandas as gpd

    cells = hexgrid.str_to_cells(blank["h3"].to_numpy(dtype=object)) if len(blank) else np.empty(0, dtype=np.uint64)
    frame = blank.copy()
    frame["excess_m"] = frame["excess_m"].replace(np.inf, np.nan) if len(frame) else frame.get("excess_m")
    frame["distance_m"] = frame["distance_m"].replace(np.inf, np.nan) if len(frame) else frame.get("distance_m")
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(hexgrid.cell_polygons(cells), crs=4326), crs=4326)


def write_outputs(result: CoverageResult, out_dir: str | Path, *, hourly: pd.DataFrame | None = None) -> list[Path]:
    """Write every output file of ``result`` into ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    cells = result.cells.copy()
    cells["nearest_id"] = cells["nearest_id"].astype("string")
    cells.to_parquet(out / "cells.parquet", index=False)
    written.append(out / "cells.parquet")

    blank = _blank_gdf(result.blank_spots)
    (out / "blank_spots.geojson").write_text(blank.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
    blank.to_parquet(out / "blank_spots.parquet", index=False)
    zones = result.blind_zones.copy()
    zones["max_distance_m"] = zones["max_distance_m"].replace(np.inf, np.nan)
    (out / "blind_zones.geojson").write_text(zones.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
    zones.to_parquet(out / "blind_zones.parquet", index=False)
    written += [out / "blank_spots.geojson", out / "blank_spots.parquet", out / "blind_zones.geojson",
                out / "blind_zones.parquet"]

    result.summary.to_csv(out / "summary.csv", index=False, encoding="utf-8-sig")
    written.append(out / "summary.csv")
    if hourly is not None:
        hourly.to_csv(out / "hourly.csv", index=False, encoding="utf-8-sig")
        written.append(out / "hourly.csv")

    with pd.ExcelWriter(out / "summary.xlsx", engine="openpyxl") as xl:
        neutralize_formulas(result.summary.rename(columns=SUMMARY_COLUMNS_ZH)).to_excel(xl, sheet_name="区县汇总", index=False)
        top = pd.DataFrame(result.blank_spots.drop(columns=[], errors="ignore")).head(10000)
        neutralize_formulas(top.replace([np.inf], np.nan)).to_excel(xl, sheet_name="空白点", index=False)
        neutralize_formulas(pd.DataFrame(zones.drop(columns="geometry"))).to_excel(xl, sheet_name="盲区", index=False)
        neutralize_formulas(result.admin_blind_zones).to_excel(xl, sheet_name="无站点区县", index=False)
        if hourly is not None:
            hourly.to_excel(xl, sheet_name="分时覆盖", index=False)
        pd.DataFrame({"参数 parameter": list(result.params), "值 value": [str(v) for v in result.params.values()]}) \
            .to_excel(xl, sheet_name="参数", index=False)
    written.append(out / "summary.xlsx")
    (out / "params.json").write_text(json.dumps(result.params, ensure_ascii=False, indent=1, default=str),
                                     encoding="utf-8")
    written.append(out / "params.json")
    return written
