"""Where hotspot points come from: one file, a folder or a glob of Parquet/CSV files, local or remote.

A hotspot *source* is a path or URL understood by fsspec (``orders.parquet``, ``data/hotspots/``,
``data/hotspots/date=2026-11-*/*.parquet``, ``s3://bucket/hotspots/*.parquet`` with
``storage_options`` such as ``{"endpoint_url": "http://minio:9000"}``).  It is planned into
:class:`Piece` objects — a whole file, or a run of Parquet row groups of a large file — that
both engines read with :func:`read_piece`: the single-machine path one after the other, the
Dask path one piece per partition on the workers.

Hive partitions (folders named ``key=value`` between the folder or the glob's fixed prefix and the
file, e.g. ``date=2026-11-01/``) become columns of every row of the file, as pyarrow and Spark
read them (values URL-decoded, as text).  Files and folders whose names start with ``.`` or ``_``
(``_SUCCESS``, ``.crc``, ``_metadata``) are ignored, as pyarrow does.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

from ..stations._errors import ImportValidationError, Problem

#: Suffixes read from a folder or glob (other files in the folder are ignored).
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq", ".geoparquet")
CSV_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".tsv")
_GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Piece:
    """One readable part of a hotspot source.

    ``url`` is the file as fsspec names it; ``label`` the file relative to the folder or glob
    prefix (used in problem reports); ``partition`` the hive ``(key, value)`` pairs;
    ``row_groups`` the Parquet row groups of this piece (None = the whole file); ``first_row`` the
    number of data rows of the file before this piece, so that problems name the row of the file.
    """

    url: str
    fmt: str
    label: str
    partition: tuple[tuple[str, str], ...] = ()
    row_groups: tuple[int, ...] | None = None
    first_row: int = 0


def is_glob(source: str) -> bool:
    """True when ``source`` has glob characters (``*``, ``?``, ``[``)."""
    return any(c in str(source) for c in _GLOB_CHARS)


def is_local_file(source: str | Path) -> bool:
    """A plain local path that is not a folder or glob (the single-file path of :func:`read_hotspots`)."""
    text = str(source)
    return "://" not in text and not is_glob(text) and not Path(text).is_dir()


def _fmt(name: str) -> str | None:
    low = name.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


def _hive(rel: str) -> tuple[tuple[str, str], ...]:
    """``(key, value)`` of every ``key=value`` folder of a relative path."""
    pairs = []
    for part in rel.split("/")[:-1]:
        if "=" in part:
            key, value = part.split("=", 1)
            if key:
                pairs.append((unquote(key), unquote(value)))
    return tuple(pairs)


def _not_found(source: str, zh: str, en: str) -> ImportValidationError:
    return ImportValidationError([Problem(None, None, "missing_file", f"{zh}：{source}", f"{en}: {source}")])


def list_files(source: str | Path, storage_options: dict[str, Any] | None = None) -> list[Piece]:
    """The files of a source (one file, a folder searched recursively, or a glob), sorted, one
    :class:`Piece` each; raises ImportValidationError (bilingual) when nothing matches."""
    import fsspec

    text = str(source)
    fs, path = fsspec.core.url_to_fs(text, **(storage_options or {}))
    if is_glob(path):
        fixed = path[: min(path.find(c) for c in _GLOB_CHARS if c in path)]
        base = fixed.rsplit("/", 1)[0] if "/" in fixed else ""
        found = []
        for match in sorted(fs.glob(path)):
            found += sorted(fs.find(match)) if fs.isdir(match) else [match]
    elif fs.isdir(path):
        base, found = path.rstrip("/"), sorted(fs.find(path))
    elif fs.exists(path):
        return [Piece(fs.unstrip_protocol(path), _fmt(path) or "other", posixpath.basename(path))]
    else:
        raise _not_found(text, "找不到热点文件", "hotspot file not found")
    pieces = []
    for f in found:
        rel = f[len(base):].lstrip("/") if base and f.startswith(base) else posixpath.basename(f)
        fmt = _fmt(f)
        if fmt is None or _hidden(rel):
            continue
        pieces.append(Piece(fs.unstrip_protocol(f), fmt, rel, _hive(rel)))
    if not pieces:
        raise _not_found(text, "没有匹配的 Parquet/CSV 热点文件", "no Parquet/CSV hotspot files match")
    return pieces


def split_pieces(pieces: list[Piece], rows_per_piece: int,
                 storage_options: dict[str, Any] | None = None) -> list[Piece]:
    """Split large Parquet files into runs of row groups of at most ``rows_per_piece`` rows (a
    row group is never split); reads only the file footers.  Other files stay whole."""
    import fsspec
    import pyarrow.parquet as pq

    out: list[Piece] = []
    for p in pieces:
        if p.fmt != "parquet":
            out.append(p)
            continue
        with fsspec.open(p.url, "rb", **(storage_options or {})) as fh:
            try:
                meta = pq.ParquetFile(fh).metadata
            except Exception:  # noqa: BLE001 - unreadable: read_piece reports it
                out.append(p)
                continue
        if b"geo" in (meta.metadata or {}) or meta.num_row_groups <= 1:
            out.append(p)
            continue
        start, rows, groups = 0, 0, []
        for i in range(meta.num_row_groups):
            n = meta.row_group(i).num_rows
            if groups and rows + n > rows_per_piece:
                out.append(Piece(p.url, p.fmt, p.label, p.partition, tuple(groups), start))
                start, rows, groups = start + rows, 0, []
            groups.append(i)
            rows += n
        out.append(Piece(p.url, p.fmt, p.label, p.partition, tuple(groups) if len(groups) < meta.num_row_groups
                         else None, start))
    return out


def read_piece(piece: Piece, storage_options: dict[str, Any] | None = None, encoding: str = "auto") -> pd.DataFrame:
    """The raw rows of a piece (columns as in the file, plus its hive partition columns).

    Raises ImportValidationError for an empty or unreadable file."""
    import fsspec

    from .demand import _geo_to_frame, _read_any, _read_csv_bytes

    fs, path = fsspec.core.url_to_fs(piece.url, **(storage_options or {}))
    if piece.fmt == "other" and "file" in fs.protocol:       # XLSX, GeoJSON …: the single-file reader
        frame = _read_any(Path(path), encoding)
    else:
        if fs.size(path) == 0:
            raise ImportValidationError([Problem(None, None, "empty", "文件为空", "the file is empty")])
        try:
            if piece.fmt == "csv":
                frame = _read_csv_bytes(fs.cat_file(path), encoding)
            elif piece.fmt == "parquet":
                import pyarrow.parquet as pq

                with fs.open(path, "rb") as fh:
                    pf = pq.ParquetFile(fh)
                    if b"geo" in (pf.schema_arrow.metadata or {}):
                        import geopandas as gpd

                        fh.seek(0)
                        frame = _geo_to_frame(gpd.read_parquet(io.BytesIO(fh.read())))
                    elif piece.row_groups is not None:
                        frame = pf.read_row_groups(list(piece.row_groups)).to_pandas()
                    else:
                        frame = pf.read().to_pandas()
            else:
                raise ImportValidationError([Problem(None, None, "format", "只能读取 Parquet 或 CSV 热点文件",
                                                     "only Parquet or CSV hotspot files can be read")])
        except ImportValidationError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken file is reported, not a traceback
            raise ImportValidationError([Problem(None, None, "unreadable", f"无法读取文件：{exc}",
                                                 f"cannot read the file: {exc}")]) from exc
    names = {str(c).strip().lower() for c in frame.columns}
    for key, value in piece.partition:
        if key.lower() not in names:              # a column of the file wins over its folder name
            frame[key] = value
    return frame
