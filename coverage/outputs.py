"""Write a coverage result: Parquet, GeoParquet, GeoJSON, CSV and an XLSX workbook.

Files in the output folder:

* ``cells.parquet`` — one row per demand cell: ``h3`` (string id), ``demand`` (sum of weights),
  ``distance_m``, ``nearest_id``, ``covered``, plus ``points``, ``lon``, ``lat`` (cell centre,
  WGS-84), ``adcode`` and ``grid_steps`` / ``time_s`` for those metrics;
* ``blank_spots.geojson`` — 空白点: one point (the cell centre) per uncovered cell with demand
  above the floor, ranked, with the cell's ``h3`` id; ``blank_spots.parquet`` the same as GeoParquet;
* ``blind_zones.geojson`` — 盲区: one feature per zone (outline) with ``demand``, ``area_km2``,
  ``n_cells``, ``districts``, centre ``lon``/``lat``; ``blind_zones.parquet`` as GeoParquet;
* ``summary.csv`` (UTF-8 with BOM) and ``summary.xlsx`` — per district, city, province and total; the
  workbook also has the blank spots, blind zones, districts without a station, hourly coverage
  (when computed) and the parameters;
* ``hourly.csv`` when hourly coverage was computed; ``params.json``;
* with a corridor result (``yizhan analyze --highways``): ``corridors.csv`` and
  ``corridor_gaps.geojson`` (:func:`yizhan.coverage.corridors.write_corridor_outputs`) and two more
  sheets in ``summary.xlsx``: ``走廊 corridors`` (one row per corridor) and ``走廊空白 corridor gaps``
  (one row per gap, longest first), with bilingual headers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from ..stations.export import neutralize_formulas
from .analysis import CoverageResult
from .summary import SUMMARY_COLUMNS_ZH

if TYPE_CHECKING:
    from .corridors import CorridorResult

#: Sheet names of the corridor tables in ``summary.xlsx``.
CORRIDOR_SHEETS: tuple[str, str] = ("走廊 corridors", "走廊空白 corridor gaps")


def _json_column(values: pd.Series) -> pa.Array:
    """JSON text of each value (numbers, strings, None; NaN/inf -> null), vectorised with Arrow."""
    import pyarrow.compute as pc

    if pd.api.types.is_bool_dtype(values):
        return pa.array(np.where(values.to_numpy(dtype=bool), "true", "false"))
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy(dtype=float)
        text = pc.cast(pa.array(arr, mask=~np.isfinite(arr)), pa.string())
        return pc.fill_null(text, "null")
    text = pa.array(values.astype(object).where(values.notna(), None).to_numpy(dtype=object), type=pa.string())
    # Most values need no escaping: quote them directly, json.dumps only the few that do.
    needs = pc.fill_null(pc.match_substring_regex(text, r'["\\\x00-\x1f\x7f]'), False).to_numpy(zero_copy_only=False)
    quoted = pc.binary_join_element_wise('"', text, '"', "")
    if needs.any():
        out = quoted.to_numpy(zero_copy_only=False).astype(object)
        raw = text.to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(needs):
            out[i] = json.dumps(raw[i], ensure_ascii=False)
        quoted = pa.array(out, type=pa.string())
    return pc.fill_null(quoted, "null")


def write_points_geojson(frame: pd.DataFrame, path: Path, *, columns: list[str]) -> None:
    """A GeoJSON FeatureCollection of points (``lon``/``lat``), written without a per-row dict.

    Why hand-written: geopandas' ``to_json`` builds a Python dict per feature, minutes for the
    million-feature blank-spot layers of a province.
    """
    import pyarrow.compute as pc

    if frame.empty:
        path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
        return
    parts = [pa.array(['{"type":"Feature","geometry":{"type":"Point","coordinates":['] * len(frame)),
             _json_column(frame["lon"].round(7)), pa.array([","] * len(frame)), _json_column(frame["lat"].round(7)),
             pa.array([']},"properties":{'] * len(frame))]
    for i, col in enumerate(columns):
        parts += [pa.array([("," if i else "") + json.dumps(col) + ":"] * len(frame)), _json_column(frame[col])]
    parts.append(pa.array(["}}"] * len(frame)))
    rows = pc.binary_join_element_wise(*parts, "")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        fh.write(",\n".join(rows.to_pylist()))
        fh.write("\n]}\n")


def _corridor_tables(corridors: CorridorResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The corridor and gap sheets (km to 3 decimals, coordinates to 6, shares to 4; bilingual headers)."""
    from .corridors import CORRIDOR_COLUMNS_ZH, GAP_COLUMNS_ZH

    table = corridors.corridors.copy()
    gaps = corridors.gap_rows()
    for frame in (table, gaps):
        for c in frame.columns:
            if c.endswith("_km"):
                frame[c] = frame[c].astype(float).round(3)
            elif c.endswith(("_lon", "_lat")):
                frame[c] = frame[c].astype(float).round(6)
    table["share_within_reach"] = table["share_within_reach"].astype(float).round(4)
    return (neutralize_formulas(table.rename(columns=CORRIDOR_COLUMNS_ZH)),
            neutralize_formulas(gaps.rename(columns=GAP_COLUMNS_ZH)))


def write_outputs(result: CoverageResult, out_dir: str | Path, *, hourly: pd.DataFrame | None = None,
                  corridors: CorridorResult | None = None) -> list[Path]:
    """Write every output file of ``result`` into ``out_dir``; returns the paths written.

    With ``corridors`` (a :class:`~yizhan.coverage.corridors.CorridorResult`) also the corridor
    files and the two corridor sheets of ``summary.xlsx`` (see the module docstring)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    cells = result.cells.copy()
    cells["nearest_id"] = cells["nearest_id"].astype("string")
    cells.to_parquet(out / "cells.parquet", index=False)
    written.append(out / "cells.parquet")

    import geopandas as gpd

    blank = result.blank_spots
    blank_cols = [c for c in blank.columns if c not in ("lon", "lat")]
    write_points_geojson(blank, out / "blank_spots.geojson", columns=blank_cols)
    gpd.GeoDataFrame(blank.replace([np.inf], np.nan), geometry=gpd.points_from_xy(blank["lon"], blank["lat"]),
                     crs=4326).to_parquet(out / "blank_spots.parquet", index=False)
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
        top = pd.DataFrame(result.blank_spots).head(5000)   # the full list is in the GeoJSON / Parquet
        neutralize_formulas(top.replace([np.inf], np.nan)).to_excel(xl, sheet_name="空白点", index=False)
        neutralize_formulas(pd.DataFrame(zones.drop(columns="geometry"))).to_excel(xl, sheet_name="盲区", index=False)
        neutralize_formulas(result.admin_blind_zones).to_excel(xl, sheet_name="无站点区县", index=False)
        if hourly is not None:
            hourly.to_excel(xl, sheet_name="分时覆盖", index=False)
        if corridors is not None:
            for sheet, frame in zip(CORRIDOR_SHEETS, _corridor_tables(corridors), strict=True):
                frame.to_excel(xl, sheet_name=sheet, index=False)
        pd.DataFrame({"参数 parameter": list(result.params), "值 value": [str(v) for v in result.params.values()]}) \
            .to_excel(xl, sheet_name="参数", index=False)
    written.append(out / "summary.xlsx")
    (out / "params.json").write_text(json.dumps(result.params, ensure_ascii=False, indent=1, default=str),
                                     encoding="utf-8")
    written.append(out / "params.json")
    if corridors is not None:
        from .corridors import write_corridor_outputs

        written += write_corridor_outputs(corridors, out)
    return written
