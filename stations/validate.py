"""Validate and normalise a station table into a registry frame, collecting every problem.

Checks (each reported with row, column and a Chinese + English message): required fields,
missing/NaN/inf/non-numeric coordinates, latitude and longitude swapped, coordinates outside
mainland China (or far out at sea), coordinates far from the stated district, unknown station
type / worker group / status, bad opening hours, bad capacity or date, duplicate ids, and the same
station twice within a few metres (inside the file or against the registry).

Everything is vectorised over columns; Python only loops over the rows that have a problem.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..geodata import crs as crs_mod
from ..geodata.sphere import chord_to_m, m_to_chord, unit_vectors
from . import model
from ._errors import ImportValidationError, Problem
from .hours import HoursError, OpeningHours
from .ingest import RawTable

_TEXT_LIMITS = {"name": 200, "address": 500, "host": 100, "services": 500, "phone": 100,
                "source": 500, "id": 64, "hours": 300, "groups": 200}
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PHONE_RE = re.compile(r"^[0-9+\-()（）\s,，、/转#*]*$")


@dataclass
class PreparedStations:
    """Result of :func:`prepare_stations`: the rows to write and the rows skipped."""

    frame: pd.DataFrame                    # canonical registry columns, only good rows
    skipped: list[Problem] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_input: int = 0


def _station_id(name: str, lon: float, lat: float) -> str:
    digest = hashlib.sha1(f"{name}|{lon:.6f}|{lat:.6f}".encode()).hexdigest()
    return "ST" + digest[:10].upper()


def _waiting_id(name: str, address: str, district: str) -> str:
    """Id of a station given without coordinates: from its name, address and district."""
    digest = hashlib.sha1(f"{name}|{address}|{district}|waiting".encode()).hexdigest()
    return "ST" + digest[:10].upper()


_CRS_TOKENS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gcj02", ("gcj", "高德", "腾讯", "amap", "gaode", "tencent", "火星", "qq")),
    ("bd09", ("bd09", "bd-09", "bd_09", "百度", "baidu")),
    ("wgs84", ("wgs", "gps", "4326", "cgcs", "4490", "天地图", "tianditu", "2000国家")),
)


def row_crs(text: str) -> str | None:
    """The coordinate system a per-row ``crs`` cell names (``GCJ-02 (Tencent map SDK; assumed)``,
    ``百度``, ``CGCS2000`` …): wgs84, gcj02 or bd09; "" for an empty cell; None when it names
    none or several of them.  CGCS2000 (天地图) is taken as WGS-84: the two differ by centimetres
    to under a metre."""
    key = str(text).strip().lower()
    if not key:
        return ""
    found = {name for name, tokens in _CRS_TOKENS if any(t in key for t in tokens)}
    return found.pop() if len(found) == 1 else None


_DISTRICT_NOTE_RE = re.compile(r"[（(][^）)]*[）)]")


class _Collector:
    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self.rows = raw.row_numbers().to_numpy()
        self.problems: list[Problem] = []
        self.bad = np.zeros(len(raw.frame), dtype=bool)

    def add(self, mask: np.ndarray, column: str, code: str, zh: str, en: str,
            values: pd.Series | None = None) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        self.bad[idx] = True
        header = self.raw.header(column) if column else None
        for i in idx:
            value = "" if values is None else str(values.iloc[i])
            self.problems.append(Problem(int(self.rows[i]), header, code, zh, en, value[:80]))

    def add_one(self, i: int, column: str | None, code: str, zh: str, en: str, value: str = "") -> None:
        self.bad[i] = True
        header = self.raw.header(column) if column else None
        self.problems.append(Problem(int(self.rows[i]), header, code, zh, en, value[:80]))


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[column].fillna("").astype(str).str.strip()


def _map_unique(values: pd.Series, func) -> pd.Series:
    codes, uniques = pd.factorize(values, sort=False)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def validate_table(
    raw: RawTable,
    *,
    crs: str = "wgs84",
    existing: pd.DataFrame | None = None,
    duplicate_radius_m: float = 5.0,
    district_tolerance_m: float = 2000.0,
    mainland_buffer_m: float = 3000.0,
    now: datetime | None = None,
) -> tuple[pd.DataFrame, list[Problem], np.ndarray]:
    """Normalise and check a raw station table.

    Returns ``(frame, problems, bad)``: the canonical frame (one row per input row, in order,
    coordinates converted from ``crs`` to WGS-84), every problem found, and a boolean mask of
    the rows that have at least one problem.  ``existing`` is the current registry frame, used to
    find stations already registered a few metres away under another id.
    """
    from ..geodata import boundaries  # lazy: shapely/geopandas only when validating

    crs_name = crs_mod.normalize_crs(crs)
    f = raw.frame
    n = len(f)
    col = _Collector(raw)
    out = pd.DataFrame(index=f.index)

    for required in ("name", "type"):
        if required not in f:
            col.problems.append(Problem(None, None, "missing_column",
                                        f"缺少必需的列：{required}（可用中文表头，如 名称、类型）",
                                        f"missing required column: {required}"))
    if "lon" not in f or "lat" not in f:
        seen = "、".join(list(raw.headers.values()) + raw.unknown_columns) or "（无）"
        col.problems.append(Problem(None, None, "missing_column",
                                    f"缺少坐标列：需要 经度/纬度（或 lon/lat）。文件中的列：{seen}",
                                    f"missing coordinate columns: need lon/lat (经度/纬度). Columns "
                                    f"found: {seen}"))
    if col.problems:
        raise ImportValidationError(col.problems, n_rows=n)
    if n == 0:
        raise ImportValidationError([Problem(None, None, "empty", "文件没有数据行", "the file has no data rows")])

    # -- text fields -----------------------------------------------------------------------
    texts = {c: _text(f, c) for c in ("id", "name", "type", "groups", "address", "adcode", "district",
                                       "city", "province", "host", "services", "hours", "capacity", "phone",
                                       "status", "source", "updated_at")}
    for c, limit in _TEXT_LIMITS.items():
        s = texts[c]
        col.add((s.str.len() > limit).to_numpy(), c, "too_long", f"内容过长（超过 {limit} 个字符）",
                f"text too long (more than {limit} characters)")
        col.add(s.str.contains(_CONTROL_RE).to_numpy(), c, "control_chars", "含有不可见的控制字符",
                "contains control characters", s)
    col.add((texts["name"] == "").to_numpy(), "name", "missing", "缺少站点名称", "missing station name")

    stype = _map_unique(texts["type"], model.normalize_type)
    col.add((texts["type"] == "").to_numpy(), "type", "missing", "缺少站点类型", "missing station type")
    col.add(((texts["type"] != "") & stype.isna()).to_numpy(), "type", "unknown_type",
            f"未知站点类型，可选：{'、'.join(model.STATION_TYPES)}",
            "unknown station type; expected one of " + ", ".join(model.STATION_TYPES), texts["type"])

    groups_pair = _map_unique(texts["groups"], model.normalize_groups)
    groups = groups_pair.map(lambda p: p[0] if p else "")
    unknown_groups = groups_pair.map(lambda p: bool(p and p[1]))
    col.add(unknown_groups.to_numpy(), "groups", "unknown_group",
            f"未知劳动者群体，可选：{'、'.join(model.GROUPS)}",
            "unknown worker group; expected " + ", ".join(model.GROUPS_EN.values()), texts["groups"])
    default_groups = stype.map(lambda t: model.SEP.join(model.DEFAULT_GROUPS_BY_TYPE.get(t, ())) if t else "")
    out["groups"] = np.where(groups == "", default_groups.fillna(""), groups)

    status = _map_unique(texts["status"], model.normalize_status)
    col.add(status.isna().to_numpy(), "status", "unknown_status", "未知状态，可选：在运营、筹建中、停用、待定位",
            "unknown status; expected 在运营 (in service), 筹建中 (planned), 停用 (closed) or 待定位 (waiting for "
            "a location)", texts["status"])
    later = _text(f, "located_status")
    located_status = _map_unique(later, model.normalize_status)
    col.add((located_status.isna() | (located_status == model.STATUS_WAITING)).to_numpy() & (later != "").to_numpy(),
            "located_status", "unknown_status", "定位后状态应为 在运营、筹建中 或 停用",
            "the status once located must be 在运营, 筹建中 or 停用", later)
    precision = _text(f, "precision").str.lower()
    col.add((~precision.isin(("",) + model.PRECISIONS)).to_numpy(), "precision", "bad_precision",
            f"定位精度应为 {'、'.join(model.PRECISIONS)} 之一或留空",
            f"precision must be one of {', '.join(model.PRECISIONS)} or empty", precision)

    def _hours(text: str) -> str | HoursError:
        if not text:
            return ""
        try:
            return OpeningHours.parse(text).canonical
        except HoursError as exc:
            return exc

    hours = _map_unique(texts["hours"], _hours)
    bad_hours = hours.map(lambda h: isinstance(h, HoursError)).to_numpy()
    for i in np.flatnonzero(bad_hours):
        err = hours.iloc[i]
        col.add_one(i, "hours", "bad_hours", f"开放时间格式错误：{err}", "bad opening hours (see message)",
                    texts["hours"].iloc[i])
    out["hours"] = hours.where(~bad_hours, "")

    cap_text = texts["capacity"].str.replace(r"\s*(人|个|座|seats?)$", "", regex=True)
    capacity = pd.to_numeric(cap_text, errors="coerce")
    bad_cap = (cap_text != "") & (capacity.isna() | (capacity < 0) | (capacity % 1 != 0) | (capacity > 100000))
    col.add(bad_cap.to_numpy(), "capacity", "bad_capacity", "座位数应为非负整数",
            "capacity must be a whole number of seats, 0 or more", texts["capacity"])
    out["capacity"] = capacity.where(~bad_cap).astype("Int64")

    col.add((~texts["phone"].str.match(_PHONE_RE)).to_numpy(), "phone", "bad_phone",
            "电话号码含有无效字符", "phone number has invalid characters", texts["phone"])

    now = now or datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
    upd_txt = texts["updated_at"]
    try:
        upd = pd.to_datetime(upd_txt.where(upd_txt != ""), errors="coerce", format="mixed")
    except (ValueError, TypeError):  # mixed time zones: normalise to UTC
        upd = pd.to_datetime(upd_txt.where(upd_txt != ""), errors="coerce", format="mixed", utc=True)
    col.add(((upd_txt != "") & upd.isna()).to_numpy(), "updated_at", "bad_date",
            "无法识别的日期", "unrecognised date", upd_txt)
    out["updated_at"] = upd.dt.strftime("%Y-%m-%dT%H:%M:%S").fillna(now.strftime("%Y-%m-%dT%H:%M:%S"))

    # -- coordinates -------------------------------------------------------------------------
    lon_txt = _text(f, "lon").str.normalize("NFKC").str.replace("°", "", regex=False)
    lat_txt = _text(f, "lat").str.normalize("NFKC").str.replace("°", "", regex=False)
    lon = pd.to_numeric(lon_txt, errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(lat_txt, errors="coerce").to_numpy(dtype=float)
    missing = ((lon_txt == "") | (lat_txt == "")).to_numpy()
    # both coordinates empty: a station known by name and address, waiting for a location
    waiting = ((lon_txt == "") & (lat_txt == "")).to_numpy()
    for name, txt, arr in (("lon", lon_txt, lon), ("lat", lat_txt, lat)):
        empty = (txt == "").to_numpy()
        col.add(empty & ~waiting, name, "missing_coord", "缺少坐标（经度和纬度要么都填，要么都留空表示待定位）",
                "missing coordinate (give both lon and lat, or leave both empty: the station then waits for a "
                "location)")
        is_nan_word = txt.str.lower().isin(["nan", "na", "n/a", "null", "none", "-nan"]).to_numpy()
        col.add(~empty & is_nan_word, name, "nan_coord", "坐标为 NaN（空值）", "coordinate is NaN", txt)
        col.add(~empty & ~is_nan_word & np.isnan(arr), name, "not_number", "坐标不是数字",
                "coordinate is not a number", txt)
        col.add(np.isinf(arr), name, "inf_coord", "坐标为无穷大", "coordinate is infinite", txt)
    finite = np.isfinite(lon) & np.isfinite(lat)
    out_of_range = finite & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    swapped = finite & (lat >= 73) & (lat <= 136) & (lon >= 3) & (lon <= 54)
    col.add(swapped, "lat", "swapped", "经度和纬度可能填反了（纬度值像经度）",
            "latitude and longitude look swapped (the latitude looks like a longitude)",
            pd.Series(lat, index=f.index))
    col.add(out_of_range & ~swapped, "lon", "out_of_range", "坐标超出范围（经度 ±180，纬度 ±90）",
            "coordinate out of range (lon ±180, lat ±90)", pd.Series(lon, index=f.index))
    usable = finite & ~out_of_range & ~swapped & ~missing
    # a per-row coordinate system (a crs / 坐标系 column) wins over the file's default
    row_crs_txt = _text(f, "crs")
    per_row = _map_unique(row_crs_txt, row_crs)
    col.add((per_row.isna().to_numpy() & ~waiting), "crs", "unknown_crs",
            "无法识别的坐标系，应为 WGS-84、GCJ-02（高德/腾讯）或 BD-09（百度）",
            "unrecognised coordinate system; expected WGS-84, GCJ-02 (Amap/Tencent) or BD-09 (Baidu)", row_crs_txt)
    crs_of_row = per_row.where(per_row.fillna("") != "", crs_name).fillna(crs_name).to_numpy(dtype=object)
    usable &= per_row.notna().to_numpy()
    wlon = np.full(n, np.nan)
    wlat = np.full(n, np.nan)
    for system in pd.unique(crs_of_row[usable]):
        rows = usable & (crs_of_row == system)
        wlon[rows], wlat[rows] = crs_mod.to_wgs84(lon[rows], lat[rows], str(system))
    if usable.any():
        inside = np.zeros(n, dtype=bool)
        inside[usable] = boundaries.in_mainland_china(wlon[usable], wlat[usable], buffer_m=mainland_buffer_m)
        col.add(usable & ~inside, "lon", "outside_china",
                "坐标不在中国大陆境内（或位于海上），请检查经纬度和坐标系",
                "coordinates are outside mainland China (or at sea); check lon/lat and the coordinate system",
                pd.Series([f"{a:.6f}, {b:.6f}" for a, b in zip(lon, lat)], index=f.index))
        usable &= inside
    out["lon"], out["lat"] = wlon, wlat
    out["orig_lon"], out["orig_lat"] = np.where(finite, lon, np.nan), np.where(finite, lat, np.nan)
    out["orig_crs"] = np.where(waiting, "", crs_of_row)
    stated_waiting = (status == model.STATUS_WAITING).to_numpy()
    col.add(stated_waiting & ~waiting, "status", "located_but_waiting",
            "状态为“待定位”却填了坐标：请留空经纬度，或改为在运营/筹建中/停用",
            "status 待定位 (waiting for a location) but coordinates are given: leave lon/lat empty or give "
            "another status", texts["status"])

    # -- district ----------------------------------------------------------------------------
    adcode = texts["adcode"].str.replace(r"\.0$", "", regex=True)
    col.add(((adcode != "") & ~adcode.str.fullmatch(r"\d{6}")).to_numpy(), "adcode", "bad_adcode",
            "行政区划代码应为 6 位数字", "adcode must be 6 digits", adcode)
    by_name = pd.Series("", index=f.index, dtype=object)
    # a district cell may name a town after the county (都昌县/中馆镇) or carry a note in brackets
    district_txt = (texts["district"].str.replace(_DISTRICT_NOTE_RE, "", regex=True)
                    .str.split(r"[/／]", n=1, regex=True).str[0].str.strip())
    named = (adcode == "") & (district_txt != "")
    if named.any():
        key = (district_txt.where(named, "") + "|" + texts["city"].where(named, "") + "|"
               + texts["province"].where(named, ""))

        def _lookup(k: str) -> tuple[str, ...]:
            district, city, province = k.split("|", 2)
            return tuple(sorted(boundaries.lookup_adcodes(district, city=city or None, province=province or None)))

        candidates = _map_unique(key, _lookup)
        by_name[:] = [c[0] if c and len(c) == 1 else "" for c in candidates]
        # a name several units share (朝阳区: Beijing and Changchun) with no city to tell them
        # apart: the one nearest the station's location (one distance call per name and unit)
        several = (named & candidates.map(lambda c: bool(c) and len(c) > 1)).to_numpy() & usable
        for k in pd.unique(key[several]):
            rows = np.flatnonzero(several & (key == k).to_numpy())
            codes = candidates.iloc[rows[0]]
            dist = np.stack([boundaries.distance_to_district_m(wlon[rows], wlat[rows], c) for c in codes])
            by_name.iloc[rows] = np.asarray(codes, dtype=object)[np.nanargmin(np.nan_to_num(dist, nan=np.inf), axis=0)]
    # a waiting station has no location to find its district from: an unknown district name (a
    # new area such as 松山湖 or 大鹏新区, a town) falls back to the city, with a warning
    unresolved = waiting & (adcode == "").to_numpy() & (by_name == "").to_numpy()
    if unresolved.any():
        city_key = texts["city"].where(unresolved, "") + "|" + texts["province"].where(unresolved, "")

        def _city(k: str) -> str:
            city, province = k.split("|", 1)
            codes = boundaries.lookup_adcodes(city, province=province or None) if city else frozenset()
            return next(iter(codes)) if len(codes) == 1 else ""

        by_city = _map_unique(city_key, _city).fillna("").to_numpy(dtype=object)
        for i in np.flatnonzero(unresolved):
            given = texts["district"].iloc[i]
            if by_city[i] and not given:
                raw.notes.append(f"第 {col.rows[i]} 行：没有填写区县，暂按所在城市（{boundaries.name_of(by_city[i])}，"
                                 f"{by_city[i]}）登记 / row {col.rows[i]}: no district given, filed under its city "
                                 f"{by_city[i]}")
            elif by_city[i]:
                raw.notes.append(f"第 {col.rows[i]} 行：未能识别区县“{given}”，暂按所在城市"
                                 f"（{boundaries.name_of(by_city[i])}，{by_city[i]}）登记 / row {col.rows[i]}: "
                                 f"district {given!r} not recognised, filed under its city {by_city[i]}")
            else:
                raw.notes.append(f"第 {col.rows[i]} 行：未能识别所在行政区，定位前不属于任何区工会 / row "
                                 f"{col.rows[i]}: no known district; it belongs to no district union until located")
        by_name = np.where(unresolved, by_city, by_name)
    stated = np.where(adcode != "", adcode, by_name).astype(object)
    check = usable & (stated != "") & (adcode.str.fullmatch(r"\d{6}") | (adcode == "")).to_numpy()
    if check.any():
        dist = np.full(n, np.nan)
        dist[check] = boundaries.distance_to_district_m(wlon[check], wlat[check], stated[check])
        far = check & np.isfinite(dist) & (dist > district_tolerance_m)
        column = "adcode" if "adcode" in raw.headers else "district"
        for i in np.flatnonzero(far):
            name = boundaries.name_of(str(stated[i])) or stated[i]
            col.add_one(i, column, "far_from_district",
                        f"坐标距所填行政区（{name}）{dist[i] / 1000:.1f} 公里，超出允许的 "
                        f"{district_tolerance_m / 1000:.1f} 公里，请检查坐标或行政区",
                        f"coordinates are {dist[i] / 1000:.1f} km from the stated district ({stated[i]}), "
                        f"more than the {district_tolerance_m / 1000:.1f} km allowed")
    located = np.full(n, "", dtype=object)
    if usable.any():
        located[usable] = boundaries.district_of(wlon[usable], wlat[usable])
    out["adcode"] = np.where(stated != "", stated, located)

    # -- ids and duplicates ---------------------------------------------------------------------
    ids = texts["id"].str.replace(r"\.0$", "", regex=True)
    gen = list(ids)
    if (ids == "").any():
        # a station registered while waiting keeps its id when a later file gives its coordinates
        waiting_ids: dict[tuple[str, str], str] = {}
        if existing is not None and len(existing):
            ex = existing[existing["status"] == model.STATUS_WAITING]
            waiting_ids = {(str(a), str(b)): str(i) for i, a, b in zip(ex["id"], ex["name"], ex["address"])}
        for k, (i, nm, addr, a, b) in enumerate(zip(ids, texts["name"], texts["address"], wlon, wlat)):
            if i:
                continue
            if waiting[k]:
                gen[k] = _waiting_id(nm, addr, str(stated[k]) or texts["district"].iloc[k])
            elif np.isfinite(a) and np.isfinite(b):
                gen[k] = waiting_ids.get((nm, addr)) or _station_id(nm, a, b)
    out["id"] = gen
    dup = pd.Series(gen, index=f.index).duplicated(keep="first").to_numpy() & (pd.Series(gen) != "").to_numpy()
    if dup.any():
        first_row = {}
        for i, sid in enumerate(gen):
            first_row.setdefault(sid, int(col.rows[i]))
        for i in np.flatnonzero(dup):
            col.add_one(i, "id" if "id" in raw.headers else "name", "duplicate_id",
                        f"编号重复（与第 {first_row[gen[i]]} 行相同）",
                        f"duplicate id (same as row {first_row[gen[i]]})", gen[i])

    if usable.sum() > 1 or (existing is not None and len(existing) and usable.any()):
        from scipy.spatial import cKDTree

        idx = np.flatnonzero(usable)
        vec = unit_vectors(wlon[idx], wlat[idx])
        radius = m_to_chord(duplicate_radius_m)
        if len(idx) > 1:
            pairs = cKDTree(vec).query_pairs(radius, output_type="ndarray")
            for a, b in sorted(map(tuple, pairs), key=lambda p: (max(p), min(p))):
                i, j = idx[min(a, b)], idx[max(a, b)]
                d = float(chord_to_m(np.linalg.norm(vec[a] - vec[b])))
                col.add_one(j, "lon", "near_duplicate",
                            f"与第 {col.rows[i]} 行的站点仅相距 {d:.1f} 米，疑似同一站点重复录入",
                            f"only {d:.1f} m from the station in row {col.rows[i]}: the same station twice?")
        if existing is not None and len(existing):
            ex = existing[np.isfinite(existing["lon"]) & np.isfinite(existing["lat"])]
            if len(ex):
                tree = cKDTree(unit_vectors(ex["lon"].to_numpy(), ex["lat"].to_numpy()))
                hits = tree.query_ball_point(vec, radius)
                ex_ids = ex["id"].astype(str).to_numpy()
                ex_names = ex["name"].astype(str).to_numpy()
                for k, found in enumerate(hits):
                    others = [h for h in found if ex_ids[h] != gen[idx[k]]]
                    if others:
                        h = others[0]
                        col.add_one(idx[k], "lon", "near_existing",
                                    f"与已登记的站点“{ex_names[h]}”（{ex_ids[h]}）相距不足 "
                                    f"{duplicate_radius_m:g} 米，疑似重复",
                                    f"within {duplicate_radius_m:g} m of registered station {ex_ids[h]} "
                                    f"({ex_names[h]}): a duplicate?")

    out["name"] = texts["name"]
    out["type"] = stype.fillna("")
    out["address"] = texts["address"]
    out["host"] = _map_unique(texts["host"], model.normalize_host).fillna("")
    out["services"] = _map_unique(texts["services"], model.normalize_services).fillna("")
    out["phone"] = texts["phone"]
    stated_status = status.fillna("").to_numpy(dtype=object)
    later_status = located_status.fillna("").where(later != "", "").to_numpy(dtype=object)
    out["status"] = np.where(waiting, model.STATUS_WAITING, stated_status)
    out["located_status"] = np.where(
        waiting, np.where(later_status != "", later_status,
                          np.where(stated_status == model.STATUS_WAITING, "在运营", stated_status)), "")
    out["precision"] = np.where(waiting, "", precision.to_numpy(dtype=object))
    out["candidate"] = ""
    out["source"] = texts["source"]
    problems = sorted(col.problems, key=lambda p: (p.row or 0))
    return out[list(model.COLUMNS)], problems, col.bad


def prepare_stations(
    raw: RawTable,
    *,
    crs: str = "wgs84",
    existing: pd.DataFrame | None = None,
    skip_bad_rows: bool = False,
    source: str = "",
    **options: float,
) -> PreparedStations:
    """Validate a raw table for import.

    All-or-nothing: raises :class:`ImportValidationError` listing every problem unless
    ``skip_bad_rows`` is true, in which case the rows with problems are dropped and listed in
    ``skipped``.  ``source`` fills empty ``source`` cells (e.g. the file name); pass it to
    :meth:`Registry.import_frame` instead to keep the recorded source of stations already registered.
    """
    frame, problems, bad = validate_table(raw, crs=crs, existing=existing, **options)
    file_level = [p for p in problems if p.row is None]
    if file_level or (problems and not skip_bad_rows):
        raise ImportValidationError(problems, n_rows=len(frame))
    if source:
        frame["source"] = frame["source"].where(frame["source"] != "", source)
    good = frame[~bad].reset_index(drop=True)
    skipped_rows = sorted({p.row for p in problems if p.row is not None})
    warnings = []
    if raw.unknown_columns:
        warnings.append("忽略未识别的列 / ignored unknown columns: " + "、".join(raw.unknown_columns))
    warnings += raw.notes
    if len(good) == 0:
        raise ImportValidationError(problems + [Problem(None, None, "no_rows", "没有可导入的有效行",
                                                        "no valid rows to import")], n_rows=len(frame))
    return PreparedStations(good, problems, skipped_rows, warnings, n_input=len(frame))


def prepare_record(
    values: dict[str, object],
    *,
    crs: str = "wgs84",
    existing: pd.DataFrame | None = None,
    **options: float,
) -> dict[str, object]:
    """Validate one station given as a dict of canonical fields (the web form and API) by the same
    rules as a file import; returns the registry row as a dict.

    List values (groups, services) may be lists or text.  Raises :class:`ImportValidationError`
    whose problems name the field (``column``) that is wrong.
    """
    cells = {}
    for key, value in values.items():
        if value is None:
            value = ""
        elif isinstance(value, (list, tuple)):
            value = model.SEP.join(str(v) for v in value)
        cells[key] = str(value)
    raw = RawTable(pd.DataFrame([cells], dtype=str), {k: k for k in cells}, row_offset=1)
    frame = prepare_stations(raw, crs=crs, existing=existing, **options).frame
    row = frame.iloc[0].to_dict()
    return {k: (None if v is pd.NA or (isinstance(v, float) and not np.isfinite(v)) else
                int(v) if isinstance(v, np.integer) else float(v) if isinstance(v, np.floating) else v)
            for k, v in row.items()}
