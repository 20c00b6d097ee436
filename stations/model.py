"""The station model: vocabularies (types, worker groups, hosts, services, status) and columns.

A station registry frame (pandas DataFrame) has the columns in :data:`COLUMNS`; list-valued
fields (``groups``, ``services``) are stored as strings joined with ``、`` in canonical order so the
frame exports to CSV/XLSX unchanged.  Coordinates ``lon``/``lat`` are WGS-84 degrees; the values
as given by the user are kept in ``orig_lon``/``orig_lat`` with their system in ``orig_crs``.

Vocabulary
----------
Spellings are compared after removing spaces, brackets, quotes and Chinese punctuation (so
``“会、站、家”一体化`` and ``会站家一体化`` are the same key); every alias maps to exactly one
canonical value, and list fields are written in the canonical order of :data:`SERVICES` /
:data:`GROUPS`.  Decisions taken for the Guangdong (粤工总〔2021〕29号) and Qinghai (青总办〔2021〕45号)
plans:

* "会、站、家"一体化 (union, station and home in one place) is the type 职工服务中心.
* 工会户外劳动者服务站点 (the ACFTU name, used by Qinghai) is the union-run station, 工会爱心驿站;
  户外劳动者服务站点/户外劳动者站点 without 工会 are points run by others (红色蒲公英, 暖蜂 …).
* 职工书屋 is a service of its own (a union reading room, counted by the unions as a position),
  no longer an alias of 图书 (a shelf of books and newspapers).
* 温馨小屋 is a service: a room for women workers to rest and nurse (母婴室, 哺乳室, 爱心妈妈小屋).
* What truck drivers need at a 司机之家 gets its own services: 货车停车 (room for heavy vehicles;
  停车 alone is parking for e-bikes and cars), 餐饮 (hot meals served; 热饭 is heating one's own
  food in a microwave) and 住宿 (a bed for the night: 床位, 休息室过夜), besides 淋浴 and 洗衣.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

SEP = "、"

# -- station types ---------------------------------------------------------------------------
STATION_TYPES: tuple[str, ...] = (
    "工会爱心驿站",
    "司机之家",
    "快递员之家",
    "网约送餐员之家",
    "职工服务中心",
    "户外劳动者服务站点",
)
#: English labels, for the bilingual interface and reports.
STATION_TYPES_EN: dict[str, str] = {
    "工会爱心驿站": "union love station",
    "司机之家": "drivers' home",
    "快递员之家": "couriers' home",
    "网约送餐员之家": "delivery riders' home",
    "职工服务中心": "workers' service centre (union, station and home in one)",
    "户外劳动者服务站点": "outdoor workers' service point",
}
_TYPE_ALIASES: dict[str, str] = {
    "爱心驿站": "工会爱心驿站",
    "工会驿站": "工会爱心驿站",
    "工会户外劳动者爱心驿站": "工会爱心驿站",
    "户外劳动者爱心驿站": "工会爱心驿站",
    "工会户外劳动者服务站点": "工会爱心驿站",
    "工会户外劳动者站点": "工会爱心驿站",
    "工会户外劳动者服务站": "工会爱心驿站",
    "unionlovestation": "工会爱心驿站",
    "lovestation": "工会爱心驿站",
    "货车司机之家": "司机之家",
    "卡车司机之家": "司机之家",
    "driverhome": "司机之家",
    "drivershome": "司机之家",
    "快递员驿站": "快递员之家",
    "快递小哥之家": "快递员之家",
    "快递小哥驿站": "快递员之家",
    "courierhome": "快递员之家",
    "couriershome": "快递员之家",
    "送餐员之家": "网约送餐员之家",
    "外卖骑手之家": "网约送餐员之家",
    "骑手之家": "网约送餐员之家",
    "网约配送员之家": "网约送餐员之家",
    "riderhome": "网约送餐员之家",
    "ridershome": "网约送餐员之家",
    "职工服务中心会站家一体": "职工服务中心",
    "职工服务中心会站家一体化": "职工服务中心",
    "会站家一体": "职工服务中心",
    "会站家一体化": "职工服务中心",
    "会站家一体职工服务中心": "职工服务中心",
    "会站家一体化职工服务中心": "职工服务中心",
    "会站家一体化服务中心": "职工服务中心",
    "会站家一体化服务阵地": "职工服务中心",
    "会站家": "职工服务中心",
    "servicecentre": "职工服务中心",
    "servicecenter": "职工服务中心",
    "户外劳动者服务站": "户外劳动者服务站点",
    "户外劳动者站点": "户外劳动者服务站点",
    "户外劳动者驿站": "户外劳动者服务站点",
    "户外劳动者服务驿站": "户外劳动者服务站点",
    "红色蒲公英驿站": "户外劳动者服务站点",
    "暖蜂驿站": "户外劳动者服务站点",
    "outdoorworkerservicepoint": "户外劳动者服务站点",
}

# -- worker groups -----------------------------------------------------------------------------
GROUPS: tuple[str, ...] = ("外卖配送员", "快递员", "网约车司机", "货车司机", "其他户外劳动者")
GROUPS_EN: dict[str, str] = {
    "外卖配送员": "delivery riders",
    "快递员": "couriers",
    "网约车司机": "ride-hailing drivers",
    "货车司机": "truck drivers",
    "其他户外劳动者": "other outdoor workers",
}
_GROUP_ALIASES: dict[str, str] = {
    "外卖骑手": "外卖配送员", "骑手": "外卖配送员", "送餐员": "外卖配送员", "网约配送员": "外卖配送员",
    "网约送餐员": "外卖配送员", "外卖员": "外卖配送员", "rider": "外卖配送员", "riders": "外卖配送员",
    "delivery": "外卖配送员", "deliveryriders": "外卖配送员",
    "快递小哥": "快递员", "快递": "快递员", "courier": "快递员", "couriers": "快递员",
    "网约车驾驶员": "网约车司机", "网约车": "网约车司机", "ridehailing": "网约车司机",
    "ride-hailing": "网约车司机", "ridehailingdrivers": "网约车司机",
    "卡车司机": "货车司机", "货车": "货车司机", "truck": "货车司机", "truckdrivers": "货车司机",
    "户外劳动者": "其他户外劳动者", "其他": "其他户外劳动者", "环卫工人": "其他户外劳动者",
    "other": "其他户外劳动者", "others": "其他户外劳动者",
}
#: Worker groups a station type serves when the input does not say.
DEFAULT_GROUPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "工会爱心驿站": GROUPS,
    "司机之家": ("网约车司机", "货车司机"),
    "快递员之家": ("快递员",),
    "网约送餐员之家": ("外卖配送员",),
    "职工服务中心": GROUPS,
    "户外劳动者服务站点": GROUPS,
}

# -- hosts (the social resource a station is built on) ----------------------------------------
HOSTS: tuple[str, ...] = ("党群服务中心", "商超", "银行网点", "快递分拣站点", "加油站", "物流园区",
                          "通信营业厅", "工会阵地", "其他")
_HOST_ALIASES: dict[str, str] = {
    "党群服务站": "党群服务中心", "党群中心": "党群服务中心", "社区党群服务中心": "党群服务中心",
    "超市": "商超", "商场": "商超", "便利店": "商超", "supermarket": "商超",
    "银行": "银行网点", "支行": "银行网点", "bank": "银行网点",
    "快递网点": "快递分拣站点", "快递分拣中心": "快递分拣站点", "分拣站": "快递分拣站点",
    "快递站": "快递分拣站点", "菜鸟驿站": "快递分拣站点",
    "加油站点": "加油站", "fuel": "加油站", "petrolstation": "加油站",
    "物流园": "物流园区", "货运站": "物流园区", "logisticspark": "物流园区",
    "营业厅": "通信营业厅", "电信营业厅": "通信营业厅", "移动营业厅": "通信营业厅",
    "工人文化宫": "工会阵地", "职工之家": "工会阵地",
    "other": "其他",
}

# -- services ------------------------------------------------------------------------------------
SERVICES: tuple[str, ...] = ("饮水", "热饭", "餐饮", "充电", "卫生间", "休息座椅", "空调", "药箱", "停车",
                             "货车停车", "淋浴", "洗衣", "住宿", "无线网络", "图书", "职工书屋", "温馨小屋",
                             "维修工具")
#: English labels, for the bilingual interface and reports.
SERVICES_EN: dict[str, str] = {
    "饮水": "drinking water", "热饭": "microwave (heat your own food)", "餐饮": "hot meals",
    "充电": "charging", "卫生间": "toilet", "休息座椅": "seats", "空调": "air conditioning",
    "药箱": "first-aid kit", "停车": "parking (e-bikes, cars)", "货车停车": "truck parking",
    "淋浴": "shower", "洗衣": "laundry", "住宿": "beds for the night", "无线网络": "Wi-Fi",
    "图书": "books and newspapers", "职工书屋": "workers' reading room (职工书屋)",
    "温馨小屋": "rest and nursing room for women (温馨小屋)", "维修工具": "repair tools",
}
_SERVICE_ALIASES: dict[str, str] = {
    "喝水": "饮水", "饮用水": "饮水", "热水": "饮水", "water": "饮水",
    "微波炉": "热饭", "热饭/微波炉": "热饭", "加热": "热饭", "微波炉热饭": "热饭", "microwave": "热饭",
    "手机充电": "充电", "电动车充电": "充电", "charging": "充电",
    "厕所": "卫生间", "如厕": "卫生间", "洗手间": "卫生间", "toilet": "卫生间",
    "休息": "休息座椅", "座椅": "休息座椅", "歇脚": "休息座椅", "seats": "休息座椅", "rest": "休息座椅",
    "冷气": "空调", "纳凉": "空调", "避暑": "空调", "aircon": "空调",
    "医药箱": "药箱", "应急药箱": "药箱", "药品": "药箱", "firstaid": "药箱",
    "热餐": "餐饮", "热食": "餐饮", "供餐": "餐饮", "就餐": "餐饮", "用餐": "餐饮", "食堂": "餐饮",
    "餐厅": "餐饮", "快餐": "餐饮", "简餐": "餐饮", "司机餐厅": "餐饮", "meals": "餐饮", "hotmeals": "餐饮",
    "canteen": "餐饮",
    "停车位": "停车", "parking": "停车",
    "大车停车": "货车停车", "重型车停车": "货车停车", "货车停车位": "货车停车", "大车停车位": "货车停车",
    "货车停车场": "货车停车", "大车停车场": "货车停车", "重型车辆停车": "货车停车", "大货车停车": "货车停车",
    "truckparking": "货车停车", "lorryparking": "货车停车", "hgvparking": "货车停车",
    "洗澡": "淋浴", "shower": "淋浴",
    "洗衣机": "洗衣", "laundry": "洗衣",
    "床位": "住宿", "过夜": "住宿", "休息室过夜": "住宿", "过夜休息": "住宿", "宿舍": "住宿", "客房": "住宿",
    "住宿床位": "住宿", "beds": "住宿", "overnight": "住宿", "accommodation": "住宿",
    "wifi": "无线网络", "无线上网": "无线网络", "上网": "无线网络",
    "书报": "图书", "阅读": "图书", "books": "图书",
    "书屋": "职工书屋", "职工书屋分屋": "职工书屋", "职工阅览室": "职工书屋", "workersreadingroom": "职工书屋",
    "母婴室": "温馨小屋", "哺乳室": "温馨小屋", "爱心妈妈小屋": "温馨小屋", "妈咪小屋": "温馨小屋",
    "女职工休息哺乳室": "温馨小屋", "女职工温馨小屋": "温馨小屋", "职工温馨小屋": "温馨小屋",
    "nursingroom": "温馨小屋", "mothersroom": "温馨小屋",
    "打气": "维修工具", "维修": "维修工具", "工具": "维修工具",
}

STATUSES: tuple[str, ...] = ("在运营", "筹建中", "停用", "待定位")
#: A station known by name and address only: listed, exported and shown on the registry page, but
#: never counted in coverage, siting or nearest answers until it is located (geocoded or placed).
STATUS_WAITING = "待定位"
#: The statuses a station can have once it has coordinates.
LOCATED_STATUSES: tuple[str, ...] = ("在运营", "筹建中", "停用")
_STATUS_ALIASES: dict[str, str] = {
    "运营": "在运营", "运营中": "在运营", "正常": "在运营", "开放": "在运营", "active": "在运营",
    "open": "在运营", "in service": "在运营", "inservice": "在运营",
    "建设中": "筹建中", "筹建": "筹建中", "planned": "筹建中", "planning": "筹建中",
    "关闭": "停用", "暂停": "停用", "已关闭": "停用", "closed": "停用", "inactive": "停用",
    "未定位": "待定位", "无坐标": "待定位", "waiting": "待定位", "unlocated": "待定位",
}

#: How exactly a station's location is known, best first: a geocoder's match at a house number
#: (``door``), at a named place (``poi``), somewhere on a street (``road``), only the district
#: (``district``: never enough to count as located), or placed by a person on the map (``manual``).
#: Empty: given with coordinates in the imported file.
PRECISIONS: tuple[str, ...] = ("door", "poi", "road", "district", "manual")
PRECISION_NAMES: dict[str, str] = {"door": "门址", "poi": "兴趣点", "road": "道路", "district": "行政区",
                                   "manual": "人工标注", "unknown": "未知"}
#: rank of a geocoder's precision (higher is better); --min-precision compares ranks
PRECISION_RANK: dict[str, int] = {"door": 4, "poi": 3, "road": 2, "district": 1, "unknown": 0}

#: Canonical columns of a registry frame, in order.
COLUMNS: tuple[str, ...] = (
    "id", "name", "type", "groups", "address", "adcode", "host", "services", "hours", "capacity",
    "phone", "status", "source", "updated_at", "lon", "lat", "orig_lon", "orig_lat", "orig_crs",
    "precision", "located_status", "candidate",
)
#: ``precision``: see :data:`PRECISIONS`.  ``located_status``: for a 待定位 station, the status it
#: takes once located (the status the file gave, 在运营 by default).  ``candidate``: for a 待定位
#: station, a geocoder's answer waiting for a person (JSON: lon, lat (WGS-84), precision, level,
#: score, label, provider, at), or empty.

_SPLIT_RE = re.compile(r"[、,，;；/|\s]+")
_KEY_RE = re.compile(r"[\s_\-—()（）\"'“”‘’·.、,，。:：;；!！《》「」『』【】〔〕]+")


def _key(text: str) -> str:
    """Comparison key of a spelling: NFKC, without spaces, brackets, quotes and punctuation, lower case."""
    return _KEY_RE.sub("", unicodedata.normalize("NFKC", str(text))).lower()


def _lookup(text: str, canonical: Iterable[str], aliases: dict[str, str]) -> str | None:
    value = str(text).strip()
    if value in canonical:
        return value
    key = _key(value)
    for name in canonical:
        if _key(name) == key:
            return name
    return aliases.get(key) or aliases.get(value)


def normalize_type(text: str) -> str | None:
    """Canonical station type for a user spelling, or None when unknown."""
    return _lookup(text, STATION_TYPES, {_key(k): v for k, v in _TYPE_ALIASES.items()})


def normalize_status(text: str) -> str | None:
    """Canonical status (在运营/筹建中/停用/待定位) for a user spelling; empty -> 在运营; None if unknown."""
    if not str(text).strip():
        return "在运营"
    return _lookup(text, STATUSES, {_key(k): v for k, v in _STATUS_ALIASES.items()})


def normalize_host(text: str) -> str:
    """Canonical host category when recognised, else the text as given (hosts are open-ended)."""
    value = str(text).strip()
    if not value:
        return ""
    found = _lookup(value, HOSTS, {_key(k): v for k, v in _HOST_ALIASES.items()})
    return found or value


def _normalize_list(text: str, canonical: tuple[str, ...], aliases: dict[str, str],
                    keep_unknown: bool) -> tuple[str, list[str]]:
    parts = [p for p in _SPLIT_RE.split(str(text).strip()) if p]
    found: set[str] = set()
    unknown: list[str] = []
    alias_keys = {_key(k): v for k, v in aliases.items()}
    for part in parts:
        name = _lookup(part, canonical, alias_keys)
        if name:
            found.add(name)
        else:
            unknown.append(part)
    ordered = [c for c in canonical if c in found]
    if keep_unknown:
        ordered += [u for u in dict.fromkeys(unknown)]
    return SEP.join(ordered), unknown


def normalize_groups(text: str) -> tuple[str, list[str]]:
    """Canonical ``、``-joined worker groups, and the parts that were not recognised."""
    return _normalize_list(text, GROUPS, _GROUP_ALIASES, keep_unknown=False)


def normalize_services(text: str) -> str:
    """Canonical ``、``-joined services; unrecognised services are kept after the known ones."""
    return _normalize_list(text, SERVICES, _SERVICE_ALIASES, keep_unknown=True)[0]


def split_list(value: object) -> list[str]:
    """Split a ``、``-joined field into its items (empty list for empty/NaN)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [p for p in str(value).split(SEP) if p]


def serves_mask(groups: pd.Series, group: str) -> np.ndarray:
    """Vectorised: True where a ``groups`` field contains ``group`` (canonical or alias)."""
    canonical = canonical_group(group)
    padded = SEP + groups.fillna("").astype(str) + SEP
    return padded.str.contains(SEP + canonical + SEP, regex=False).to_numpy()


def has_service_mask(services: pd.Series, service: str) -> np.ndarray:
    """Vectorised: True where a ``services`` field contains ``service`` (canonical or alias)."""
    canonical = normalize_services(service) or str(service).strip()
    padded = SEP + services.fillna("").astype(str) + SEP
    return padded.str.contains(SEP + canonical + SEP, regex=False).to_numpy()


def find_group(text: str) -> str | None:
    """Canonical worker group for a user spelling, or None when unknown."""
    return _lookup(text, GROUPS, {_key(k): v for k, v in _GROUP_ALIASES.items()})


def canonical_group(text: str) -> str:
    """Canonical worker group for a user spelling; raises ValueError (bilingual) when unknown."""
    found = find_group(text)
    if found is None:
        raise ValueError(f"未知劳动者群体 {text!r}，可选：{'、'.join(GROUPS)} / unknown worker group "
                         f"{text!r}")
    return found


def canonical_type(text: str) -> str:
    """Canonical station type for a user spelling; raises ValueError (bilingual) when unknown."""
    found = normalize_type(text)
    if found is None:
        raise ValueError(f"未知站点类型 {text!r}，可选：{'、'.join(STATION_TYPES)} / unknown station "
                         f"type {text!r}")
    return found


def normalize_annual_targets(value: Any) -> dict[str, dict[str, Any]]:
    """The ``ANNUAL_TARGETS`` setting checked and normalised: ``{"new_stations": {type: count per
    year}, "covered_share": {worker group: 0-1}}`` with canonical types and groups (a missing part
    is empty; None means no targets).  ValueError (bilingual) when it is malformed."""
    def bad(zh: str, en: str) -> ValueError:
        return ValueError(f"设置 ANNUAL_TARGETS 无效：{zh}；应为 " + '{"new_stations": {站点类型: 每年新增数}, '
                          f'"covered_share": {{劳动者群体: 0-1}}}} / invalid ANNUAL_TARGETS setting: {en}')

    if value is None:
        return {"new_stations": {}, "covered_share": {}}
    if not isinstance(value, dict) or set(value) - {"new_stations", "covered_share"}:
        raise bad(repr(value), f"{value!r} (keys: new_stations, covered_share)")
    stations, shares = value.get("new_stations") or {}, value.get("covered_share") or {}
    if not isinstance(stations, dict) or not isinstance(shares, dict):
        raise bad("new_stations 与 covered_share 应为字典", "new_stations and covered_share must be mappings")
    out: dict[str, dict[str, Any]] = {"new_stations": {}, "covered_share": {}}
    for name, count in stations.items():
        kind = normalize_type(str(name))
        if kind not in STATION_TYPES:
            raise bad(f"未知站点类型 {name!r}（可选：{'、'.join(STATION_TYPES)}）", f"unknown station type {name!r}")
        if isinstance(count, bool) or not isinstance(count, (int, float)) or not math.isfinite(count) \
                or count != int(count) or count < 0:
            raise bad(f"{name} 的每年新增数应为非负整数，得到 {count!r}",
                      f"the yearly count of {name} must be a whole number >= 0, got {count!r}")
        out["new_stations"][kind] = int(count)
    for name, share in shares.items():
        group = find_group(str(name))
        if group is None:
            raise bad(f"未知劳动者群体 {name!r}（可选：{'、'.join(GROUPS)}）", f"unknown worker group {name!r}")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise bad(f"{name} 的覆盖率目标应在 0 到 1 之间，得到 {share!r}",
                      f"the covered-share target of {name} must be within 0..1, got {share!r}")
        out["covered_share"][group] = float(share)
    return out


def empty_frame() -> pd.DataFrame:
    """An empty registry frame with the canonical columns and dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    for c in ("lon", "lat", "orig_lon", "orig_lat"):
        frame[c] = frame[c].astype("float64")
    frame["capacity"] = frame["capacity"].astype("Int64")
    return frame
