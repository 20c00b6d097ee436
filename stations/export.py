"""Export a registry frame to CSV, XLSX, GeoJSON or GeoPackage (format from the file extension).

CSV is written as UTF-8 with BOM so that Chinese Excel opens it correctly.  Text cells that a
spreadsheet would run as a formula (starting with = + - @ or a tab/CR) are prefixed with ``'``
in CSV and XLSX (OWASP "CSV injection"); GeoJSON and GeoPackage keep the text as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import model

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` whose text cells cannot be run as spreadsheet formulas."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            s = out[c]
            text = s.where(s.map(lambda v: isinstance(v, str)), "")
            risky = text.str.startswith(_FORMULA_START)
            out[c] = s.where(~risky, "'" + text)
    return out


def to_geojson_dict(frame: pd.DataFrame) -> dict[str, object]:
    """A GeoJSON FeatureCollection (WGS-84) of stations; groups and services as lists."""
    features = []
    cols = [c for c in frame.columns if c not in ("lon", "lat")]
    for row in frame.itertuples(index=False):
        rec = row._asdict()
        props = {}
        for c in cols:
            v = rec[c]
            if c in ("groups", "services"):
                v = model.split_list(v)
            elif v is pd.NA or (isinstance(v, float) and not np.isfinite(v)):
                v = None
            elif isinstance(v, (np.integer,)):
                v = int(v)
            elif isinstance(v, (np.floating,)):
                v = float(v)
            props[c] = v
        features.append({"type": "Feature", "id": rec["id"],
                         "geometry": {"type": "Point", "coordinates": [round(float(rec["lon"]), 7),
                                                                       round(float(rec["lat"]), 7)]},
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


def export_stations(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path``; the format follows the extension (.csv .xlsx .geojson .gpkg)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"不支持的导出格式 {path.suffix!r}，可用 .csv .xlsx .geojson .gpkg / unsupported "
                         f"export format {path.suffix!r}; use .csv, .xlsx, .geojson or .gpkg")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame[[c for c in model.COLUMNS if c in frame.columns]]
    if fmt == "csv":
        neutralize_formulas(frame).to_csv(path, index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        neutralize_formulas(frame).to_excel(path, index=False, sheet_name="stations", engine="openpyxl")
    elif fmt == "geojson":
        path.write_text(json.dumps(to_geojson_dict(frame), ensure_ascii=False), encoding="utf-8")
    else:
        import geopandas as gpd

        gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]).astype({"capacity": "float64"}),
                               geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
        gdf.to_file(path, driver="GPKG", layer="stations")
    return path
