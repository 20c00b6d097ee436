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

import io
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


#: Rows per chunk when a GeoJSON layer is written (bounds the memory of the text being built).
GEOJSON_CHUNK = 200_000
#: Rows of the 空白点 and 盲区 sheets of ``summary.xlsx`` (the full lists are in the GeoJSON / Parquet files).
SHEET_ROWS = 5000


def write_features_geojson(frame: pd.DataFrame, path: Path, *, columns: list[str],
                           geometry: np.ndarray | None = None) -> None:
    """A GeoJSON FeatureCollection written in chunks, without a per-row dict.

    Geometries are the ``lon``/``lat`` points of ``frame`` or, with ``geometry``, shapely
    geometries aligned with it (``shapely.to_geojson``, vectorised; None -> null).  Why
    hand-written: geopandas' ``to_json`` builds a Python dict per feature and the whole text in
    memory, minutes and gigabytes for the million-feature layers of several provinces.
    """
    import pyarrow.compute as pc
    import shapely

    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        step = GEOJSON_CHUNK if geometry is None else GEOJSON_CHUNK // 10      # outlines: long texts
        for start in range(0, len(frame), step):
            part = frame.iloc[start:start + step]
            n = len(part)
            if geometry is None:
                geom = [pa.array(['{"type":"Point","coordinates":['] * n), _json_column(part["lon"].round(7)),
                        pa.array([","] * n), _json_column(part["lat"].round(7)), pa.array(["]}"] * n)]
            else:
                text = shapely.to_geojson(geometry[start:start + n])
                geom = [pc.fill_null(pa.array(text, type=pa.string()), "null")]
            parts = [pa.array(['{"type":"Feature","geometry":'] * n), *geom, pa.array([',"properties":{'] * n)]
            for i, col in enumerate(columns):
                parts += [pa.array([("," if i else "") + json.dumps(col, ensure_ascii=False) + ":"] * n),
                          _json_column(part[col])]
            parts.append(pa.array(["}}"] * n))
            rows = pc.binary_join_element_wise(*parts, "")
            fh.write((",\n" if start else "") + ",\n".join(rows.to_pylist()))
        fh.write("\n]}\n")


def write_points_geoparquet(frame: pd.DataFrame, path: Path) -> None:
    """GeoParquet of ``frame`` with its ``lon``/``lat`` points as the geometry (WGS-84), written in
    chunks: each chunk's table and GeoParquet metadata come from geopandas, the metadata then gets
    the bounding box of every point.  Why chunked: a Point object per row of a several-million-row
    frame costs more memory than the rest of the analysis."""
    import geopandas as gpd
    import pyarrow.parquet as pq

    def table(part: pd.DataFrame) -> pa.Table:
        buffer = io.BytesIO()
        gpd.GeoDataFrame(part, geometry=gpd.points_from_xy(part["lon"], part["lat"]), crs=4326) \
            .to_parquet(buffer, index=False)
        return pq.read_table(buffer)

    if len(frame) <= GEOJSON_CHUNK:
        pq.write_table(table(frame), path)
        return
    first = table(frame.iloc[:GEOJSON_CHUNK])
    meta = dict(first.schema.metadata)
    geo = json.loads(meta[b"geo"])
    lon, lat = frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float)
    geo["columns"]["geometry"]["bbox"] = [float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)),
                                          float(np.nanmax(lat))]
    meta[b"geo"] = json.dumps(geo).encode()
    schema = first.schema.with_metadata(meta)
    with pq.ParquetWriter(path, schema) as writer:
        writer.write_table(first.replace_schema_metadata(meta))
        for start in range(GEOJSON_CHUNK, len(frame), GEOJSON_CHUNK):
            writer.write_table(table(frame.iloc[start:start + GEOJSON_CHUNK]).cast(schema))


def write_points_geojson(frame: pd.DataFrame, path: Path, *, columns: list[str]) -> None:
    """A GeoJSON FeatureCollection of the ``lon``/``lat`` points of ``frame`` (see :func:`write_features_geojson`)."""
    write_features_geojson(frame, path, columns=columns)


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

    result.cells.assign(nearest_id=result.cells["nearest_id"].astype("string")) \
        .to_parquet(out / "cells.parquet", index=False)
    written.append(out / "cells.parquet")

    blank = result.blank_spots
    blank_cols = [c for c in blank.columns if c not in ("lon", "lat")]
    write_points_geojson(blank, out / "blank_spots.geojson", columns=blank_cols)
    finite = {c: blank[c].replace(np.inf, np.nan) for c in blank.columns if pd.api.types.is_float_dtype(blank[c])}
    write_points_geoparquet(blank.assign(**finite), out / "blank_spots.parquet")
    zones = result.blind_zones.assign(max_distance_m=result.blind_zones["max_distance_m"].replace(np.inf, np.nan))
    zone_cols = [c for c in zones.columns if c != "geometry"]
    write_features_geojson(zones, out / "blind_zones.geojson", columns=zone_cols, geometry=zones.geometry.to_numpy())
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
        # The sheets hold the first SHEET_ROWS rows (most demand first); the full lists are in the GeoJSON / Parquet.
        top = pd.DataFrame(result.blank_spots).head(SHEET_ROWS)
        neutralize_formulas(top.replace([np.inf], np.nan)).to_excel(xl, sheet_name="空白点", index=False)
        top_zones = pd.DataFrame(zones.drop(columns="geometry")).head(SHEET_ROWS)
        neutralize_formulas(top_zones).to_excel(xl, sheet_name="盲区", index=False)
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
