"""The Guangzhou sample (the default): a deterministic generator of SYNTHETIC stations and hotspots.

Nothing here is real data.  Stations and demand are placed inside the real district boundaries
of Guangzhou (广州市, 11 districts), denser in the old centre (越秀、天河、海珠、荔湾) and around real
places where outdoor workers gather (business districts, railway stations, the airport, ports and
logistics parks), so that coverage maps look like a city: well served in the centre, with blank
spots (空白点) and blind zones (盲区) on the outskirts and at night.

The same seed always gives the same data (numpy PCG64).  Users replace the sample with their own
files (``yizhan import-stations``, ``yizhan analyze --hotspots``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEED = 2021  # 粤工总〔2021〕29号, the Guangdong plan this product serves
CITY = "440100"  # 广州市
SAMPLE_DATE = "2026-11-02"  # a Monday
SOURCE = "合成样例数据 / synthetic sample (yizhan.samples.guangzhou)"

# Places in Guangzhou, WGS-84 (approximate): name, lon, lat, weight of demand, spread in km, kind.
# kind: c = commercial (restaurants, offices), r = residential, h = transport hub, l = logistics.
PLACES: list[tuple[str, float, float, float, float, str]] = [
    ("天河路商圈", 113.3270, 23.1375, 10.0, 1.2, "c"),
    ("珠江新城", 113.3230, 23.1190, 9.0, 1.0, "c"),
    ("北京路", 113.2690, 23.1255, 8.0, 0.9, "c"),
    ("上下九", 113.2470, 23.1190, 6.0, 0.8, "c"),
    ("江南西", 113.2700, 23.0960, 6.0, 1.0, "c"),
    ("琶洲", 113.3650, 23.1000, 5.0, 1.2, "c"),
    ("石牌岗顶", 113.3420, 23.1330, 6.0, 0.9, "c"),
    ("东山口", 113.2960, 23.1240, 4.0, 0.8, "c"),
    ("客村", 113.3200, 23.0950, 5.0, 1.0, "r"),
    ("同和京溪", 113.3220, 23.1950, 4.0, 1.5, "r"),
    ("嘉禾望岗", 113.2780, 23.2270, 3.5, 1.6, "r"),
    ("棠景三元里", 113.2600, 23.1700, 4.0, 1.2, "r"),
    ("芳村", 113.2330, 23.0950, 3.5, 1.3, "r"),
    ("大沙地", 113.4500, 23.1050, 3.5, 1.2, "r"),
    ("科学城", 113.4500, 23.1700, 4.0, 2.0, "c"),
    ("知识城", 113.5000, 23.3300, 1.5, 2.5, "c"),
    ("市桥", 113.3600, 22.9400, 5.0, 1.5, "r"),
    ("大学城", 113.3900, 23.0550, 3.0, 1.5, "r"),
    ("万博长隆", 113.3300, 23.0050, 4.0, 1.6, "c"),
    ("花都新华", 113.2200, 23.4000, 3.0, 1.8, "r"),
    ("南沙蕉门", 113.5300, 22.8000, 2.0, 2.0, "r"),
    ("黄阁", 113.5250, 22.8250, 1.0, 1.5, "r"),
    ("从化街口", 113.5900, 23.5500, 1.5, 1.8, "r"),
    ("增城荔城", 113.8200, 23.2900, 2.0, 2.0, "r"),
    ("新塘", 113.6100, 23.1300, 3.0, 2.0, "r"),
    ("广州南站", 113.2690, 22.9880, 3.0, 0.8, "h"),
    ("广州东站", 113.3250, 23.1500, 3.0, 0.6, "h"),
    ("广州火车站", 113.2580, 23.1490, 3.0, 0.7, "h"),
    ("白云机场", 113.2990, 23.3920, 2.5, 1.5, "h"),
    ("太和物流园", 113.3500, 23.3300, 2.0, 2.0, "l"),
    ("人和物流", 113.2900, 23.3500, 1.5, 1.8, "l"),
    ("黄埔港", 113.4400, 23.0900, 2.0, 1.5, "l"),
    ("南沙港", 113.6300, 22.7100, 2.0, 2.5, "l"),
    ("花都空港物流", 113.2700, 23.4200, 1.5, 2.0, "l"),
    ("永和物流", 113.6200, 23.2200, 1.2, 2.0, "l"),
]

# Station types with their share, the hosts they are built on and the place kinds they prefer.
TYPE_MIX: list[tuple[str, float, tuple[str, ...], str]] = [
    ("工会爱心驿站", 0.50, ("党群服务中心", "银行网点", "通信营业厅", "商超", "加油站"), "crh"),
    ("户外劳动者服务站点", 0.12, ("党群服务中心", "商超", "通信营业厅"), "cr"),
    ("网约送餐员之家", 0.10, ("商超", "党群服务中心"), "c"),
    ("快递员之家", 0.10, ("快递分拣站点", "党群服务中心"), "r"),
    ("司机之家", 0.08, ("加油站", "物流园区"), "lh"),
    ("职工服务中心", 0.10, ("党群服务中心",), "cr"),
]
_HOST_BRANDS: dict[str, tuple[str, ...]] = {
    "党群服务中心": ("{place}街党群服务中心", "{place}社区党群服务站"),
    "银行网点": ("工商银行{place}支行", "建设银行{place}支行", "农业银行{place}支行", "广州农商银行{place}支行"),
    "通信营业厅": ("中国电信{place}营业厅", "中国移动{place}营业厅"),
    "商超": ("{place}天虹超市", "{place}永辉超市", "{place}百佳超市"),
    "加油站": ("中国石化{place}加油站", "中国石油{place}加油站"),
    "快递分拣站点": ("中国邮政{place}揽投部", "顺丰{place}营业点", "{place}菜鸟驿站"),
    "物流园区": ("{place}物流园", "{place}货运站"),
}
_HOURS = [("08:00-20:00", 0.35), ("09:00-18:00", 0.15), ("07:00-22:00", 0.18), ("24h", 0.12),
          ("周一至周五 08:30-17:30；周六 09:00-12:00", 0.10), ("10:00-14:00,17:00-21:00", 0.10)]
_BASE_SERVICES = ("饮水", "充电", "休息座椅")
_EXTRA_SERVICES = ("热饭", "卫生间", "空调", "药箱", "无线网络", "图书", "维修工具")
_DRIVER_SERVICES = ("停车", "淋浴", "洗衣", "热饭", "卫生间")

# Hotspot groups: share of points, place kinds, hourly profile (24 weights), weight range.
_PROFILE_DELIVERY = np.array([2, 1, 1, 0.5, 0.3, 0.3, 1, 3, 5, 4, 6, 14, 16, 8, 4, 3, 4, 9, 14, 12, 8, 6, 5, 3])
_PROFILE_COURIER = np.array([0, 0, 0, 0, 0, 0, 1, 3, 8, 12, 12, 10, 6, 7, 10, 12, 11, 9, 6, 3, 2, 1, 0, 0])
_PROFILE_RIDE = np.array([3, 2, 1, 1, 1, 2, 4, 10, 12, 8, 6, 6, 6, 6, 6, 7, 8, 11, 12, 9, 8, 8, 7, 5])
_PROFILE_TRUCK = np.array([8, 9, 9, 8, 7, 6, 5, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 5, 6, 7, 8, 8])
GROUP_MIX: list[tuple[str, float, str, np.ndarray]] = [
    ("外卖配送员", 0.45, "c", _PROFILE_DELIVERY),
    ("快递员", 0.25, "r", _PROFILE_COURIER),
    ("网约车司机", 0.20, "hc", _PROFILE_RIDE),
    ("货车司机", 0.10, "l", _PROFILE_TRUCK),
]


def _inside_guangzhou(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    from ..geodata.boundaries import district_of, in_area

    codes = district_of(lon, lat)
    return in_area(codes, CITY), codes


def _scatter(rng: np.random.Generator, n: int, places: list[tuple], weights: np.ndarray,
             spread_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n points around the given places (Gaussian, spread in km), kept inside Guangzhou."""
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    which: list[np.ndarray] = []
    need = n
    p = weights / weights.sum()
    while need > 0:
        m = int(need * 1.4) + 16
        k = rng.choice(len(places), size=m, p=p)
        spread_km = np.array([places[i][4] for i in k]) * spread_scale
        lat0 = np.array([places[i][2] for i in k])
        lon0 = np.array([places[i][1] for i in k])
        dlat = rng.normal(0, 1, m) * spread_km / 111.0
        dlon = rng.normal(0, 1, m) * spread_km / (111.0 * np.cos(np.radians(lat0)))
        lon, lat = lon0 + dlon, lat0 + dlat
        ok, _ = _inside_guangzhou(lon, lat)
        lons.append(lon[ok][:need])
        lats.append(lat[ok][:need])
        which.append(k[ok][:need])
        need -= int(min(ok.sum(), need))
    return np.concatenate(lons), np.concatenate(lats), np.concatenate(which)


def _uniform_in_guangzhou(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    from ..geodata.boundaries import load_boundaries

    minx, miny, maxx, maxy = load_boundaries("district", within=CITY).total_bounds
    lons, lats, need = [], [], n
    while need > 0:
        lon = rng.uniform(minx, maxx, need * 3)
        lat = rng.uniform(miny, maxy, need * 3)
        ok, _ = _inside_guangzhou(lon, lat)
        lons.append(lon[ok][:need])
        lats.append(lat[ok][:need])
        need -= int(min(ok.sum(), need))
    return np.concatenate(lons), np.concatenate(lats)


def generate_stations(n: int = 320, *, seed: int = SEED) -> pd.DataFrame:
    """A synthetic station table for Guangzhou with Chinese headers, as a user's file would have.

    Columns: 编号, 名称, 类型, 服务对象, 地址, 行政区划代码, 依托单位, 服务内容, 开放时间, 座位数, 联系电话,
    状态, 数据来源, 经度, 纬度 (WGS-84).
    """
    from ..geodata.boundaries import district_of, name_of

    rng = np.random.default_rng(seed)
    shares = np.array([t[1] for t in TYPE_MIX])
    counts = np.floor(shares / shares.sum() * n).astype(int)
    counts[0] += n - counts.sum()
    rows: list[dict[str, Any]] = []
    serial = 0
    for (stype, _share, hosts, kinds), count in zip(TYPE_MIX, counts):
        places = [p for p in PLACES if p[5] in kinds]
        weights = np.array([p[3] for p in places], dtype=float)
        n_scatter = int(round(count * 0.8))
        lon_a, lat_a, which = _scatter(rng, n_scatter, places, weights, spread_scale=1.6)
        lon_b, lat_b = _uniform_in_guangzhou(rng, count - n_scatter)
        lon = np.concatenate([lon_a, lon_b])
        lat = np.concatenate([lat_a, lat_b])
        place_names = [places[i][0] for i in which] + [None] * (count - n_scatter)
        codes = district_of(lon, lat)
        for j in range(count):
            serial += 1
            district = name_of(str(codes[j])) or ""
            place = place_names[j] or district.removesuffix("区") + ["北", "南", "东", "西", "中"][serial % 5]
            host = hosts[int(rng.integers(len(hosts)))]
            brand = _HOST_BRANDS[host][int(rng.integers(len(_HOST_BRANDS[host])))].format(place=place)
            hours = _HOURS[int(rng.choice(len(_HOURS), p=np.array([h[1] for h in _HOURS])))][0]
            if stype == "司机之家" or host == "加油站":
                hours = "24h" if rng.random() < 0.7 else "06:00-23:00"
            services = list(_BASE_SERVICES) + [s for s in _EXTRA_SERVICES if rng.random() < 0.45]
            if stype == "司机之家":
                services += [s for s in _DRIVER_SERVICES if s not in services]
            status = "在运营" if rng.random() < 0.9 else ("筹建中" if rng.random() < 0.7 else "停用")
            rows.append({
                "编号": f"GZ{codes[j] or CITY}-{serial:04d}",
                "名称": f"{brand}{stype}",
                "类型": stype,
                "服务对象": "",  # empty: the type's default groups apply
                "地址": f"广州市{district}{place}{int(rng.integers(1, 300))}号",
                "行政区划代码": str(codes[j]),
                "依托单位": host,
                "服务内容": "、".join(services),
                "开放时间": hours,
                "座位数": int(rng.integers(4, 31)),
                "联系电话": f"020-{int(rng.integers(30000000, 89999999))}",
                "状态": status,
                "数据来源": SOURCE,
                "经度": round(float(lon[j]), 6),
                "纬度": round(float(lat[j]), 6),
            })
    frame = pd.DataFrame(rows)
    # Synthetic stations closer than the duplicate radius would be rejected on import: nudge apart.
    from scipy.spatial import cKDTree

    xy = np.column_stack([frame["经度"] * 102.0, frame["纬度"] * 111.0])  # ~km
    for a, b in cKDTree(xy).query_pairs(0.02):
        frame.loc[b, "经度"] = round(float(frame.loc[b, "经度"]) + 0.0003, 6)
    return frame


def generate_hotspots(n: int = 60_000, *, seed: int = SEED) -> pd.DataFrame:
    """Synthetic demand points: columns ``lon``, ``lat`` (WGS-84), ``weight``, ``time``, ``group``.

    Delivery pick-ups/drop-offs cluster in business districts at lunch and dinner, courier
    pick-ups in residential areas by day, ride-hailing pick-ups at railway stations, the airport
    and business districts at commuting peaks, truck stops at ports and logistics parks at night;
    10 % of the points are spread over the whole city (the long tail).
    """
    rng = np.random.default_rng(seed + 1)
    parts = []
    shares = np.array([g[1] for g in GROUP_MIX])
    counts = np.floor(shares / shares.sum() * n * 0.9).astype(int)
    for (group, _share, kinds, profile), count in zip(GROUP_MIX, counts):
        places = [p for p in PLACES if p[5] in kinds]
        weights = np.array([p[3] for p in places], dtype=float)
        lon, lat, _ = _scatter(rng, count, places, weights)
        parts.append(pd.DataFrame({"lon": lon, "lat": lat, "group": group,
                                   "hour": rng.choice(24, size=count, p=profile / profile.sum())}))
    n_tail = n - int(counts.sum())
    lon, lat = _uniform_in_guangzhou(rng, n_tail)
    tail_groups = rng.choice([g[0] for g in GROUP_MIX], size=n_tail, p=shares / shares.sum())
    parts.append(pd.DataFrame({"lon": lon, "lat": lat, "group": tail_groups,
                               "hour": rng.choice(24, size=n_tail, p=_PROFILE_RIDE / _PROFILE_RIDE.sum())}))
    frame = pd.concat(parts, ignore_index=True)
    minute = rng.integers(0, 60, len(frame))
    frame["time"] = [f"{SAMPLE_DATE}T{h:02d}:{m:02d}:00" for h, m in zip(frame["hour"], minute)]
    frame["weight"] = 1 + rng.poisson(0.6, len(frame))
    frame["lon"] = frame["lon"].round(6)
    frame["lat"] = frame["lat"].round(6)
    return frame[["lon", "lat", "weight", "time", "group"]]
