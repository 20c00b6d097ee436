"""Hotspot datasets: named, checked hotspot files kept by the home, to analyse by id.

A planner adds a hotspot file (CSV, Parquet, XLSX, GeoJSON; WGS-84, GCJ-02 or BD-09) under a name
such as "2026年10月 平台订单".  The file is checked row by row as :func:`~yizhan.coverage.demand.read_hotspots`
checks it (the same problems, in Chinese and English, naming row and column) and stored normalised as
``<home>/datasets/<id>.parquet`` with the columns ``read_hotspots`` returns: ``lon``, ``lat``
(WGS-84), ``weight``, ``hour``, ``group`` — or ``h3``, ``weight``, ``hour``, ``group`` for
aggregated input.  The registry database keeps one row per dataset (table ``datasets``) and every
add, rename and remove in ``dataset_history``.

All or nothing: a file with a bad row is refused with the per-row report (no database row, no
file), unless bad rows are skipped (then they are counted in ``skipped``).

**Bounded memory.**  A file is never read whole: CSV is read in blocks of a few MB (Arrow's
streaming reader, the encoding detected from the first MB: UTF-8, GBK/GB18030 or UTF-16) and
Parquet in batches of rows; each block is checked (row numbers counted from the start of the file)
and its good rows are appended to a temporary Parquet file, which takes its place only when the
whole file passed.  XLSX, GeoJSON, GeoPackage and GeoParquet files are read whole and therefore
refused above :data:`WHOLE_FILE_MAX_BYTES` (50 MB); any file above the ``DATASET_MAX_BYTES``
setting (default 500 MB) is refused before it is read.

Permissions (who may add or remove) are the web layer's business; the store records ``user``.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import json
import logging
import os
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import pandas as pd

from ..stations._errors import ImportValidationError, Problem, RegistryError, WriteConflict
from . import demand as demand_mod
from .demand import GROUP_CATEGORIES, CheckedHotspots, DemandGrid, check_hotspots

log = logging.getLogger(__name__)

#: Default of the ``DATASET_MAX_BYTES`` setting: the largest file accepted.
DEFAULT_MAX_BYTES = 500 * 1024 * 1024
#: XLSX, GeoJSON, GeoPackage and GeoParquet are read whole: refused above this size.
WHOLE_FILE_MAX_BYTES = 50 * 1024 * 1024
#: Longest dataset name (characters).
NAME_MAX = 200
#: CSV: bytes read at a time (a run of whole records of about this size is parsed and checked at a
#: time); Parquet: rows read at a time.  Together they bound the memory of an import.
CSV_BLOCK_BYTES = 1024 * 1024
CHUNK_ROWS = 65_536
#: Problems kept for the report (the count of bad rows is always exact).
MAX_PROBLEMS = 200
KINDS = ("points", "cells")
_SUBDIR = "datasets"
_WHOLE_SUFFIXES = (".xlsx", ".xlsm", ".geojson", ".json", ".gpkg")
_PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
#: canonical columns check_hotspots uses (the others of a file are not read)
_USED = ("lon", "lat", "h3", "weight", "time", "group", "groups")
_NUMERIC = ("lon", "lat", "weight")
#: Arrow's CSV null spellings: a numeric column reads them as missing (as read_hotspots does)
_NULLS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "N/A", "NA",
          "NULL", "NaN", "n/a", "nan", "null"]
_STALE_TEMP_S = 24 * 3600


class DatasetNotFound(RegistryError):
    """No hotspot dataset has this id."""


def _schema(kind: str):  # noqa: ANN202
    import pyarrow as pa

    group = pa.dictionary(pa.int8(), pa.string())
    if kind == "cells":
        return pa.schema([("h3", pa.uint64()), ("weight", pa.float64()), ("hour", pa.int8()), ("group", group)])
    return pa.schema([("lon", pa.float64()), ("lat", pa.float64()), ("weight", pa.float64()), ("hour", pa.int8()),
                      ("group", group)])


def check_name(name: Any) -> str:
    """A dataset name stripped and checked: 1-200 characters, no control characters
    (:class:`RegistryError`, bilingual, otherwise)."""
    text = str(name if name is not None else "").strip()
    if not text:
        raise RegistryError("数据集名称不能为空 / the dataset name is empty")
    if len(text) > NAME_MAX:
        raise RegistryError(f"数据集名称过长（最多 {NAME_MAX} 个字符）/ the dataset name is too long "
                            f"(at most {NAME_MAX} characters)")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise RegistryError("数据集名称不能含控制字符（如换行、制表符）/ the dataset name must not contain control "
                            "characters (line breaks, tabs …)")
    return text


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def _file_problem(code: str, zh: str, en: str) -> ImportValidationError:
    return ImportValidationError([Problem(None, None, code, zh, en)])


# -- conversion --------------------------------------------------------------------------------------
@dataclass
class _Sink:
    """Collects the checked blocks of one file: problems (at most MAX_PROBLEMS), counts, and the good
    rows appended to a Parquet file (stopped at the first bad row unless bad rows are skipped)."""

    out: Path
    skip_bad_rows: bool
    problems: list[Problem] = field(default_factory=list)
    n_rows: int = 0
    n_bad: int = 0
    n_kept: int = 0
    kind: str | None = None
    writer: Any = None
    more: int = 0

    def add(self, checked: CheckedHotspots) -> None:
        if self.kind is None and checked.n_rows:
            self.kind = checked.kind
        self.n_rows += checked.n_rows
        self.n_bad += checked.n_bad
        for p in checked.problems:
            if p.code == "more":
                continue
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append(p)
            else:
                self.more += 1
        if self.n_bad and not self.skip_bad_rows:       # refused in the end: stop writing
            self.close()
            return
        if len(checked.frame):
            self._write(checked.frame, checked.kind)

    def _write(self, frame: pd.DataFrame, kind: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = _schema(kind)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.out, schema, compression="zstd")
        cols = []
        for name in schema.names:
            if name == "group":
                codes = frame["group"].cat.codes.to_numpy(dtype=np.int8)
                cols.append(pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()),
                                                           pa.array(GROUP_CATEGORIES, pa.string())))
            else:
                cols.append(pa.array(frame[name].to_numpy(), schema.field(name).type))
        self.writer.write_table(pa.Table.from_arrays(cols, schema=schema))
        self.n_kept += len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> None:
        """Raise the file's problems (all or nothing), or check that something was kept."""
        self.close()
        if self.n_rows == 0:
            raise _file_problem("empty", "文件没有数据行", "the file has no data rows")
        if self.n_bad and not self.skip_bad_rows:
            problems = list(self.problems)
            if self.more or self.n_bad > len(problems):
                problems.append(Problem(None, None, "more", f"共 {self.n_bad} 行有问题，以上只列出前 {len(self.problems)} 个",
                                        f"{self.n_bad} bad rows in all; only the first {len(self.problems)} "
                                        "problems are listed"))
            raise ImportValidationError(problems, n_rows=self.n_rows)
        if self.n_kept == 0:
            raise ImportValidationError(self.problems + [Problem(None, None, "no_rows", "跳过有问题的行后没有剩下任何行",
                                                                 "no rows are left once the bad rows are skipped")],
                                        n_rows=self.n_rows)


def _check_header(columns: list[str], crs: str, tz: str) -> list[str]:
    """The columns of the file that the check reads; raises the missing-column problem early."""
    from ..stations.ingest import map_columns

    names = [str(c).strip().lstrip("\ufeff") for c in columns]
    check_hotspots(pd.DataFrame({c: pd.Series([], dtype=object) for c in dict.fromkeys(names)}), crs=crs, tz=tz,
                   allow_empty=True)
    rename, _headers, _unknown = map_columns(names)
    wanted = {orig for orig, canon in rename.items() if canon in _USED}
    return [c for c, n in zip(columns, names) if n in wanted]


def _numeric(table):  # noqa: ANN001, ANN202
    """Coordinate and weight columns read as Arrow's CSV reader types them (numbers, with its null
    spellings missing) when every value parses; otherwise left as text for the check to report."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..stations.ingest import map_columns

    rename, _h, _u = map_columns([str(c).strip().lstrip("\ufeff") for c in table.column_names])
    for i, name in enumerate(table.column_names):
        canon = rename.get(str(name).strip().lstrip("\ufeff"))
        if canon not in _NUMERIC:
            continue
        col = table.column(i)
        nulls = pc.is_in(col, value_set=pa.array(_NULLS))
        try:
            as_num = pc.cast(pc.if_else(nulls, pa.scalar(None, pa.string()), col), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        table = table.set_column(i, name, as_num)
    return table


def _detect_encoding(path: Path, encoding: str) -> str:
    """The Arrow encoding name of a CSV file, from its first MB (UTF-8, GB18030 for GBK, UTF-16)."""
    from ..stations.ingest import decode_bytes

    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
        more = bool(fh.read(1))
    if (encoding or "auto").lower() == "auto" and head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    if more and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    _text, enc = decode_bytes(head, encoding)
    enc = enc.lower()
    if enc in ("gbk", "gb18030"):
        return "gb18030"
    if enc in ("utf-8", "utf-8-sig", "utf8"):
        return "utf8"
    return enc


def _remap_rows(problems: list[Problem], skipped_lines: list[int]) -> list[Problem]:
    """Row numbers of problems found after malformed rows were set aside (they are not in the
    blocks): counted again so that they name the row of the file."""
    if not skipped_lines:
        return problems
    import bisect
    from dataclasses import replace

    out = []
    for p in problems:
        if p.row is None or p.code == "malformed":
            out.append(p)
            continue
        row = p.row
        seen = 0
        while True:                       # rows set aside at or before the true row push it on
            n = bisect.bisect_right(skipped_lines, row)
            if n == seen:
                break
            row += n - seen
            seen = n
        out.append(replace(p, row=row))
    return out


def _cut(buf: bytes) -> int:
    """The index just after the last line break of ``buf`` that lies outside quotes (``buf`` starts
    at the start of a record; quotes inside quoted fields are doubled, so parity tells), or 0."""
    pos = buf.rfind(b"\n")
    if pos < 0:
        return 0
    quotes = buf.count(b'"', 0, pos)
    while pos >= 0:
        if quotes % 2 == 0:
            return pos + 1
        prev = buf.rfind(b"\n", 0, pos)
        quotes -= buf.count(b'"', prev + 1, pos)
        pos = prev
    return 0


def _utf8_pieces(path: Path, enc: str, size: int) -> Iterator[bytes]:
    """The file as UTF-8 bytes in pieces of about ``size`` bytes (cut anywhere; a UTF-8 byte-order
    mark dropped; other encodings decoded incrementally)."""
    with open(path, "rb") as fh:
        if enc == "utf8":
            first = fh.read(size)
            yield first[3:] if first.startswith(b"\xef\xbb\xbf") else first
            for block in iter(lambda: fh.read(size), b""):
                yield block
            return
        decoder = codecs.getincrementaldecoder(enc)(errors="strict")
        for block in iter(lambda: fh.read(size), b""):
            yield decoder.decode(block).encode("utf-8")
        yield decoder.decode(b"", final=True).encode("utf-8")


def _first_record_end(buf: bytes) -> int:
    """The index just after the first line break of ``buf`` outside quotes, or 0."""
    pos, quotes = -1, 0
    while True:
        nxt = buf.find(b"\n", pos + 1)
        if nxt < 0:
            return 0
        quotes += buf.count(b'"', pos + 1, nxt)
        if quotes % 2 == 0:
            return nxt + 1
        pos = nxt


def _records(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Runs of whole CSV records of about ``size`` bytes or more (a record never split, quoted
    line breaks included).  A record longer than 16 runs is refused (not a hotspot table)."""
    buf = b""
    for piece in pieces:
        buf = buf + piece if buf else piece
        if len(buf) < size:
            continue
        cut = _cut(buf)
        if cut:
            yield buf[:cut]
            buf = buf[cut:]
        elif len(buf) > 16 * size:
            raise _file_problem("csv", f"CSV 格式错误：有一行超过 {_mb(16 * size)}（引号未闭合，或不是逐行的表格）",
                                f"malformed CSV: a record longer than {_mb(16 * size)} (an unclosed quote, or not a "
                                "table of lines)")
    if buf:
        yield buf


def _convert_csv(path: Path, sink: _Sink, *, crs: str, tz: str, encoding: str) -> None:
    """Check a CSV file run by run: the file is read in pieces of :data:`CSV_BLOCK_BYTES`, cut into
    runs of whole records, and each run parsed by Arrow (as text; numbers as read_hotspots' Arrow
    reader types them) and checked; nothing reads ahead, so memory stays a few runs whatever the size."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    enc = _detect_encoding(path, encoding)
    read = pacsv.ReadOptions(use_threads=False, block_size=2 * CSV_BLOCK_BYTES + 4096)
    malformed: list[int] = []
    problems: list[Problem] = []
    prior = 0                 # data rows (good or malformed) of the runs before this one
    offset = 0                # rows handed to the check (malformed ones are not)
    header = b""

    def invalid_row(row) -> str:  # noqa: ANN001
        number = prior + int(row.number) if row.number is not None else -1
        malformed.append(number)
        if len(problems) < MAX_PROBLEMS:
            problems.append(Problem(number if number > 0 else None, None, "malformed",
                                    f"该行有 {row.actual_columns} 列，表头有 {row.expected_columns} 列",
                                    f"this row has {row.actual_columns} columns, the header {row.expected_columns}",
                                    str(row.text)[:60]))
        return "skip"

    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid_row)
    convert = None
    try:
        for run in _records(_utf8_pieces(path, enc, CSV_BLOCK_BYTES), CSV_BLOCK_BYTES):
            if convert is None:                         # the first run starts with the header
                end = _first_record_end(run)
                header, run = (run[:end], run[end:]) if end else (run + b"\n", b"")
                columns = list(pacsv.read_csv(io.BytesIO(header), read_options=read).schema.names)
                used = _check_header(columns, crs, tz)
                convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                               include_columns=used, strings_can_be_null=False)
            if not run.strip():
                continue
            before = len(malformed)
            table = pacsv.read_csv(io.BytesIO(header + run), read_options=read, parse_options=parse,
                                   convert_options=convert)
            del run
            table = _numeric(table)
            sink.add(check_hotspots(table.to_pandas(), crs=crs, tz=tz, first_row=offset, allow_empty=True))
            offset += table.num_rows
            prior += table.num_rows + len(malformed) - before
            del table
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        row = prior + 2
        if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
            shown = {"utf8": "UTF-8", "gb18030": "GBK"}.get(enc, enc.upper())
            raise _file_problem("encoding", f"第 {row} 行之后的内容不是有效的 {shown} 编码文本（文件可能混用了 UTF-8 与 GBK），"
                                "请统一另存为 UTF-8", f"the text after row {row} is not valid {shown} (the file may mix "
                                "UTF-8 and GBK); save the whole file as UTF-8") from exc
        raise _file_problem("csv", f"第 {row} 行之后 CSV 格式错误：{exc}", f"malformed CSV after row {row}: {exc}") from exc
    if convert is None:
        raise _file_problem("empty", "文件为空", "the file is empty")
    sink.n_rows += len(malformed)
    sink.n_bad += len(malformed)
    if malformed and not sink.skip_bad_rows:
        sink.close()
    numbered = sorted(n for n in malformed if n > 0)
    sink.problems = sorted(_remap_rows(sink.problems, numbered) + problems,
                           key=lambda p: (p.row is None, p.row or 0))[:MAX_PROBLEMS]


def _convert_parquet(path: Path, sink: _Sink, *, crs: str, tz: str) -> bool:
    """Stream a plain Parquet file; False for a GeoParquet file (read whole instead)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise _file_problem("unreadable", f"无法读取 Parquet 文件：{exc}", f"cannot read the Parquet file: {exc}") from exc
    with contextlib.closing(pf):
        if b"geo" in (pf.schema_arrow.metadata or {}):
            return False
        used = _check_header(list(pf.schema_arrow.names), crs, tz)
        offset = 0
        try:
            for batch in pf.iter_batches(batch_size=CHUNK_ROWS, columns=used, use_pandas_metadata=False):
                checked = check_hotspots(batch.to_pandas(), crs=crs, tz=tz, first_row=offset, allow_empty=True)
                offset += batch.num_rows
                sink.add(checked)
        except (pa.ArrowException, OSError) as exc:
            raise _file_problem("unreadable", f"第 {offset + 2} 行之后无法读取 Parquet 文件：{exc}",
                                f"cannot read the Parquet file after row {offset + 2}: {exc}") from exc
    return True


def convert(path: str | Path, out: str | Path, *, crs: str = "wgs84", skip_bad_rows: bool = False,
            tz: str = "Asia/Shanghai", encoding: str = "auto") -> dict[str, Any]:
    """Check the hotspot file ``path`` block by block and write its rows, normalised, to the Parquet
    file ``out``.  Returns ``rows`` (stored), ``skipped``, ``kind``, ``problems`` (of skipped rows).

    Raises :class:`ImportValidationError` (``out`` then removed) for a bad row unless
    ``skip_bad_rows``, and for a bad file (empty, unreadable, no coordinate columns)."""
    from ..geodata.crs import normalize_crs

    path, out = Path(path), Path(out)
    try:
        crs = normalize_crs(crs)
    except ValueError as exc:
        raise _file_problem("crs", str(exc).split(" / ")[0], str(exc).split(" / ")[-1]) from None
    suffix = path.suffix.lower()
    sink = _Sink(out, skip_bad_rows)
    try:
        streamed = True
        if suffix in _PARQUET_SUFFIXES:
            streamed = _convert_parquet(path, sink, crs=crs, tz=tz)
        elif suffix not in _WHOLE_SUFFIXES:
            _convert_csv(path, sink, crs=crs, tz=tz, encoding=encoding)
        else:
            streamed = False
        if not streamed:
            size = path.stat().st_size
            if size > WHOLE_FILE_MAX_BYTES:
                raise _file_problem("too_large", f"XLSX、GeoJSON 与 GeoParquet 文件需整个读入，最大 {_mb(WHOLE_FILE_MAX_BYTES)}"
                                    f"（此文件 {_mb(size)}）：请另存为 CSV 或 Parquet", f"XLSX, GeoJSON and GeoParquet "
                                    f"files are read whole and may be at most {_mb(WHOLE_FILE_MAX_BYTES)} (this one is "
                                    f"{_mb(size)}): save it as CSV or Parquet")
            raw = demand_mod._read_any(path, encoding)
            sink.add(check_hotspots(raw, crs=crs, tz=tz))
            del raw
        sink.finish()
    except BaseException:
        sink.close()
        out.unlink(missing_ok=True)
        raise
    return {"rows": sink.n_kept, "skipped": sink.n_bad, "kind": sink.kind or "points", "problems": sink.problems}


def read_stored(path: str | Path) -> pd.DataFrame:
    """A stored dataset file as :func:`read_hotspots` returns a frame (``group`` a categorical of
    :data:`GROUP_CATEGORIES`)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    frame = {}
    for name in table.column_names:
        col = table.column(name)
        if name == "group":
            col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            values = col.dictionary.to_pylist()
            remap = np.array([GROUP_CATEGORIES.index(v) for v in values] or [0], dtype=np.int8)
            codes = col.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            frame[name] = pd.Categorical.from_codes(remap[codes] if len(codes) else codes.astype(np.int8),
                                                    categories=GROUP_CATEGORIES)
        else:
            frame[name] = col.to_numpy()
    return pd.DataFrame(frame)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(at: datetime | None) -> str | None:
    return at.replace(microsecond=0).isoformat() + "Z" if at is not None else None


# -- the store ---------------------------------------------------------------------------------------
class DatasetStore:
    """The hotspot datasets of one home: rows in the registry database, files in ``<home>/datasets``.

    >>> store = DatasetStore(registry, home)                                   # doctest: +SKIP
    >>> store.add("orders.csv", name="2026年10月 平台订单", crs="gcj02", user="planner1")  # doctest: +SKIP
    {'id': 1, 'name': '2026年10月 平台订单', 'rows': 1843211, ...}
    """

    def __init__(self, registry: Any, home: str | Path, *, max_bytes: int | None = None,
                 tz: str = "Asia/Shanghai") -> None:
        self.registry = registry
        self.home = Path(home)
        self.dir = self.home / _SUBDIR
        self.max_bytes = int(max_bytes) if max_bytes else DEFAULT_MAX_BYTES
        self.tz = tz
        self._sweep()

    # -- files ---------------------------------------------------------------------------------
    def path(self, dataset_id: int) -> Path:
        """Where the rows of dataset ``dataset_id`` are stored (whether or not it exists)."""
        return self.dir / f"{int(dataset_id)}.parquet"

    def _sweep(self) -> None:
        """Remove temporary files of imports that died more than a day ago."""
        if not self.dir.is_dir():
            return
        cutoff = time.time() - _STALE_TEMP_S
        for p in self.dir.glob(".incoming-*"):
            with contextlib.suppress(OSError):
                if p.is_file() and p.stat().st_mtime < cutoff:
                    p.unlink()

    def _temp(self, suffix: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / f".incoming-{uuid.uuid4().hex}{suffix}"

    # -- reading -------------------------------------------------------------------------------
    @staticmethod
    def _record(row: Any) -> dict[str, Any]:
        return {"id": int(row.id), "name": row.name, "rows": int(row.rows), "skipped": int(row.skipped),
                "kind": row.kind, "crs": row.crs, "source_name": row.source_name, "bytes": int(row.bytes),
                "sha256": row.sha256, "created_at": _iso(row.created_at), "created_by": row.created_by}

    def list(self) -> list[dict[str, Any]]:
        """Every dataset, newest first: ``id``, ``name``, ``rows``, ``skipped``, ``kind``, ``crs``,
        ``source_name``, ``bytes`` (of the file as added), ``sha256`` (of the stored file),
        ``created_at`` (ISO 8601, UTC), ``created_by``."""
        from sqlalchemy import select

        from ..stations.storage import DatasetRow

        with self.registry.Session() as s:
            return [self._record(r) for r in s.scalars(select(DatasetRow).order_by(DatasetRow.id.desc()))]

    def get(self, dataset_id: Any) -> dict[str, Any] | None:
        """One dataset (as in :meth:`list`), or None."""
        from ..stations.storage import DatasetRow

        try:
            key = int(dataset_id)
        except (TypeError, ValueError):
            return None
        if not -(2**31) <= key < 2**31:
            return None
        with self.registry.Session() as s:
            row = s.get(DatasetRow, key)
            return self._record(row) if row is not None else None

    def require(self, dataset_id: Any) -> dict[str, Any]:
        """:meth:`get`, or :class:`DatasetNotFound` (bilingual)."""
        record = self.get(dataset_id)
        if record is None:
            raise DatasetNotFound(f"热点数据集不存在：{dataset_id}（yizhan datasets list 列出全部）/ no such hotspot "
                                  f"dataset: {dataset_id} (see yizhan datasets list)")
        return record

    def newest(self) -> dict[str, Any] | None:
        """The most recently added dataset, or None when there is none."""
        from sqlalchemy import select

        from ..stations.storage import DatasetRow

        with self.registry.Session() as s:
            row = s.scalar(select(DatasetRow).order_by(DatasetRow.id.desc()).limit(1))
            return self._record(row) if row is not None else None

    def hotspots(self, dataset_id: Any) -> pd.DataFrame:
        """The rows of a dataset, as :func:`~yizhan.coverage.demand.read_hotspots` returns them
        (``attrs``: ``n_rows`` read when added, ``n_skipped`` 0, ``skipped`` [], ``partitions`` 1,
        ``dataset`` the record)."""
        record = self.require(dataset_id)
        path = self.path(record["id"])
        if not path.is_file():
            raise DatasetNotFound(f"热点数据集 {record['id']}（{record['name']}）的文件不见了：{path} / the file of hotspot "
                                  f"dataset {record['id']} ({record['name']}) is missing: {path}")
        frame = read_stored(path)
        frame.attrs.update({"n_rows": record["rows"] + record["skipped"], "n_skipped": 0, "skipped": [],
                            "partitions": 1, "dataset": record})
        return frame

    def demand(self, dataset_id: Any, res: int = 9) -> DemandGrid:
        """The dataset aggregated to H3 cells at ``res`` (see :func:`~yizhan.coverage.demand.aggregate`)."""
        return demand_mod.aggregate(self.hotspots(dataset_id), res)

    def history(self, dataset_id: int | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
        """Dataset history, newest first (``before``/``after`` decoded)."""
        from sqlalchemy import select

        from ..stations.storage import DatasetHistoryRow as H

        stmt = select(H).order_by(H.id.desc()).limit(int(limit))
        if dataset_id is not None:
            stmt = stmt.where(H.dataset_id == int(dataset_id))
        with self.registry.Session() as s:
            return [{"id": h.id, "dataset_id": h.dataset_id, "action": h.action, "user": h.user, "at": _iso(h.at),
                     "note": h.note, "before": json.loads(h.before) if h.before else None,
                     "after": json.loads(h.after) if h.after else None} for h in s.scalars(stmt)]

    # -- writing -------------------------------------------------------------------------------
    @staticmethod
    def _duplicate(name: str) -> RegistryError:
        return RegistryError(f"已有同名的热点数据集：{name}，请换一个名称 / a hotspot dataset named {name!r} exists "
                             "already: choose another name")

    def _name_free(self, s: Any, name: str, *, other_than: int | None = None) -> None:
        from sqlalchemy import select

        from ..stations.storage import DatasetRow

        found = s.scalar(select(DatasetRow.id).where(DatasetRow.name == name))
        if found is not None and found != other_than:
            raise self._duplicate(name)

    def check_size(self, size: int) -> None:
        """Refuse a file above the size limit (:class:`ImportValidationError`, bilingual)."""
        if size > self.max_bytes:
            raise _file_problem("too_large", f"文件过大：{_mb(size)}，上限为 {_mb(self.max_bytes)}（设置 DATASET_MAX_BYTES）",
                                f"the file is too large: {_mb(size)}, the limit is {_mb(self.max_bytes)} "
                                "(setting DATASET_MAX_BYTES)")

    def add(self, path: str | Path, *, name: str, crs: str = "wgs84", skip_bad_rows: bool = False, user: str = "",
            source_name: str | None = None, encoding: str = "auto") -> dict[str, Any]:
        """Check the hotspot file ``path`` and keep it as a new dataset named ``name``; returns the
        record (as in :meth:`list`) with ``problems``, the problems of the rows skipped.

        All or nothing: :class:`ImportValidationError` with the per-row report for a bad file or row
        (unless ``skip_bad_rows``), :class:`RegistryError` for a bad or taken name — nothing is
        written then (no row, no file)."""
        from ..stations.storage import DatasetHistoryRow, DatasetRow

        name = check_name(name)
        path = Path(path)
        if not path.is_file():
            raise _file_problem("missing_file", f"找不到文件 {path}", f"file not found: {path}")
        size = path.stat().st_size
        self.check_size(size)
        if size == 0:
            raise _file_problem("empty", "文件为空", "the file is empty")
        with self.registry.Session() as s:
            self._name_free(s, name)                     # before the long read (checked again below)
        tmp = self._temp(".parquet")
        placed: Path | None = None
        try:
            info = convert(path, tmp, crs=crs, skip_bad_rows=skip_bad_rows, tz=self.tz, encoding=encoding)
            digest = _sha256(tmp)
            from ..geodata.crs import normalize_crs

            try:
                with self.registry.write() as s:
                    self._name_free(s, name)
                    row = DatasetRow(name=name, rows=info["rows"], skipped=info["skipped"], kind=info["kind"],
                                     crs=normalize_crs(crs), source_name=str(source_name or path.name)[:500],
                                     bytes=size, sha256=digest, created_at=_now(), created_by=str(user or "")[:64])
                    s.add(row)
                    s.flush()
                    record = self._record(row)
                    s.add(DatasetHistoryRow(dataset_id=row.id, action="add", before=None,
                                            after=json.dumps(record, ensure_ascii=False), user=record["created_by"],
                                            at=row.created_at, note=""))
                    placed = self.path(row.id)
                    os.replace(tmp, placed)              # inside the transaction: undone below if it fails
            except WriteConflict:                        # the same name added at the same moment
                raise self._duplicate(name) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            if placed is not None:
                placed.unlink(missing_ok=True)
            raise
        log.info("added hotspot dataset %s (%s): %d rows, %d skipped", record["id"], name, record["rows"],
                 record["skipped"])
        return {**record, "problems": info["problems"]}

    def add_stream(self, stream: IO[bytes], *, filename: str, name: str, crs: str = "wgs84",
                   skip_bad_rows: bool = False, user: str = "", encoding: str = "auto") -> dict[str, Any]:
        """:meth:`add` for an upload: ``stream`` is copied to a temporary file in 1 MB pieces (refused
        as soon as it passes the size limit), checked and kept; ``filename`` gives the format (its
        suffix) and the recorded ``source_name``."""
        suffix = Path(str(filename or "")).suffix.lower()[:16] or ".csv"
        name = check_name(name)
        tmp = self._temp(suffix)
        try:
            copy_limited(stream, tmp, self.max_bytes)
            return self.add(tmp, name=name, crs=crs, skip_bad_rows=skip_bad_rows, user=user,
                            source_name=Path(str(filename or "upload")).name, encoding=encoding)
        finally:
            tmp.unlink(missing_ok=True)

    def rename(self, dataset_id: Any, name: str, *, user: str = "") -> dict[str, Any]:
        """Give a dataset another name (recorded in the history); returns the record."""
        from ..stations.storage import DatasetHistoryRow, DatasetRow

        name = check_name(name)
        self.require(dataset_id)
        try:
            with self.registry.write() as s:
                row = s.get(DatasetRow, int(dataset_id), with_for_update=True)
                if row is None:
                    self.require(dataset_id)
                before = self._record(row)
                if row.name != name:
                    self._name_free(s, name, other_than=row.id)
                    row.name = name
                    s.flush()
                    after = self._record(row)
                    s.add(DatasetHistoryRow(dataset_id=row.id, action="rename",
                                            before=json.dumps(before, ensure_ascii=False),
                                            after=json.dumps(after, ensure_ascii=False), user=str(user or "")[:64],
                                            at=_now(), note=""))
                record = self._record(row)
        except WriteConflict:
            raise self._duplicate(name) from None
        return record

    def remove(self, dataset_id: Any, *, user: str = "") -> dict[str, Any]:
        """Delete a dataset and its file (recorded in the history); returns the record it had."""
        from ..stations.storage import DatasetHistoryRow, DatasetRow

        self.require(dataset_id)
        with self.registry.write() as s:
            row = s.get(DatasetRow, int(dataset_id), with_for_update=True)
            if row is None:
                self.require(dataset_id)
            record = self._record(row)
            s.delete(row)
            s.add(DatasetHistoryRow(dataset_id=record["id"], action="remove",
                                    before=json.dumps(record, ensure_ascii=False), after=None,
                                    user=str(user or "")[:64], at=_now(), note=""))
        try:
            self.path(record["id"]).unlink(missing_ok=True)
        except OSError as exc:                 # the row is gone: a left-over file is only disk space
            log.warning("could not delete %s: %s", self.path(record["id"]), exc)
        return record


def copy_limited(stream: IO[bytes], dest: str | Path, max_bytes: int) -> int:
    """Copy ``stream`` to ``dest`` in 1 MB pieces, refusing (ImportValidationError, bilingual;
    ``dest`` removed) as soon as more than ``max_bytes`` arrived; returns the bytes written."""
    dest = Path(dest)
    written = 0
    try:
        with open(dest, "wb") as fh:
            for block in iter(lambda: stream.read(1 << 20), b""):
                written += len(block)
                if written > max_bytes:
                    raise _file_problem("too_large", f"文件过大，上限为 {_mb(max_bytes)}（设置 DATASET_MAX_BYTES）",
                                        f"the file is too large: the limit is {_mb(max_bytes)} (setting "
                                        "DATASET_MAX_BYTES)")
                fh.write(block)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return written


__all__ = ["DEFAULT_MAX_BYTES", "KINDS", "WHOLE_FILE_MAX_BYTES", "DatasetNotFound", "DatasetStore", "check_name",
           "convert", "copy_limited", "read_stored"]
