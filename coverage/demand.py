"""Hotspot input and the H3 demand grid.

Hotspots are points where outdoor workers need a station (orders, pick-ups, truck stops): columns
``lon``/``lat`` (or 经度/纬度), optional ``weight`` (default 1), ``time`` (ISO 8601, ``HH:MM`` or
``MM-DD HH:MM:SS``) and ``group`` (worker group).  Already aggregated input has ``h3`` and
``weight`` instead of coordinates.  Files: CSV (UTF-8/GBK), Parquet/GeoParquet, GeoJSON.

:func:`aggregate` turns points into a long demand table — one row per (cell, group, hour) —
from which the engine takes the demand of any worker group and hour of day.  Everything is
vectorised (pyarrow CSV reader, pyarrow regex for times, h3ronpy for cells).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..geodata import crs as crs_mod
from ..stations import model
from ..stations._errors import ImportValidationError, Problem
from ..stations.ingest import decode_bytes, map_columns
from . import hexgrid

log = logging.getLogger(__name__)

UNKNOWN_HOUR = -1
UNKNOWN_GROUP = ""
GROUP_CATEGORIES = [UNKNOWN_GROUP, *model.GROUPS]
_MAX_PROBLEMS = 200


@dataclass(frozen=True)
class DemandGrid:
    """Demand aggregated to H3 cells: ``table`` has one row per (``cell``, ``group``, ``hour``).

    ``cell`` is uint64, ``group`` a worker group ('' = not given), ``hour`` 0-23 (-1 = not
    given), ``demand`` the sum of weights, ``points`` the number of input points.
    """

    table: pd.DataFrame
    res: int
    n_points: int
    has_time: bool
    has_group: bool

    def cells(self, *, group: str | None = None, hour: int | None = None) -> pd.DataFrame:
        """Demand per cell for one worker group and/or hour (None = all): columns cell, demand, points.

        Points without a group count for every group (the file did not say); points without a
        time count for every hour.
        """
        t = self.table
        mask = np.ones(len(t), dtype=bool)
        if group is not None and self.has_group:
            g = model.canonical_group(group)
            mask &= ((t["group"] == g) | (t["group"] == UNKNOWN_GROUP)).to_numpy()
        if hour is not None and self.has_time:
            mask &= ((t["hour"] == int(hour)) | (t["hour"] == UNKNOWN_HOUR)).to_numpy()
        sub = t[mask]
        out = sub.groupby("cell", sort=True, observed=True)[["demand", "points"]].sum().reset_index()
        return out[out["demand"] > 0].reset_index(drop=True)

    def by_hour(self) -> pd.DataFrame:
        """Total demand per hour of day (0-23)."""
        t = self.table[self.table["hour"] >= 0]
        return t.groupby("hour")["demand"].sum().reindex(range(24), fill_value=0.0).rename_axis("hour").reset_index()


# -- reading --------------------------------------------------------------------------------------
def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
    return _read_csv_bytes(path.read_bytes(), encoding)


def _read_csv_bytes(data: bytes, encoding: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if encoding in ("auto", "utf-8", "utf8"):
        try:  # fast path: multi-threaded Arrow reader for UTF-8 files
            start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
            table = pacsv.read_csv(io.BytesIO(data[start:]))
            # Arrow reads text that is not UTF-8 (GBK) as a binary column instead of failing
            if not any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types):
                return table.to_pandas()
        except (pa.ArrowInvalid, UnicodeDecodeError):
            pass  # GBK text, ragged rows …: the checked path below names the problem
    text, _ = decode_bytes(data, encoding)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise ImportValidationError([Problem(None, None, "csv", f"CSV 格式错误：{exc}", f"malformed CSV: {exc}")]) from exc


def _read_any(path: Path, encoding: str) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImportValidationError([Problem(None, None, "missing_file", f"找不到文件 {path}", f"file not found: {path}")])
    if path.stat().st_size == 0:
        raise ImportValidationError([Problem(None, None, "empty", "文件为空", "the file is empty")])
    if suffix in (".parquet", ".geoparquet", ".pq"):
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        if b"geo" in meta:
            import geopandas as gpd

            gdf = gpd.read_parquet(path)
            return _geo_to_frame(gdf)
        return pd.read_parquet(path)
    if suffix in (".geojson", ".json", ".gpkg"):
        import geopandas as gpd

        return _geo_to_frame(gpd.read_file(path))
    if suffix in (".xlsx", ".xlsm"):
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    return _read_csv(path, encoding)


def _geo_to_frame(gdf) -> pd.DataFrame:  # noqa: ANN001
    geom = gdf.geometry
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        geom = geom.to_crs(4326)
    if len(geom) and not (geom.geom_type == "Point").all():
        raise ImportValidationError([Problem(None, "geometry", "geometry", "热点几何必须是点（Point）",
                                             "hotspot geometries must be Points")])
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    frame["lon"], frame["lat"] = geom.x.to_numpy(), geom.y.to_numpy()
    return frame


def _hours_from_time(values: pd.Series, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day (int8, -1 where empty) and a mask of unparseable non-empty values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_datetime64_any_dtype(values):
        s = values.dt.tz_convert(tz) if getattr(values.dt, "tz", None) is not None else values
        hours = s.dt.hour.to_numpy(dtype=float)
        return np.where(np.isnan(hours), UNKNOWN_HOUR, hours).astype(np.int8), np.zeros(len(values), bool)
    as_text = values.astype(object).where(values.notna(), "").astype(str)
    text = pa.array(as_text.to_numpy(dtype=object), type=pa.string())
    text = pc.utf8_trim_whitespace(text)
    empty = pc.equal(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
    has_offset = pc.match_substring_regex(text, r"(Z|[+-]\d\d:?\d\d)$").to_numpy(zero_copy_only=False)
    parts = pc.extract_regex(text, r"(?:^|[T\s])(?P<h>\d{1,2}):(?P<m>\d{2})(?::\d{2}(?:\.\d+)?)?")
    h_txt = pc.struct_field(parts, "h")
    m_txt = pc.struct_field(parts, "m")
    matched = parts.is_valid().to_numpy(zero_copy_only=False)
    hour = np.full(len(values), UNKNOWN_HOUR, dtype=np.int16)
    minute = np.zeros(len(values), dtype=np.int16)
    if matched.any():
        hv = pc.cast(pc.if_else(parts.is_valid(), h_txt, "0"), pa.int16()).to_numpy(zero_copy_only=False)
        mv = pc.cast(pc.if_else(parts.is_valid(), m_txt, "0"), pa.int16()).to_numpy(zero_copy_only=False)
        hour = np.where(matched, hv, UNKNOWN_HOUR)
        minute = np.where(matched, mv, 0)
    bad = ~empty & (~matched | (hour > 23) | (minute > 59))
    if has_offset.any():
        parsed = pd.to_datetime(pd.Series(values.to_numpy()[has_offset]), utc=True, errors="coerce", format="mixed")
        local = parsed.dt.tz_convert(tz).dt.hour.to_numpy(dtype=float)
        hour[has_offset] = np.where(np.isnan(local), UNKNOWN_HOUR, local)
        bad[has_offset] |= np.isnan(local)
    hour = np.where(empty | bad, UNKNOWN_HOUR, hour)
    return hour.astype(np.int8), bad


def read_hotspots(path: str | Path, *, crs: str = "wgs84", encoding: str = "auto", skip_bad_rows: bool = False,
                  tz: str = "Asia/Shanghai", storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Read and check a hotspot file, or every Parquet/CSV file of a folder or glob (local or any
    fsspec URL such as ``s3://bucket/hotspots/*.parquet``; hive folders ``key=value`` as columns).

    Returns a frame with ``lon``, ``lat`` (WGS-84, converted from ``crs``), ``weight``, ``hour``
    (-1 = no time) and ``group`` ('' = not given); or, for aggregated input, ``h3`` (uint64
    cells), ``weight``, ``hour``, ``group``.  Bad rows reject the input with a per-row report
    (row numbers as a spreadsheet shows them, with the file for several files), unless
    ``skip_bad_rows``.  ``attrs``: ``n_rows`` (rows read), ``n_skipped``, ``skipped``, ``partitions``.
    """
    from . import sources

    if sources.is_local_file(path):
        raw = _read_any(Path(path), encoding)
        checked = check_hotspots(raw, crs=crs, tz=tz)
        return _finish_read([checked], skip_bad_rows, 1)
    pieces = sources.list_files(path, storage_options)
    checked = []
    for piece in pieces:
        checked.append(check_piece(piece, crs=crs, tz=tz, encoding=encoding, storage_options=storage_options,
                                   several=len(pieces) > 1))
    return _finish_read(checked, skip_bad_rows, len(pieces))


@dataclass(frozen=True)
class CheckedHotspots:
    """The checked rows of one file or piece: ``frame`` (good rows), ``problems`` (at most a few
    hundred), ``n_rows`` read, ``n_bad`` rejected, ``kind`` (``points`` or ``cells``)."""

    frame: pd.DataFrame
    problems: list[Problem]
    n_rows: int
    n_bad: int
    kind: str


def _labelled(problems: list[Problem], label: str | None) -> list[Problem]:
    """Problems naming their file (inputs of several files)."""
    if not label:
        return list(problems)
    return [replace(p, zh=f"文件 {label}：{p.zh}", en=f"file {label}: {p.en}") for p in problems]


def check_piece(piece: Any, *, crs: str = "wgs84", tz: str = "Asia/Shanghai", encoding: str = "auto",
                storage_options: dict[str, Any] | None = None, several: bool = True) -> CheckedHotspots:
    """Read and check one :class:`~yizhan.coverage.sources.Piece` (problems name the file when
    ``several``; a file without data rows is allowed then)."""
    from .sources import read_piece

    label = piece.label if several else None
    try:
        raw = read_piece(piece, storage_options, encoding)
        return check_hotspots(raw, crs=crs, tz=tz, first_row=piece.first_row, label=label, allow_empty=several)
    except ImportValidationError as exc:
        raise ImportValidationError(_labelled(exc.problems, label), n_rows=exc.n_rows) from None


def _finish_read(parts: list[CheckedHotspots], skip_bad_rows: bool, n_parts: int) -> pd.DataFrame:
    problems = [p for c in parts for p in c.problems]
    n_rows = sum(c.n_rows for c in parts)
    n_bad = sum(c.n_bad for c in parts)
    if n_rows == 0:
        raise ImportValidationError([Problem(None, None, "empty", "文件没有数据行", "the file has no data rows")])
    kinds = {c.kind for c in parts if c.n_rows}
    if len(kinds) > 1:
        raise ImportValidationError([Problem(None, None, "mixed", "有的文件是坐标点、有的是 H3 汇总，不能混用",
                                             "some files hold points and others H3 cells: do not mix them")])
    if n_bad and not skip_bad_rows:
        raise ImportValidationError(problems, n_rows=n_rows)
    if n_bad:
        log.warning("skipped %d bad hotspot rows", n_bad)
    frames = [c.frame for c in parts if c.n_rows or len(parts) == 1]
    kept = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    kept.attrs["skipped"] = problems
    kept.attrs["n_skipped"] = n_bad
    kept.attrs["n_rows"] = n_rows
    kept.attrs["partitions"] = n_parts
    return kept


def check_hotspots(raw: pd.DataFrame, *, crs: str = "wgs84", tz: str = "Asia/Shanghai", first_row: int = 0,
                   label: str | None = None, allow_empty: bool = False) -> CheckedHotspots:
    """Check raw hotspot rows (columns as in a file): the good rows converted as
    :func:`read_hotspots` returns them, and the problems of the bad rows (row numbers counted
    from ``first_row`` rows into the file).  Raises ImportValidationError for problems of the
    whole file (no data rows, no coordinate columns, an unreadable h3 column)."""
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    rename, headers, _unknown = map_columns(list(raw.columns))
    raw = raw[list(rename)].rename(columns=rename)
    if "groups" in raw.columns and "group" not in raw.columns:  # a "group" header maps to "groups" first
        raw = raw.rename(columns={"groups": "group"})
        headers["group"] = headers.pop("groups")
    n = len(raw)
    if n == 0 and not allow_empty:
        raise ImportValidationError([Problem(None, None, "empty", "文件没有数据行", "the file has no data rows")])
    aggregated = "h3" in raw.columns and not ("lon" in raw.columns and "lat" in raw.columns)
    if not aggregated and ("lon" not in raw.columns or "lat" not in raw.columns):
        seen = "、".join(map(str, list(headers.values()) + _unknown))
        raise ImportValidationError([Problem(None, None, "missing_column",
                                             f"缺少坐标列：需要 lon/lat（经度/纬度）或 h3 列。文件中的列：{seen}",
                                             f"missing columns: need lon/lat (经度/纬度) or h3. Columns found: {seen}")])
    problems: list[Problem] = []
    bad = np.zeros(n, dtype=bool)
    rows = np.arange(n) + 2 + int(first_row)

    def report(mask: np.ndarray, column: str, code: str, zh: str, en: str, values: pd.Series | None = None) -> None:
        nonlocal bad
        idx = np.flatnonzero(mask)
        bad |= mask
        for i in idx[: max(0, _MAX_PROBLEMS - len(problems))]:
            problems.append(Problem(int(rows[i]), headers.get(column, column), code, zh, en,
                                    "" if values is None else str(values.iloc[i])[:60]))
        if len(idx) > 0 and len(problems) >= _MAX_PROBLEMS and not any(p.code == "more" for p in problems):
            problems.append(Problem(None, headers.get(column, column), "more", f"还有更多同类问题（本列共 {len(idx)} 行）",
                                    f"more problems of this kind ({len(idx)} rows in this column)"))

    out = pd.DataFrame(index=raw.index)
    if aggregated:
        try:
            out["h3"] = hexgrid.str_to_cells(raw["h3"].astype(str).to_numpy(dtype=object))
        except ValueError as exc:
            raise ImportValidationError([Problem(None, headers.get("h3", "h3"), "bad_h3", str(exc).split(" / ")[0],
                                                 str(exc).split(" / ")[-1])]) from exc
        res = hexgrid.cell_resolution(out["h3"].to_numpy())
        report((res < hexgrid.MIN_RES) | (res > hexgrid.MAX_RES), "h3", "bad_res",
               f"H3 分辨率应为 {hexgrid.MIN_RES}–{hexgrid.MAX_RES}", f"H3 resolution must be {hexgrid.MIN_RES}-{hexgrid.MAX_RES}")
    else:
        lon = pd.to_numeric(raw["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(raw["lat"], errors="coerce").to_numpy(dtype=float)
        for name, arr in (("lon", lon), ("lat", lat)):
            report(~np.isfinite(arr), name, "bad_coord", "坐标缺失、不是数字、NaN 或无穷大",
                   "coordinate missing, not a number, NaN or infinite", raw[name])
        finite = np.isfinite(lon) & np.isfinite(lat)
        swapped = finite & (lat >= 73) & (lat <= 136) & (lon >= 3) & (lon <= 54)
        report(swapped, "lat", "swapped", "经度和纬度可能填反了", "latitude and longitude look swapped", raw["lat"])
        outside = finite & ~swapped & ~crs_mod.in_china_bbox(lon, lat)
        report(outside, "lon", "outside_china", "坐标不在中国范围内，请检查经纬度和坐标系",
               "coordinates outside China; check lon/lat and the coordinate system", raw["lon"])
        ok = finite & ~swapped & ~outside
        wlon, wlat = np.full(n, np.nan), np.full(n, np.nan)
        wlon[ok], wlat[ok] = crs_mod.to_wgs84(lon[ok], lat[ok], crs)
        out["lon"], out["lat"] = wlon, wlat
    if "weight" in raw.columns:
        w_txt = raw["weight"]
        weight = pd.to_numeric(w_txt, errors="coerce").to_numpy(dtype=float)
        if pd.api.types.is_numeric_dtype(w_txt):
            empty = np.isnan(weight)                    # a missing number: default weight 1
        else:
            w_str = w_txt.astype(object).where(w_txt.notna(), "").astype(str).str.strip()
            empty = (w_str == "").to_numpy()
        weight = np.where(empty, 1.0, weight)
        report(~np.isfinite(weight) | (weight < 0), "weight", "bad_weight", "权重应为非负数",
               "weight must be a number, 0 or more", w_txt)
        out["weight"] = np.where(np.isfinite(weight), weight, 0.0)
    else:
        out["weight"] = 1.0
    if "time" in raw.columns:
        hour, bad_time = _hours_from_time(raw["time"], tz)
        report(bad_time, "time", "bad_time", "无法识别的时间（应为 ISO 8601 或 HH:MM）",
               "unrecognised time (use ISO 8601 or HH:MM)", raw["time"])
        out["hour"] = hour
    else:
        out["hour"] = np.int8(UNKNOWN_HOUR)
    if "group" in raw.columns:
        col = raw["group"]
        if isinstance(col.dtype, pd.CategoricalDtype):       # Parquet dictionary columns
            codes, uniques = col.cat.codes.to_numpy(), list(col.cat.categories)
        else:
            codes, uniques = pd.factorize(col)
        codes = np.where(codes < 0, len(uniques), codes)     # missing -> not given
        canon = [model.find_group(str(u).strip()) if str(u).strip() else UNKNOWN_GROUP for u in uniques]
        canon.append(UNKNOWN_GROUP)
        unknown = [i for i, c in enumerate(canon) if c is None]
        report(np.isin(codes, unknown), "group", "unknown_group", f"未知劳动者群体，可选：{'、'.join(model.GROUPS)}",
               "unknown worker group", col)
        to_category = np.array([GROUP_CATEGORIES.index(c or UNKNOWN_GROUP) for c in canon], dtype=np.int8)
        out["group"] = pd.Categorical.from_codes(to_category[codes], categories=GROUP_CATEGORIES)
    else:
        out["group"] = pd.Categorical(np.full(n, UNKNOWN_GROUP, dtype=object), categories=GROUP_CATEGORIES)
    kept = out[~bad].reset_index(drop=True) if bad.any() else out.reset_index(drop=True)
    return CheckedHotspots(kept, _labelled(problems, label), n, int(bad.sum()), "cells" if aggregated else "points")


def _sum_by_key(keys: np.ndarray, weights: np.ndarray, key_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique keys with the sum of weights and the count of each (keys < 2**key_bits).

    Rows are processed in chunks small enough that ``key << b | row`` fits in 64 bits; sorting
    those packed integers (numpy's SIMD sort) yields each chunk's grouping order without an
    argsort, and chunk results meet in one bincount over the sorted unique keys.
    """
    n = len(keys)
    uniq = np.sort(keys)
    if n:
        uniq = uniq[np.concatenate([[True], uniq[1:] != uniq[:-1]])]
    idx_bits = 64 - key_bits
    chunk = 1 << idx_bits
    mask = np.uint64(chunk - 1)
    shift = np.uint64(idx_bits)
    pos_parts, sum_parts, cnt_parts = [], [], []
    for start in range(0, n, chunk):
        k = keys[start:start + chunk]
        packed = np.sort((k << shift) | np.arange(len(k), dtype=np.uint64))
        order = (packed & mask).astype(np.int64)
        ks = packed >> shift
        first = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
        sum_parts.append(np.add.reduceat(weights[start:start + chunk][order], first))
        cnt_parts.append(np.diff(np.append(first, len(ks))))
        pos_parts.append(np.searchsorted(uniq, ks[first]))       # sorted queries: cache friendly
    if not pos_parts:
        return uniq, np.zeros(0), np.zeros(0, dtype=np.int64)
    pos = np.concatenate(pos_parts)
    sums = np.bincount(pos, weights=np.concatenate(sum_parts), minlength=len(uniq))
    counts = np.bincount(pos, weights=np.concatenate(cnt_parts), minlength=len(uniq)).astype(np.int64)
    return uniq, sums, counts


def aggregate(hotspots: pd.DataFrame, res: int = hexgrid.DEFAULT_RES) -> DemandGrid:
    """Aggregate hotspot points (or finer/equal aggregated cells) to H3 cells at ``res``,
    per worker group and hour of day."""
    res = hexgrid.check_res(res)
    if "h3" in hotspots.columns:
        cells = hotspots["h3"].to_numpy(dtype=np.uint64)
        cres = hexgrid.cell_resolution(cells)
        if (cres < res).any():
            raise ValueError(f"输入的 H3 单元比分析分辨率 {res} 更粗，无法细分 / input cells are coarser than res {res}")
        cells = np.where(cres > res, hexgrid.parents(cells, res), cells) if (cres > res).any() else cells
    else:
        cells = hexgrid.points_to_cells(hotspots["lon"].to_numpy(), hotspots["lat"].to_numpy(), res)
    group = hotspots["group"]
    if not isinstance(group.dtype, pd.CategoricalDtype):
        group = group.astype(str).astype("category")
    remapped = group.cat.set_categories(GROUP_CATEGORIES)
    lost = remapped.isna().to_numpy() & group.notna().to_numpy()
    if lost.any():
        raise ValueError(f"未知劳动者群体 / unknown worker group: {group[lost].iloc[0]!r}")
    codes = np.maximum(remapped.cat.codes.to_numpy(), 0)    # missing group -> "" (not given)
    # Group by (cell, group, hour) without hashing: at the analysis resolution a cell index has
    # 7 + 3*res significant bits; with group (3 bits) and hour (5 bits) the key fits in 42-48
    # bits, leaving room for the row number, so one SIMD sort of packed integers gives the
    # grouping order (see _sum_by_key).
    low = hexgrid.pack_bits(res)
    sig = 7 + 3 * res
    body = (cells >> np.uint64(low)) & np.uint64((1 << sig) - 1)
    h_code = (hotspots["hour"].to_numpy(dtype=np.int16) + 1).astype(np.uint64)     # 0 = no time
    keys = (body << np.uint64(8)) | (codes.astype(np.uint64) << np.uint64(5)) | h_code
    uniq, demand, points = _sum_by_key(keys, hotspots["weight"].to_numpy(dtype=float), sig + 8)
    head = (np.uint64(1) << np.uint64(59)) | (np.uint64(res) << np.uint64(52))
    table = pd.DataFrame({
        "cell": head | ((uniq >> np.uint64(8)) << np.uint64(low)) | np.uint64((1 << low) - 1),
        "group": pd.Categorical.from_codes(((uniq >> np.uint64(5)) & np.uint64(7)).astype(np.int8),
                                           categories=GROUP_CATEGORIES),
        "hour": ((uniq & np.uint64(31)).astype(np.int16) - 1).astype(np.int8),
        "demand": demand, "points": points,
    })
    return DemandGrid(table, res, len(hotspots), bool((table["hour"] >= 0).any()),
                      bool((table["group"] != UNKNOWN_GROUP).any()))
