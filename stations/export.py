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
    if "candidate" in frame:     # a geocoder's answer waiting for a person: an object, not JSON text
        frame = frame.assign(candidate=frame["candidate"].map(_candidate))
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
        lon, lat = rec["lon"], rec["lat"]
        located = lon is not None and lat is not None and np.isfinite(lon) and np.isfinite(lat)
        # a station waiting for a location has no geometry (RFC 7946 §3.2: "geometry": null)
        features.append({"type": "Feature", "id": rec["id"],
                         "geometry": {"type": "Point", "coordinates": [round(float(lon), 7), round(float(lat), 7)]}
                         if located else None,
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _candidate(text: object) -> dict[str, object] | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


#: systems ``--with-crs`` may add: the coordinates Amap/Tencent (GCJ-02) and Baidu (BD-09) maps expect
EXTRA_CRS: tuple[str, ...] = ("gcj02", "bd09")


def parse_with_crs(text: str | None) -> tuple[str, ...]:
    """The systems named by ``--with-crs gcj02,bd09`` (canonical names, in order); ValueError
    (bilingual) for anything else."""
    from ..geodata.crs import normalize_crs

    names: list[str] = []
    for part in (text or "").replace("，", ",").split(","):
        if not part.strip():
            continue
        try:
            name = normalize_crs(part)
        except ValueError:
            name = ""
        if name not in EXTRA_CRS:
            raise ValueError(f"--with-crs 只能是 gcj02、bd09（逗号分隔）：{part.strip()!r} / --with-crs takes gcj02 "
                             f"and/or bd09, comma-separated: {part.strip()!r}")
        if name not in names:
            names.append(name)
    return tuple(names)


def with_crs_columns(frame: pd.DataFrame, systems: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` with ``lon_<crs>``, ``lat_<crs>`` columns beside the WGS-84 ``lon``/``lat`` for
    each of ``systems`` (empty for stations still waiting for a location), rounded to 7 decimals
    (about 1 cm)."""
    from ..geodata.crs import from_wgs84

    out = frame.copy()
    lon = out["lon"].to_numpy(dtype=float)
    lat = out["lat"].to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    at = list(out.columns).index("lat") + 1
    for name in systems:
        x = np.full(len(out), np.nan)
        y = np.full(len(out), np.nan)
        if ok.any():
            x[ok], y[ok] = from_wgs84(lon[ok], lat[ok], name)
        out.insert(at, f"lon_{name}", np.round(x, 7))
        out.insert(at + 1, f"lat_{name}", np.round(y, 7))
        at += 2
    return out


def export_stations(frame: pd.DataFrame, path: str | Path, *, with_crs: tuple[str, ...] = ()) -> Path:
    """Write ``frame`` to ``path``; the format follows the extension (.csv .xlsx .geojson .gpkg).

    ``with_crs`` (``("gcj02", "bd09")``) adds ``lon_gcj02``, ``lat_gcj02``, ``lon_bd09``,
    ``lat_bd09`` beside the WGS-84 coordinates, for publishing on Amap/Tencent and Baidu maps."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"不支持的导出格式 {path.suffix!r}，可用 .csv .xlsx .geojson .gpkg / unsupported "
                         f"export format {path.suffix!r}; use .csv, .xlsx, .geojson or .gpkg")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame[[c for c in model.COLUMNS if c in frame.columns]]
    if with_crs:
        frame = with_crs_columns(frame, tuple(with_crs))
    if fmt == "csv":
        neutralize_formulas(frame).to_csv(path, index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        neutralize_formulas(frame).to_excel(path, index=False, sheet_name="stations", engine="openpyxl")
    elif fmt == "geojson":
        path.write_text(json.dumps(to_geojson_dict(frame), ensure_ascii=False), encoding="utf-8")
    else:
        import geopandas as gpd

        import shapely

        lon, lat = frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float)
        points = shapely.points(lon, lat)
        points[~(np.isfinite(lon) & np.isfinite(lat))] = None       # waiting stations: no geometry
        gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]).astype({"capacity": "float64"}),
                               geometry=points, crs="EPSG:4326")
        gdf.to_file(path, driver="GPKG", layer="stations")
    return path
