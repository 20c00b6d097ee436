"""Read station (and other point) tables: CSV in UTF-8 / UTF-8-BOM / GBK / GB18030, XLSX, GeoJSON.

The reader returns every cell as text (nothing is guessed or coerced here) plus a mapping from
the file's headers to the canonical column names, accepting common Chinese headers
(名称, 类型, 地址, 经度, 纬度, 服务内容, 开放时间 …).  Problems are collected, not raised one by
one, so the user sees everything that is wrong with a file at once.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._errors import ImportValidationError, Problem

#: Canonical column -> accepted headers (compared after lower-casing and removing spaces,
#: underscores, brackets and units such as "(WGS84)").
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "站点编号", "驿站编号", "站点id", "站点代码", "code", "station_id"),
    "name": ("name", "名称", "站点名称", "驿站名称", "站名", "站点", "station", "station_name"),
    "type": ("type", "station_type", "类型", "站点类型", "驿站类型", "类别"),
    "groups": ("groups", "group", "服务对象", "服务群体", "服务人群", "劳动者群体", "worker_groups"),
    "address": ("address", "地址", "详细地址", "站点地址", "addr"),
    "adcode": ("adcode", "行政区划代码", "区划代码", "区县代码", "行政区代码"),
    "district": ("district", "区", "区县", "所在区", "所属区", "行政区", "所在区县", "adname"),
    "city": ("city", "市", "城市", "所在市", "地市", "cityname"),
    "province": ("province", "省", "省份", "pname"),
    "host": ("host", "依托", "依托单位", "依托资源", "承建单位", "载体", "场所类型", "依托场所"),
    "services": ("services", "服务内容", "服务项目", "设施", "服务设施", "配套设施", "功能"),
    "hours": ("hours", "opening_hours", "开放时间", "营业时间", "服务时间", "开放时段"),
    "capacity": ("capacity", "座位数", "容量", "可容纳人数", "座位", "seats"),
    "phone": ("phone", "电话", "联系电话", "联系方式", "tel", "telephone"),
    "status": ("status", "状态", "运营状态"),
    "source": ("source", "来源", "数据来源"),
    "updated_at": ("updated_at", "last_update", "更新时间", "更新日期", "updated"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x", "gcj_lng", "gcj_lon", "wgs_lon",
            "bd_lng", "bd_lon"),
    "lat": ("lat", "latitude", "纬度", "y", "gcj_lat", "wgs_lat", "bd_lat"),
    "crs": ("crs", "坐标系", "坐标系统", "coord_sys", "coordinate_system", "srs"),
    "precision": ("precision", "定位精度", "精度"),
    "located_status": ("located_status", "定位后状态"),
    # written by export; a geocoder's candidate is never imported (the registry keeps its own)
    "candidate": ("candidate", "候选位置"),
    "weight": ("weight", "权重", "数量", "订单数", "count", "orders"),
    "time": ("time", "时间", "timestamp", "datetime", "下单时间", "accept_time"),
    "group": ("group", "worker_group", "劳动者类型", "人群"),
    "h3": ("h3", "h3_cell", "cell", "h3索引"),
}

_HEADER_RE = re.compile(r"[\s_\-()（）\[\]【】]+|wgs84|wgs-84|gcj02|gcj-02|bd09|度")
_MAX_TEXT_BYTES = 50 * 1024 * 1024


def _header_key(text: str) -> str:
    return _HEADER_RE.sub("", str(text).strip().lower().lstrip("\ufeff"))


@dataclass
class RawTable:
    """A table read from a file: text cells, the header mapping, and file-level facts."""

    frame: pd.DataFrame                      # columns renamed to canonical names where known
    headers: dict[str, str]                  # canonical name -> header as written in the file
    unknown_columns: list[str] = field(default_factory=list)
    encoding: str = ""
    fmt: str = ""
    row_offset: int = 2                      # add to the 0-based data index to get the row number
    notes: list[str] = field(default_factory=list)   # how the file was read, for the import's warnings

    def row_numbers(self) -> pd.Index:
        """Row numbers as shown to users, aligned with ``frame``."""
        return self.frame.index + self.row_offset

    def header(self, canonical: str) -> str:
        """The header the file uses for a canonical column (the canonical name if absent)."""
        return self.headers.get(canonical, canonical)


def decode_bytes(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """Decode a text file; ``auto`` tries UTF-8 (with or without BOM), then GB18030 (GBK superset).

    Raises ImportValidationError naming the line when the bytes are not valid in the chosen
    encoding or mix encodings (some lines UTF-8, others GBK).
    """
    enc = (encoding or "auto").lower().replace("_", "-")
    if enc in ("gbk", "gb2312", "gb18030", "cp936"):
        enc = "gb18030"
    elif enc in ("utf8", "utf-8", "utf-8-sig"):
        enc = "utf-8-sig"
    elif enc != "auto":
        try:
            return data.decode(enc), enc
        except (LookupError, UnicodeDecodeError) as exc:
            raise ImportValidationError([Problem(None, None, "encoding",
                                                 f"无法按编码 {encoding} 读取文件：{exc}",
                                                 f"cannot decode the file as {encoding}: {exc}")]) from exc
    if enc == "auto" and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Excel's "Unicode text" export: UTF-16 with a byte-order mark
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ImportValidationError([Problem(None, None, "encoding", "UTF-16 文件内容损坏",
                                                 "the UTF-16 file is damaged")]) from exc
    if b"\x00" in data[:4096]:
        raise ImportValidationError([Problem(
            None, None, "binary", "文件不是文本表格（含二进制内容），请提供 CSV、XLSX 或 GeoJSON",
            "the file is not a text table (binary content); give a CSV, XLSX or GeoJSON file")])
    if enc != "auto":
        try:
            return data.decode(enc), ("gbk" if enc == "gb18030" else "utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ImportValidationError([Problem(
                line, None, "encoding", f"第 {line} 行不是有效的 {encoding} 编码文本",
                f"line {line} is not valid {encoding} text")]) from exc
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Not UTF-8 as a whole: decide line by line so a file that mixes encodings is reported
    # instead of silently turned into mojibake.
    utf8_lines: list[int] = []
    gbk_lines: list[int] = []
    bad_lines: list[int] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8_lines.append(number)
            continue
        except UnicodeDecodeError:
            pass
        try:
            line.decode("gb18030")
            gbk_lines.append(number)
        except UnicodeDecodeError:
            bad_lines.append(number)
    if bad_lines:
        problems = [Problem(n, None, "encoding", "该行既不是 UTF-8 也不是 GBK 编码文本",
                            "this line is neither UTF-8 nor GBK text") for n in bad_lines[:20]]
        raise ImportValidationError(problems)
    if utf8_lines and gbk_lines:
        minority = gbk_lines if len(gbk_lines) <= len(utf8_lines) else utf8_lines
        name = "GBK" if minority is gbk_lines else "UTF-8"
        problems = [Problem(n, None, "mixed_encoding",
                            f"文件混用了 UTF-8 与 GBK 编码：本行为 {name}，请统一另存为 UTF-8",
                            f"the file mixes UTF-8 and GBK: this line is {name}; save the whole file "
                            "as UTF-8") for n in minority[:20]]
        raise ImportValidationError(problems)
    return data.decode("gb18030"), "gbk"


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def map_columns(columns: list[str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Map file headers to canonical names.

    Returns ``(rename, headers, unknown)``: ``rename`` maps file header -> canonical name for
    ``DataFrame.rename``, ``headers`` maps canonical -> file header, ``unknown`` lists headers
    that mean nothing to yizhan (they are ignored).
    """
    lookup: dict[str, str] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            lookup.setdefault(_header_key(alias), canonical)
    rename: dict[str, str] = {}
    headers: dict[str, str] = {}
    unknown: list[str] = []
    for col in columns:
        canonical = lookup.get(_header_key(col))
        if canonical and canonical not in headers:
            rename[col] = canonical
            headers[canonical] = str(col)
        else:
            unknown.append(str(col))
    return rename, headers, unknown


_MANGLED_RE = re.compile(r"^(.*)\.(\d+)$")


def _finish(frame: pd.DataFrame, *, encoding: str, fmt: str, row_offset: int) -> RawTable:
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    names = set(frame.columns)
    # pandas renames a repeated header "经度" to "经度.1": report those as duplicates too
    duplicated = frame.columns[frame.columns.duplicated()].tolist() + [
        m.group(1) for c in frame.columns if (m := _MANGLED_RE.match(c)) and m.group(1) in names]
    if duplicated:
        raise ImportValidationError([Problem(None, c, "duplicate_column", "表头重复", "duplicate header")
                                     for c in duplicated])
    rename, headers, unknown = map_columns(list(frame.columns))
    frame = frame[[c for c in frame.columns if c in rename]].rename(columns=rename)
    frame = frame.fillna("").astype(str)
    frame = frame.reset_index(drop=True)
    return RawTable(frame, headers, unknown, encoding, fmt, row_offset)


def read_table(path: str | Path, *, encoding: str = "auto", max_bytes: int = _MAX_TEXT_BYTES) -> RawTable:
    """Read a CSV/TSV, XLSX or GeoJSON file into a :class:`RawTable` of text cells.

    Raises ImportValidationError for unreadable files (empty, binary, bad encoding, no header).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImportValidationError([Problem(None, None, "missing_file", f"找不到文件 {path}",
                                             f"file not found: {path}")])
    size = path.stat().st_size
    if size == 0:
        raise ImportValidationError([Problem(None, None, "empty", "文件为空", "the file is empty")])
    if size > max_bytes:
        raise ImportValidationError([Problem(
            None, None, "too_large", f"文件过大（{size} 字节，上限 {max_bytes}）",
            f"the file is too large ({size} bytes, limit {max_bytes})")])
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    if suffix == ".xls":
        raise ImportValidationError([Problem(None, None, "format", "不支持旧版 .xls 文件，请另存为 .xlsx 或 CSV",
                                             "old .xls files are not supported; save as .xlsx or CSV")])
    data = path.read_bytes()
    if suffix in (".geojson", ".json"):
        return read_geojson_bytes(data)
    return read_csv_bytes(data, encoding=encoding)


def read_csv_bytes(data: bytes, *, encoding: str = "auto") -> RawTable:
    """Parse CSV bytes (delimiter sniffed among , ; tab |) into a :class:`RawTable`."""
    text, used = decode_bytes(data, encoding)
    if not text.strip():
        raise ImportValidationError([Problem(None, None, "empty", "文件没有内容", "the file has no content")])
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            sep=_sniff_delimiter(text), skipinitialspace=True, engine="python")
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        lenient = None if "field larger than field limit" in str(exc) else _read_csv_leniently(text)
        if lenient is not None:
            table = _finish(lenient, encoding=used, fmt="csv", row_offset=2)
            table.notes.append("部分单元格的引号不规范（如 \"…\" 后还有文字），已按 Excel 的方式读取 / some cells have "
                               "stray quotes (text after a closing quote); read them as Excel does")
            return table
        if "field larger than field limit" in str(exc):
            limit = csv.field_size_limit()
            row = next((i for i, line in enumerate(text.split("\n"), start=1) if len(line) > limit), None)
            raise ImportValidationError([Problem(row, None, "too_long", f"单元格内容过长（超过 {limit} 个字符）",
                                                 f"a cell is longer than {limit} characters")]) from exc
        raise ImportValidationError([Problem(None, None, "csv", f"CSV 格式错误：{exc}",
                                             f"malformed CSV: {exc}")]) from exc
    return _finish(frame, encoding=used, fmt="csv", row_offset=2)


def _read_csv_leniently(text: str) -> pd.DataFrame | None:
    """Read CSV the way Excel does when a quoted field goes on after its closing quote
    (``"工会小站" breakfast``): Python's csv module in its default, non-strict mode keeps such text
    (pandas' python engine refuses the whole file).  None when the rows do not all have the
    header's number of fields (then the strict error is the better message)."""
    rows = list(csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(text), skipinitialspace=True))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if len(rows) < 2 or any(len(r) != len(rows[0]) for r in rows[1:] if any(c.strip() for c in r)):
        return None
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    return pd.DataFrame(body, columns=rows[0], dtype=object)


def read_xlsx(path: str | Path) -> RawTable:
    """Read the first sheet of an XLSX workbook as text cells."""
    try:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise ImportValidationError([Problem(None, None, "xlsx", f"无法读取 XLSX 文件：{exc}",
                                             f"cannot read the XLSX file: {exc}")]) from exc
    return _finish(frame, encoding="", fmt="xlsx", row_offset=2)


def read_geojson_bytes(data: bytes) -> RawTable:
    """Read a GeoJSON FeatureCollection of Points; properties become columns, lon/lat from geometry."""
    text, _ = decode_bytes(data, "auto")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportValidationError([Problem(exc.lineno, None, "json", f"GeoJSON 格式错误：{exc.msg}",
                                             f"malformed GeoJSON: {exc.msg}")]) from exc
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise ImportValidationError([Problem(None, None, "geojson", "不是 GeoJSON FeatureCollection",
                                             "not a GeoJSON FeatureCollection")])
    rows: list[dict[str, object]] = []
    problems: list[Problem] = []
    for number, feature in enumerate(doc["features"], start=1):
        props = dict((feature or {}).get("properties") or {}) if isinstance(feature, dict) else {}
        geom = feature.get("geometry") if isinstance(feature, dict) else None
        if isinstance(feature, dict) and "id" in feature and "id" not in props:
            props["id"] = feature["id"]
        lon = lat = ""
        if not geom:
            pass  # validation reports the missing coordinates with the row number
        elif geom.get("type") != "Point" or not isinstance(geom.get("coordinates"), list) \
                or len(geom["coordinates"]) < 2:
            problems.append(Problem(number, "geometry", "geometry", "几何类型必须是点（Point）",
                                    "geometry must be a Point", str(geom.get("type"))))
        else:
            lon, lat = geom["coordinates"][0], geom["coordinates"][1]
        props = {k: ("" if v is None else "、".join(map(str, v)) if isinstance(v, list)
                     else json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v)
                 for k, v in props.items()}
        props["经度" if "经度" in props else "lon"] = lon
        props["纬度" if "纬度" in props else "lat"] = lat
        rows.append(props)
    if problems:
        raise ImportValidationError(problems)
    if not rows:
        raise ImportValidationError([Problem(None, None, "empty", "GeoJSON 中没有要素",
                                             "the GeoJSON has no features")])
    frame = pd.DataFrame(rows).astype(object)
    return _finish(frame, encoding="utf-8", fmt="geojson", row_offset=1)
