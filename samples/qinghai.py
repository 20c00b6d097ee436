"""The Qinghai sample: a deterministic generator of SYNTHETIC stations, hotspots and highways.

Nothing here is real data.  Qinghai (青海省, 青总办〔2021〕45号) is the opposite of Guangzhou: a vast
province where truck drivers (货车司机) cross hundreds of kilometres of plateau between towns, and
riders and couriers work in two cities, Xining (西宁市) and Haidong (海东市).  The sample has

* approximate corridors of real national highways -- G6 京藏, G109 青藏公路, G315, G227 and
  G214 -- drawn as straight polylines through real towns (approximate WGS-84 coordinates of the
  town centres; the real roads curve and their exact courses differ).  Towns the real roads
  share are shared nodes (湟源, 茶卡, 乌兰, 德令哈, 格尔木 …);
* 司机之家 (with truck parking, showers, laundry, hot meals and beds), 工会爱心驿站 and
  户外劳动者服务站点 along those corridors at irregular spacings, with deliberately long gaps
  (德令哈 -> 格尔木, 格尔木 -> 昆仑山口, 大柴旦 -> 冷湖 …), so the corridor analysis has gaps to show;
* 网约送餐员之家, 快递员之家, 工会爱心驿站 and "会、站、家"一体化 职工服务中心 (with 职工书屋 and
  温馨小屋) in the districts of Xining and Haidong;
* hotspots: truck stops along the corridors (more at towns at night), delivery riders, couriers
  and ride-hailing drivers in Xining and Haidong (:func:`generate_hotspots`);
* a synthetic OpenStreetMap file of the corridors (:func:`write_highways`).

The stations file is written the way a user's file often is: Chinese headers, coordinates in
GCJ-02 (as copied from an online map; :data:`CRS`, imported with ``--crs gcj02``), district names
on every row and the administrative code (行政区划代码) on two rows out of three, and some
variant spellings (“会、站、家”一体化, 大车停车, 床位 …) that the import normalises.  Every
station's stated district is the one its coordinates lie in (tests check this against the
boundaries).  Hotspots and highways are WGS-84.

The same seed always gives the same data (numpy PCG64).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

SEED = 45  # 青总办〔2021〕45号, the Qinghai plan this sample illustrates
SAMPLE_DATE = "2026-11-02"  # a Monday
SOURCE = "合成样例数据 / synthetic sample (yizhan.samples.qinghai)"
#: Coordinate system of the stations file (the import must be told: ``--crs gcj02``).
CRS = "gcj02"
#: Node spacing of the synthetic highway file, km.
NODE_STEP_KM = 1.5

_KM_PER_DEG = 111.195  # km per degree of latitude on the mean Earth sphere (R = 6371 km)

# -- districts ---------------------------------------------------------------------------------
#: adcode -> (city/prefecture, district/county) of every unit the sample uses.
DISTRICTS: dict[str, tuple[str, str]] = {
    "630102": ("西宁市", "城东区"),
    "630103": ("西宁市", "城中区"),
    "630104": ("西宁市", "城西区"),
    "630105": ("西宁市", "城北区"),
    "630106": ("西宁市", "湟中区"),
    "630121": ("西宁市", "大通回族土族自治县"),
    "630123": ("西宁市", "湟源县"),
    "630202": ("海东市", "乐都区"),
    "630203": ("海东市", "平安区"),
    "630223": ("海东市", "互助土族自治县"),
    "632221": ("海北藏族自治州", "门源回族自治县"),
    "632222": ("海北藏族自治州", "祁连县"),
    "632223": ("海北藏族自治州", "海晏县"),
    "632224": ("海北藏族自治州", "刚察县"),
    "632521": ("海南藏族自治州", "共和县"),
    "632524": ("海南藏族自治州", "兴海县"),
    "632626": ("果洛藏族自治州", "玛多县"),
    "632701": ("玉树藏族自治州", "玉树市"),
    "632723": ("玉树藏族自治州", "称多县"),
    "632801": ("海西蒙古族藏族自治州", "格尔木市"),
    "632802": ("海西蒙古族藏族自治州", "德令哈市"),
    "632803": ("海西蒙古族藏族自治州", "茫崖市"),
    "632821": ("海西蒙古族藏族自治州", "乌兰县"),
    "632822": ("海西蒙古族藏族自治州", "都兰县"),
    "632823": ("海西蒙古族藏族自治州", "天峻县"),
    "632825": ("海西蒙古族藏族自治州", "大柴旦行委"),   # 大柴旦行政委员会 (boundary data: 海西州直辖)
}
_AREA_CODES = {"6301": "0971", "6302": "0972", "6322": "0970", "6325": "0974", "6326": "0975",
               "6327": "0976", "6328": "0977"}

# -- towns and shape points (WGS-84, approximate) ---------------------------------------------------
#: Road points: real towns (approximate centres) and unnamed shape points (names starting with
#: ``~``) that only bend a corridor.  Each is one node of the highway file, shared by every road
#: through it.
POINTS: dict[str, tuple[float, float]] = {
    "西宁": (101.7710, 36.6170),
    "多巴": (101.5200, 36.6600),
    "~多巴南": (101.5200, 36.6480),
    "湟源": (101.2560, 36.6830),
    "日月山": (101.0700, 36.4300),
    "倒淌河": (100.9700, 36.4100),
    "共和": (100.6200, 36.2800),
    "~G6共和西": (100.0500, 36.4600),
    "江西沟": (100.2900, 36.5900),
    "黑马河": (99.7800, 36.7200),
    "橡皮山": (99.5000, 36.7000),
    "茶卡": (99.0800, 36.7900),
    "乌兰": (98.4800, 36.9300),
    "~G315乌德": (97.9500, 37.1200),
    "德令哈": (97.3700, 37.3700),
    "怀头他拉": (96.7400, 37.3700),
    "~G6柴达木": (95.8000, 36.7500),
    "格尔木": (94.9000, 36.4100),
    "都兰": (98.0900, 36.3000),
    "香日德": (97.8000, 36.0500),
    "诺木洪": (96.4300, 36.4300),
    "大格勒": (95.7200, 36.4300),
    "纳赤台": (94.5800, 35.9000),
    "西大滩": (94.2500, 35.7200),
    "昆仑山口": (94.0500, 35.6400),
    "不冻泉": (93.9200, 35.5300),
    "海晏": (100.9900, 36.9000),
    "刚察": (100.1400, 37.3300),
    "哈尔盖": (99.8500, 37.2400),
    "天峻": (99.0200, 37.3000),
    "察汗诺": (98.7500, 37.0500),
    "~G315柴北": (96.5000, 37.5500),
    "大柴旦": (95.3600, 37.8500),
    "鱼卡": (95.2000, 38.0500),
    "冷湖": (93.3300, 38.7400),
    "花土沟": (90.8600, 38.2500),
    "大通": (101.6850, 36.9300),
    "达坂山": (101.5000, 37.1500),
    "门源": (101.6200, 37.3800),
    "青石嘴": (101.4300, 37.4700),
    "峨堡": (100.9200, 37.9500),
    "河卡": (99.9800, 35.8800),
    "温泉": (99.5000, 35.3700),
    "~G214缺口北": (99.2760, 35.2790),
    "~G214缺口南": (99.1800, 35.2400),
    "花石峡": (98.8600, 35.1100),
    "玛多": (98.2100, 34.9200),
    "~巴颜喀拉北": (97.9500, 34.5000),
    "~巴颜喀拉南": (97.6000, 34.2000),
    "清水河": (97.1300, 33.8000),
    "歇武": (97.3500, 33.2500),
    "玉树": (97.0100, 33.0000),
}

#: Sections of the highway file: (ref tag, name, highway, layout, points).  ``layout``: ``dual`` =
#: two one-way carriageways (oneway=yes, ~30 m apart, split at the end points), ``single`` = one
#: two-way way (motorways explicitly ``oneway=no``).  A ref tag ``G6;G109`` is a road both routes
#: run on.  G214 has a deliberate break between the two ``~G214缺口`` points (a missing section).
SECTIONS: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("G6", "京藏高速", "motorway", "dual", ("西宁", "多巴", "湟源")),
    ("G109;G315", "青藏公路", "primary", "single", ("西宁", "~多巴南", "湟源")),
    ("G6;G109", "京藏高速", "trunk", "single", ("湟源", "日月山", "倒淌河")),
    ("G6", "京藏高速", "motorway", "single",
     ("倒淌河", "共和", "~G6共和西", "茶卡", "乌兰", "德令哈", "怀头他拉", "~G6柴达木", "格尔木")),
    ("G109", "青藏公路", "primary", "single",
     ("倒淌河", "江西沟", "黑马河", "橡皮山", "茶卡", "都兰", "香日德", "诺木洪", "大格勒", "格尔木",
      "纳赤台", "西大滩", "昆仑山口", "不冻泉")),
    ("G315", "G315国道", "primary", "single",
     ("湟源", "海晏", "刚察", "哈尔盖", "天峻", "察汗诺", "乌兰", "~G315乌德", "德令哈", "~G315柴北",
      "大柴旦", "鱼卡", "冷湖", "花土沟")),
    ("G227", "G227国道", "primary", "single", ("西宁", "大通", "达坂山", "门源", "青石嘴", "峨堡")),
    ("G214", "G214国道", "primary", "single", ("共和", "河卡", "温泉", "~G214缺口北")),
    ("G214", "G214国道", "primary", "single",
     ("~G214缺口南", "花石峡", "玛多", "~巴颜喀拉北", "~巴颜喀拉南", "清水河", "歇武", "玉树")),
]
#: Truck traffic per route (relative), for the truck-stop hotspots.
TRAFFIC: dict[str, float] = {"G6": 5.0, "G109": 3.0, "G315": 2.5, "G227": 1.2, "G214": 1.5}
REFS: tuple[str, ...] = tuple(TRAFFIC)

# -- stations along the corridors ----------------------------------------------------------------
#: (place, fraction, type, host, adcode, status, groups): ``place`` is a road point, or
#: ``"A>B"`` for a point ``fraction`` of the way from road point A to the next point B of a
#: section (a service area between towns).  Empty groups = the type's default.
CORRIDOR_STATIONS: list[tuple[str, float, str, str, str, str, str]] = [
    # G6 / G109 / G315 around Xining and over 日月山
    ("多巴", 0.0, "司机之家", "物流园区", "630106", "在运营", "货车司机、网约车司机"),
    ("~多巴南>湟源", 0.35, "工会爱心驿站", "加油站", "630106", "在运营", ""),
    ("湟源", 0.0, "司机之家", "加油站", "630123", "在运营", "货车司机"),
    ("日月山>倒淌河", 0.5, "户外劳动者服务站点", "其他", "632521", "在运营", ""),
    ("倒淌河", 0.0, "司机之家", "加油站", "632521", "在运营", "货车司机、网约车司机"),
    # G6 west
    ("共和", 0.0, "司机之家", "物流园区", "632521", "在运营", "货车司机"),
    ("共和", 0.0, "职工服务中心", "工会阵地", "632521", "在运营", ""),
    ("~G6共和西>茶卡", 0.3, "司机之家", "加油站", "632521", "筹建中", "货车司机"),
    ("茶卡", 0.0, "司机之家", "加油站", "632821", "在运营", "货车司机、网约车司机"),
    ("乌兰", 0.0, "工会爱心驿站", "加油站", "632821", "在运营", ""),
    ("乌兰>德令哈", 0.45, "司机之家", "加油站", "632821", "在运营", "货车司机"),
    ("德令哈", 0.0, "司机之家", "物流园区", "632802", "在运营", "货车司机"),
    ("德令哈", 0.0, "职工服务中心", "工会阵地", "632802", "在运营", ""),
    ("德令哈", 0.0, "工会爱心驿站", "银行网点", "632802", "在运营", ""),
    ("怀头他拉", 0.0, "司机之家", "加油站", "632802", "在运营", "货车司机"),
    ("格尔木", 0.0, "司机之家", "物流园区", "632801", "在运营", "货车司机"),
    ("格尔木", 0.0, "司机之家", "加油站", "632801", "在运营", "货车司机、网约车司机"),
    ("格尔木", 0.0, "职工服务中心", "工会阵地", "632801", "在运营", ""),
    ("格尔木", 0.0, "工会爱心驿站", "通信营业厅", "632801", "在运营", ""),
    # G109 south of Qinghai Lake and on to Tibet
    ("江西沟", 0.0, "户外劳动者服务站点", "党群服务中心", "632521", "在运营", ""),
    ("黑马河", 0.0, "司机之家", "加油站", "632521", "在运营", "货车司机"),
    ("都兰", 0.0, "司机之家", "加油站", "632822", "在运营", "货车司机"),
    ("都兰", 0.0, "工会爱心驿站", "党群服务中心", "632822", "在运营", ""),
    ("香日德", 0.0, "户外劳动者服务站点", "商超", "632822", "在运营", ""),
    ("诺木洪", 0.0, "司机之家", "加油站", "632822", "停用", "货车司机"),
    ("纳赤台", 0.0, "司机之家", "加油站", "632801", "在运营", "货车司机"),
    ("西大滩", 0.0, "户外劳动者服务站点", "其他", "632801", "筹建中", ""),
    # G315 north of the lake and across the Qaidam
    ("海晏", 0.0, "司机之家", "加油站", "632223", "在运营", "货车司机"),
    ("刚察", 0.0, "工会爱心驿站", "党群服务中心", "632224", "在运营", ""),
    ("天峻", 0.0, "司机之家", "加油站", "632823", "在运营", "货车司机"),
    ("大柴旦", 0.0, "司机之家", "物流园区", "632825", "在运营", "货车司机"),
    ("冷湖", 0.0, "司机之家", "加油站", "632803", "在运营", "货车司机"),
    ("花土沟", 0.0, "司机之家", "物流园区", "632803", "在运营", "货车司机"),
    ("花土沟", 0.0, "职工服务中心", "工会阵地", "632803", "在运营", ""),
    # G227 over 达坂山 to 门源 and 祁连
    ("大通", 0.0, "司机之家", "加油站", "630121", "在运营", "货车司机、网约车司机"),
    ("门源", 0.0, "司机之家", "加油站", "632221", "在运营", "货车司机"),
    ("门源", 0.0, "工会爱心驿站", "银行网点", "632221", "在运营", ""),
    ("青石嘴", 0.0, "户外劳动者服务站点", "商超", "632221", "在运营", ""),
    ("峨堡", 0.0, "司机之家", "加油站", "632222", "筹建中", "货车司机"),
    # G214 to Yushu
    ("河卡", 0.0, "司机之家", "加油站", "632524", "在运营", "货车司机"),
    ("温泉", 0.0, "司机之家", "加油站", "632524", "在运营", "货车司机"),
    ("花石峡", 0.0, "司机之家", "加油站", "632626", "在运营", "货车司机"),
    ("玛多", 0.0, "工会爱心驿站", "党群服务中心", "632626", "在运营", ""),
    ("清水河", 0.0, "司机之家", "加油站", "632723", "在运营", "货车司机"),
    ("玉树", 0.0, "司机之家", "物流园区", "632701", "在运营", "货车司机"),
    ("玉树", 0.0, "职工服务中心", "工会阵地", "632701", "在运营", ""),
]

# -- Xining and Haidong ----------------------------------------------------------------------------
#: (place, lon, lat, adcode, kind, radius km): places where riders and couriers work.  ``radius``
#: is how far a station may lie from the place (at most half the distance to the district border,
#: so the stated district holds).  kind: c = commercial, r = residential, l = logistics/industry,
#: h = transport hub.
CITY_PLACES: list[tuple[str, float, float, str, str, float]] = [
    ("大十字", 101.7760, 36.6200, "630103", "c", 0.25),
    ("南川", 101.7600, 36.5600, "630103", "l", 0.6),
    ("总寨", 101.7400, 36.5400, "630103", "r", 1.2),
    ("东关", 101.7950, 36.6080, "630102", "c", 0.4),
    ("八一路", 101.8330, 36.6220, "630102", "r", 0.6),
    ("西宁站", 101.8120, 36.6320, "630102", "h", 0.6),
    ("韵家口", 101.8500, 36.6100, "630102", "l", 0.6),
    ("力盟", 101.7450, 36.6300, "630104", "c", 0.45),
    ("海湖新区", 101.7100, 36.6400, "630104", "c", 0.45),
    ("西川", 101.6800, 36.6300, "630104", "r", 0.8),
    ("小桥", 101.7700, 36.6600, "630105", "r", 0.45),
    ("朝阳", 101.7450, 36.6700, "630105", "r", 0.6),
    ("生物园区", 101.7480, 36.6900, "630105", "l", 0.8),
    ("鲁沙尔", 101.5700, 36.5000, "630106", "r", 1.5),
    ("多巴新城", 101.5200, 36.6700, "630106", "l", 1.0),
    ("甘河工业园", 101.5000, 36.5600, "630106", "l", 2.0),
    ("平安", 102.1000, 36.4950, "630203", "c", 0.8),
    ("乐都", 102.4020, 36.4820, "630202", "c", 1.5),
    ("乐都工业园", 102.3700, 36.4900, "630202", "l", 1.5),
    ("曹家堡机场", 102.0500, 36.5300, "630223", "h", 0.5),
]
#: (type, number, place kinds, hosts, groups) of the city stations.
CITY_MIX: list[tuple[str, int, str, tuple[str, ...], str]] = [
    ("网约送餐员之家", 8, "c", ("商超", "党群服务中心"), ""),
    ("快递员之家", 7, "rl", ("快递分拣站点", "党群服务中心"), ""),
    ("工会爱心驿站", 14, "crlh", ("党群服务中心", "银行网点", "通信营业厅", "商超", "加油站"), ""),
    ("职工服务中心", 6, "cr", ("工会阵地", "党群服务中心"), ""),
    ("户外劳动者服务站点", 6, "crl", ("党群服务中心", "商超"), ""),
    ("司机之家", 3, "h", ("加油站",), "网约车司机"),
]

_HOST_BRANDS: dict[str, tuple[str, ...]] = {
    "党群服务中心": ("{place}党群服务中心", "{place}社区党群服务站"),
    "银行网点": ("工商银行{place}支行", "青海银行{place}支行", "农业银行{place}支行"),
    "通信营业厅": ("中国移动{place}营业厅", "中国电信{place}营业厅"),
    "商超": ("{place}新华联超市", "{place}王府井超市", "{place}便民超市"),
    "加油站": ("中国石油{place}加油站", "中国石化{place}加油站"),
    "快递分拣站点": ("中国邮政{place}揽投部", "{place}快递分拣中心"),
    "物流园区": ("{place}物流园", "{place}公路货运站"),
    "工会阵地": ("{place}职工之家",),
    "其他": ("{place}",),
}
# spellings written to the file (the import normalises them; see yizhan.stations.model)
_TYPE_SPELLINGS: dict[str, tuple[str, ...]] = {
    "职工服务中心": ("职工服务中心", "“会、站、家”一体化职工服务中心", "会站家一体化"),
    "户外劳动者服务站点": ("户外劳动者服务站点", "户外劳动者站点"),
}
_BASE_SERVICES = ("饮水", "卫生间", "充电", "休息座椅")
_CITY_EXTRA = ("热饭", "空调", "药箱", "无线网络", "图书", "维修工具")
#: What a 司机之家 offers truck drivers, each with the spellings used in the file.
_DRIVER_SERVICES: tuple[tuple[str, ...], ...] = (
    ("货车停车", "大车停车", "重型车停车"), ("淋浴", "洗澡"), ("洗衣", "洗衣机"),
    ("餐饮", "热餐"), ("住宿", "床位", "休息室过夜"))
_CENTRE_SERVICES = ("职工书屋", "温馨小屋")
_CITY_HOURS = [("08:00-20:00", 0.35), ("09:00-18:00", 0.2), ("07:00-22:00", 0.2), ("24h", 0.1),
               ("周一至周五 08:30-17:30；周六 09:00-12:00", 0.15)]

# -- hotspots --------------------------------------------------------------------------------------
_PROFILE_DELIVERY = np.array([2, 1, 1, 0.5, 0.3, 0.3, 1, 3, 5, 4, 6, 14, 16, 8, 4, 3, 4, 9, 14, 12, 8, 6, 5, 3])
_PROFILE_COURIER = np.array([0, 0, 0, 0, 0, 0, 1, 3, 8, 12, 12, 10, 6, 7, 10, 12, 11, 9, 6, 3, 2, 1, 0, 0])
_PROFILE_RIDE = np.array([3, 2, 1, 1, 1, 2, 4, 10, 12, 8, 6, 6, 6, 6, 6, 7, 8, 11, 12, 9, 8, 8, 7, 5])
#: trucks on the road (by day) and stopped in towns (mostly at night)
_PROFILE_TRUCK_ROAD = np.array([3, 2, 2, 2, 2, 3, 5, 7, 9, 9, 9, 9, 8, 8, 9, 9, 9, 8, 7, 6, 5, 4, 4, 3])
_PROFILE_TRUCK_STOP = np.array([12, 12, 11, 10, 8, 6, 4, 3, 2, 2, 2, 3, 4, 3, 2, 2, 2, 3, 4, 6, 8, 10, 11, 12])
#: Towns where trucks stop for the night (weights).
TRUCK_STOPS: dict[str, float] = {
    "格尔木": 10, "德令哈": 6, "茶卡": 5, "共和": 4, "湟源": 4, "多巴": 5, "倒淌河": 3, "乌兰": 3,
    "大柴旦": 4, "花土沟": 3, "冷湖": 2, "都兰": 3, "诺木洪": 2, "纳赤台": 2, "玛多": 2, "花石峡": 2,
    "玉树": 3, "门源": 2, "大通": 2, "天峻": 2, "刚察": 1.5, "黑马河": 2, "怀头他拉": 2, "温泉": 1.5,
}
#: (group, share of the points, city place kinds, hourly profile); trucks are handled apart.
CITY_GROUPS: list[tuple[str, float, str, np.ndarray]] = [
    ("外卖配送员", 0.42, "cr", _PROFILE_DELIVERY),   # picked up in business areas, delivered home
    ("快递员", 0.22, "rl", _PROFILE_COURIER),
    ("网约车司机", 0.11, "hc", _PROFILE_RIDE),
]
_TRUCK_SHARE = 0.25
_XINING_CORE = ("630102", "630103", "630104", "630105")  # the four city districts: busiest
_TRUCK_AT_STOPS = 0.45


# -- geometry helpers ------------------------------------------------------------------------------

def _xy(names: tuple[str, ...] | list[str]) -> np.ndarray:
    """(n, 2) lon/lat of road points."""
    return np.array([POINTS[n] for n in names], dtype=float)


def _seg_km(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Approximate km between lon/lat points (local equirectangular; fine for densifying)."""
    mid = np.radians((a[..., 1] + b[..., 1]) / 2)
    dx = (b[..., 0] - a[..., 0]) * np.cos(mid) * _KM_PER_DEG
    dy = (b[..., 1] - a[..., 1]) * _KM_PER_DEG
    return np.hypot(dx, dy)


def densify(points: np.ndarray, step_km: float = NODE_STEP_KM) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step_km`` or less along a polyline (its vertices kept).

    Returns ``(coords, is_vertex)``: (m, 2) lon/lat and a boolean mask of the original vertices.
    """
    pts = np.asarray(points, dtype=float)
    n_seg = np.maximum(np.ceil(_seg_km(pts[:-1], pts[1:]) / step_km).astype(int), 1)
    seg = np.repeat(np.arange(len(n_seg)), n_seg)
    k = np.arange(int(n_seg.sum())) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
    t = (k / n_seg[seg])[:, None]
    coords = np.vstack([pts[seg] + t * (pts[seg + 1] - pts[seg]), pts[-1:]])
    return coords, np.r_[k == 0, True]


def corridor_paths() -> dict[str, list[np.ndarray]]:
    """ref -> the (n, 2) WGS-84 polylines of its sections (a shared section is in each ref)."""
    out: dict[str, list[np.ndarray]] = {r: [] for r in REFS}
    for tag, _name, _hw, _layout, names in SECTIONS:
        for ref in tag.split(";"):
            out[ref].append(_xy(names))
    return out


def _point_on_road(place: str, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(lon/lat, unit direction in km space) of a station's spot on the road."""
    if ">" in place:
        a, b = place.split(">")
    else:
        a, b = place, None
        for _tag, _n, _h, _l, names in SECTIONS:
            if place in names:
                i = names.index(place)
                b = names[i + 1] if i + 1 < len(names) else names[i - 1]
                break
    pa, pb = np.array(POINTS[a]), np.array(POINTS[b])  # type: ignore[index]
    at = pa + fraction * (pb - pa)
    d = np.array([(pb[0] - pa[0]) * np.cos(np.radians(pa[1])), pb[1] - pa[1]])
    return at, d / np.hypot(*d)


def _offset(at: np.ndarray, along_km: np.ndarray, across_km: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Move lon/lat points ``along_km`` along and ``across_km`` to the left of ``direction``."""
    east = along_km * direction[..., 0] - across_km * direction[..., 1]
    north = along_km * direction[..., 1] + across_km * direction[..., 0]
    lat = at[..., 1] + north / _KM_PER_DEG
    lon = at[..., 0] + east / (_KM_PER_DEG * np.cos(np.radians(at[..., 1])))
    return np.stack([lon, lat], axis=-1)


# -- stations ---------------------------------------------------------------------------------------

def _services(rng: np.random.Generator, stype: str, urban: bool) -> list[str]:
    services = list(_BASE_SERVICES)
    services += [s for s in _CITY_EXTRA if rng.random() < (0.5 if urban else 0.3)]
    if stype == "司机之家":
        for spellings in _DRIVER_SERVICES:
            if urban and spellings[0] in ("货车停车", "住宿"):
                continue  # a city 司机之家 for ride-hailing drivers: no lorry park, no beds
            if rng.random() < 0.85:
                services.append(spellings[int(rng.integers(len(spellings)))])
        if not urban and not any(s in services for s in _DRIVER_SERVICES[0]):
            services.append("货车停车")  # every corridor 司机之家 has room for lorries
    if stype == "职工服务中心":
        services += list(_CENTRE_SERVICES)
    elif stype in ("工会爱心驿站", "网约送餐员之家") and rng.random() < 0.3:
        services.append("温馨小屋")
    return services


def _row(rng: np.random.Generator, serial: int, stype: str, host: str, place: str, adcode: str,
         status: str, groups: str, lon: float, lat: float, urban: bool) -> dict[str, Any]:
    city, district = DISTRICTS[adcode]
    label = place.lstrip("~")
    brands = _HOST_BRANDS[host]
    brand = brands[int(rng.integers(len(brands)))].format(place=label)
    spellings = _TYPE_SPELLINGS.get(stype, (stype,))
    written = spellings[int(rng.integers(len(spellings)))]
    if stype == "职工服务中心":
        name = f"{district}{label}“会、站、家”一体化职工服务中心"
    elif host == "其他":
        name = f"{label}{stype}"
    else:
        name = f"{brand}{stype}"
    if stype == "司机之家" or host == "加油站":
        hours = "24h" if rng.random() < 0.75 else "06:00-23:00"
    else:
        hours = _CITY_HOURS[int(rng.choice(len(_CITY_HOURS), p=np.array([h[1] for h in _CITY_HOURS])))][0]
    services = _services(rng, stype, urban)
    phone = f"{_AREA_CODES[adcode[:4]]}-{int(rng.integers(1000000, 8999999))}"
    return {
        "编号": f"QH{adcode}-{serial:03d}",
        "名称": name,
        "类型": written,
        "服务对象": groups,
        "地址": f"青海省{city}{district}{label}{int(rng.integers(1, 200))}号",
        # the code on two rows out of three; always for 大柴旦, whose name is not a county's
        "行政区划代码": "" if serial % 3 == 0 and adcode != "632825" else adcode,
        "所在市州": city,
        "所在区县": district,
        "依托单位": host,
        "服务内容": "、".join(services),
        "开放时间": hours,
        "座位数": int(rng.integers(4, 41 if stype == "司机之家" else 21)),
        "联系电话": phone,
        "状态": status,
        "数据来源": SOURCE,
        "经度": lon,
        "纬度": lat,
    }


def station_positions(*, seed: int = SEED) -> pd.DataFrame:
    """WGS-84 positions of the sample stations with their stated adcode and kind (for tests).

    Columns ``lon``, ``lat`` (WGS-84), ``adcode``, ``type``, ``place``, ``on_corridor``; the rows are
    in the order of :func:`generate_stations`.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    # corridor stations: beside the road, up to 800 m along it and 60-600 m off it
    n = len(CORRIDOR_STATIONS)
    spots = [_point_on_road(p, f) for p, f, *_ in CORRIDOR_STATIONS]
    at = np.array([s[0] for s in spots])
    direction = np.array([s[1] for s in spots])
    along = rng.uniform(-0.8, 0.8, n)
    across = rng.uniform(0.06, 0.6, n) * rng.choice([-1.0, 1.0], n)
    xy = _offset(at, along, across, direction)
    # two stations of one town drawn within 100 m of each other: move the second 150 m off the road
    from scipy.spatial import cKDTree

    km = np.column_stack([xy[:, 0] * _KM_PER_DEG * np.cos(np.radians(xy[:, 1])), xy[:, 1] * _KM_PER_DEG])
    close = np.array(sorted(cKDTree(km).query_pairs(0.1)), dtype=np.int64).reshape(-1, 2)
    if len(close):
        second = np.unique(close[:, 1])
        xy[second] = _offset(xy[second], np.zeros(len(second)), 0.15 * np.sign(across[second]),
                             direction[second])
    for (place, _f, stype, _host, adcode, _st, _g), (lon, lat) in zip(CORRIDOR_STATIONS, xy):
        rows.append({"lon": lon, "lat": lat, "adcode": adcode, "type": stype,
                     "place": place.split(">")[0], "on_corridor": True})
    # city stations: within each place's radius
    for stype, count, kinds, _hosts, _groups in CITY_MIX:
        places = [p for p in CITY_PLACES if p[4] in kinds]
        pick = rng.choice(len(places), size=count, replace=count > len(places))
        radius = np.array([places[i][5] for i in pick])
        dist = radius * np.sqrt(rng.uniform(0.02, 1.0, count))
        angle = rng.uniform(0, 2 * np.pi, count)
        centre = np.array([[places[i][1], places[i][2]] for i in pick])
        xy = _offset(centre, dist * np.cos(angle), dist * np.sin(angle),
                     np.tile([1.0, 0.0], (count, 1)))
        for i, (lon, lat) in zip(pick, xy):
            rows.append({"lon": lon, "lat": lat, "adcode": places[i][3], "type": stype,
                         "place": places[i][0], "on_corridor": False})
    return pd.DataFrame(rows)


def generate_stations(*, seed: int = SEED) -> pd.DataFrame:
    """A synthetic station table for Qinghai with Chinese headers, as a user's file would have.

    Columns: 编号, 名称, 类型, 服务对象, 地址, 行政区划代码, 所在市州, 所在区县, 依托单位, 服务内容,
    开放时间, 座位数, 联系电话, 状态, 数据来源, 经度, 纬度 -- coordinates in GCJ-02 (:data:`CRS`),
    行政区划代码 empty on every third row (the district names say where the station is).
    """
    from ..geodata.crs import wgs84_to_gcj02

    pos = station_positions(seed=seed)
    glon, glat = wgs84_to_gcj02(pos["lon"].to_numpy(), pos["lat"].to_numpy())
    rng = np.random.default_rng(seed + 7)
    rows: list[dict[str, Any]] = []
    for k, (place, _f, stype, host, adcode, status, groups) in enumerate(CORRIDOR_STATIONS):
        rows.append(_row(rng, k + 1, stype, host, place.split(">")[0], adcode, status, groups,
                         round(float(glon[k]), 6), round(float(glat[k]), 6), urban=False))
    k = len(CORRIDOR_STATIONS)
    for stype, count, _kinds, hosts, groups in CITY_MIX:
        for _ in range(count):
            host = hosts[int(rng.integers(len(hosts)))]
            status = "在运营" if rng.random() < 0.9 else "筹建中"
            rows.append(_row(rng, k + 1, stype, host, str(pos["place"].iloc[k]), str(pos["adcode"].iloc[k]),
                             status, groups, round(float(glon[k]), 6), round(float(glat[k]), 6), urban=True))
            k += 1
    return pd.DataFrame(rows)


# -- hotspots ----------------------------------------------------------------------------------------

def _along(rng: np.random.Generator, line: np.ndarray, n: int) -> np.ndarray:
    """n points uniformly along a polyline (lon/lat), by length."""
    cum = np.r_[0.0, np.cumsum(_seg_km(line[:-1], line[1:]))]
    s = rng.uniform(0, cum[-1], n)
    return np.column_stack([np.interp(s, cum, line[:, 0]), np.interp(s, cum, line[:, 1])])


def _jitter(rng: np.random.Generator, xy: np.ndarray, sigma_km: np.ndarray | float) -> np.ndarray:
    n = len(xy)
    sigma = np.broadcast_to(np.asarray(sigma_km, dtype=float), (n,))
    return _offset(xy, rng.normal(0, 1, n) * sigma, rng.normal(0, 1, n) * sigma, np.tile([1.0, 0.0], (n, 1)))


def generate_hotspots(n: int = 24_000, *, seed: int = SEED) -> pd.DataFrame:
    """Synthetic demand points: columns ``lon``, ``lat`` (WGS-84), ``weight``, ``time``, ``group``.

    Truck drivers (a quarter of the points): on the corridors by day (weighted by route traffic
    and length, within ~150 m of the road) and stopped in towns at night (around the truck-stop
    towns); delivery riders, couriers and ride-hailing drivers around places in Xining and
    Haidong with their usual daily rhythms.
    """
    rng = np.random.default_rng(seed + 1)
    parts: list[pd.DataFrame] = []
    # trucks on the road
    n_truck = int(n * _TRUCK_SHARE)
    n_stop = int(n_truck * _TRUCK_AT_STOPS)
    n_road = n_truck - n_stop
    lines = [(ref, line) for ref, group in corridor_paths().items() for line in group]
    weight = np.array([TRAFFIC[ref] * _seg_km(line[:-1], line[1:]).sum() for ref, line in lines])
    counts = rng.multinomial(n_road, weight / weight.sum())
    road = np.vstack([_along(rng, line, c) for (_ref, line), c in zip(lines, counts)])
    road = _jitter(rng, road, 0.08)
    parts.append(pd.DataFrame({"lon": road[:, 0], "lat": road[:, 1], "group": "货车司机",
                               "hour": rng.choice(24, size=n_road, p=_PROFILE_TRUCK_ROAD / _PROFILE_TRUCK_ROAD.sum())}))
    # trucks stopped in towns
    stops = list(TRUCK_STOPS)
    w = np.array([TRUCK_STOPS[s] for s in stops])
    k = rng.choice(len(stops), size=n_stop, p=w / w.sum())
    xy = _jitter(rng, _xy(stops)[k], 0.5)
    parts.append(pd.DataFrame({"lon": xy[:, 0], "lat": xy[:, 1], "group": "货车司机",
                               "hour": rng.choice(24, size=n_stop, p=_PROFILE_TRUCK_STOP / _PROFILE_TRUCK_STOP.sum())}))
    # city groups
    shares = np.array([g[1] for g in CITY_GROUPS])
    city_counts = np.floor(shares / shares.sum() * (n - n_truck)).astype(int)
    city_counts[0] += n - n_truck - int(city_counts.sum())
    weights = {"c": 3.0, "r": 2.0, "l": 1.5, "h": 2.0}
    for (group, _share, kinds, profile), count in zip(CITY_GROUPS, city_counts):
        places = [p for p in CITY_PLACES if p[4] in kinds]
        pw = np.array([weights[p[4]] * (2.0 if p[3] in _XINING_CORE else 1.0) for p in places])
        k = rng.choice(len(places), size=count, p=pw / pw.sum())
        centre = np.array([[places[i][1], places[i][2]] for i in k])
        sigma = np.array([max(places[i][5], 0.6) for i in k])
        xy = _jitter(rng, centre, sigma)
        parts.append(pd.DataFrame({"lon": xy[:, 0], "lat": xy[:, 1], "group": group,
                                   "hour": rng.choice(24, size=count, p=profile / profile.sum())}))
    frame = pd.concat(parts, ignore_index=True)
    minute = pd.Series(rng.integers(0, 60, len(frame)), index=frame.index)
    frame["time"] = (f"{SAMPLE_DATE}T" + frame["hour"].astype(str).str.zfill(2) + ":"
                     + minute.astype(str).str.zfill(2) + ":00")
    frame["weight"] = 1 + rng.poisson(0.5, len(frame))
    frame["lon"] = frame["lon"].round(6)
    frame["lat"] = frame["lat"].round(6)
    return frame[["lon", "lat", "weight", "time", "group"]]


# -- highways ------------------------------------------------------------------------------------------

#: Ways are cut into pieces of at most this many nodes (as mapped roads are).
_WAY_NODES = 16
_HALF_CARRIAGEWAY_M = 15.0


def highway_elements() -> tuple[np.ndarray, list[tuple[int, list[int], dict[str, str]]]]:
    """The nodes and ways of the synthetic highway file.

    Returns ``(nodes, ways)``: ``nodes`` an (m, 3) array of id, lon, lat (WGS-84, rounded to 1e-7
    degree as OSM stores them); ``ways`` a list of (id, node ids, tags).  Road points
    (:data:`POINTS`) are nodes 1, 2, …, in their order, shared by every way through them; the other
    nodes are numbered from 100001 in the order they are made.  A ``dual`` section gets two
    ``oneway=yes`` carriageways, the one running east (towards the larger longitude) 15 m south of
    the centre line and the other 15 m north (towns between included), joined only at the
    section's two end points.
    """
    point_id = {name: i + 1 for i, name in enumerate(POINTS)}
    node_rows: list[np.ndarray] = [np.column_stack([np.arange(1, len(POINTS) + 1), _xy(list(POINTS))])]
    next_node = 100001
    next_way = 1001
    ways: list[tuple[int, list[int], dict[str, str]]] = []

    def chain(coords: np.ndarray, is_vertex: np.ndarray, names: list[str]) -> list[int]:
        nonlocal next_node
        ids = np.empty(len(coords), dtype=np.int64)
        vertex_pos = np.flatnonzero(is_vertex)
        ids[vertex_pos] = [point_id[n] for n in names]
        inner = np.flatnonzero(~is_vertex)
        ids[inner] = np.arange(next_node, next_node + len(inner))
        next_node += len(inner)
        node_rows.append(np.column_stack([ids[inner], coords[inner]]))
        return ids.tolist()

    def add_ways(ids: list[int], tags: dict[str, str]) -> None:
        nonlocal next_way
        for start in range(0, len(ids) - 1, _WAY_NODES - 1):
            part = ids[start:start + _WAY_NODES]
            if len(part) >= 2:
                ways.append((next_way, part, dict(tags)))
                next_way += 1

    for tag, name, highway, layout, names in SECTIONS:
        coords, is_vertex = densify(_xy(names))
        tags = {"highway": highway, "ref": tag, "name": name}
        if layout == "dual":
            shift = _HALF_CARRIAGEWAY_M / 1000 / _KM_PER_DEG
            east_first = coords[-1, 0] > coords[0, 0]
            ends = np.zeros_like(is_vertex)
            ends[[0, -1]] = True
            for forward in (True, False):
                c = coords.copy()
                runs_east = forward == east_first
                c[1:-1, 1] += -shift if runs_east else shift   # drive on the right
                ids = chain(c, ends, [names[0], names[-1]])
                add_ways(ids if forward else ids[::-1], {**tags, "oneway": "yes"})
        else:
            ids = chain(coords, is_vertex, list(names))
            if highway == "motorway":
                tags["oneway"] = "no"
            add_ways(ids, tags)
    nodes = np.vstack(node_rows)
    nodes[:, 1:] = np.round(nodes[:, 1:], 7)
    return nodes, ways


def write_highways(path: str | Path) -> Path:
    """Write the synthetic highway corridors as an OpenStreetMap XML file (WGS-84); returns the path.

    Read it with ``yizhan.geodata.highways.read_highway_ways(path)`` and measure it with
    ``yizhan.coverage.corridors.analyze_corridors``.  See :data:`SECTIONS` for what it holds.
    """
    path = Path(path)
    nodes, ways = highway_elements()
    lines = ["<?xml version='1.0' encoding='UTF-8'?>",
             '<osm version="0.6" generator="yizhan.samples.qinghai (synthetic)">']
    lines += [f'  <node id="{int(i)}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>'
              for i, lon, lat in nodes[np.argsort(nodes[:, 0])]]
    for wid, ids, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines += [f'    <nd ref="{n}"/>' for n in ids]
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
