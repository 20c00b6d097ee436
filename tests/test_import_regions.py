"""Importing stations anywhere in mainland China: a Qinghai file in GCJ-02 with district names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from yizhan.geodata import boundaries as bd
from yizhan.geodata.crs import wgs84_to_gcj02
from yizhan.stations import ImportValidationError, import_stations_file, load_stations_file

HEADER = "编号,名称,类型,省,市,区县,服务内容,开放时间,状态,经度,纬度\n"


def _inside(adcode: str) -> tuple[float, float]:
    """A point well inside a unit (WGS-84), from its shipped polygon."""
    p = shapely.point_on_surface(bd.geometry_of(adcode))
    return p.x, p.y


# (id, name, type, province, city, district, services, WGS-84 point, expected adcode)
ROWS = [
    ("QH1", "格尔木司机之家", "司机之家", "青海省", "海西州", "格尔木市", "停车、淋浴、洗衣", (94.903, 36.402), "632801"),
    ("QH2", "德令哈司机之家", "司机之家", "", "海西蒙古族藏族自治州", "德令哈", "停车、热饭", (97.370, 37.375), "632802"),
    ("QH3", "结古镇户外劳动者服务站点", "户外劳动者服务站点", "", "玉树州", "玉树市", "饮水", (97.006, 33.004), "632701"),
    ("QH4", "城东区会站家一体化服务中心", "“会、站、家”一体化", "", "西宁市", "城东区", "饮水、充电", None, "630102"),
    # 朝阳区 is in Beijing and in Changchun; no city given: the station's location decides
    ("BJ1", "朝阳区爱心驿站", "工会爱心驿站", "", "", "朝阳区", "饮水", None, "110105"),
    # no district at all: filled from the location
    ("XZ1", "布达拉宫广场驿站", "工会爱心驿站", "", "", "", "饮水", (91.1172, 29.6578), "540102"),
]
INSIDE = {"QH4": "630102", "BJ1": "110105"}


def _write(path: Path, rows: list[tuple]) -> Path:
    lines = []
    for sid, name, stype, prov, city, district, services, point, _ in rows:
        lon, lat = point if point is not None else _inside(INSIDE[sid])
        glon, glat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))  # the file is in GCJ-02 (Amap)
        lines.append(f"{sid},{name},{stype},{prov},{city},{district},{services},24h,在运营,"
                     f"{glon[0]:.6f},{glat[0]:.6f}")
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_qinghai_gcj02_file_with_district_names_imports(tmp_path: Path, registry) -> None:
    path = _write(tmp_path / "qinghai.csv", ROWS)
    result = import_stations_file(registry, path, crs="gcj02", user="t")
    assert result["created"] == len(ROWS)
    got = registry.stations().set_index("id")
    for sid, *_, point, expected in ROWS:
        assert got.loc[sid, "adcode"] == expected, sid
        # stored as WGS-84: the GCJ-02 input was converted back (to within centimetres)
        if point is not None:
            assert got.loc[sid, "lon"] == pytest.approx(point[0], abs=1e-5)
            assert got.loc[sid, "lat"] == pytest.approx(point[1], abs=1e-5)
    # the stored adcode agrees with an independent point-in-polygon on the shipped districts
    for sid, row in got.iterrows():
        assert bd.geometry_of(row["adcode"]).covers(shapely.Point(row["lon"], row["lat"])), sid
    assert got.loc["QH4", "type"] == "职工服务中心"


def test_wrong_district_name_is_rejected_and_nothing_is_written(tmp_path: Path, registry) -> None:
    rows = list(ROWS)
    # the Golmud station claims Xining's 城东区, about 700 km away
    rows[0] = rows[0][:4] + ("西宁市", "城东区") + rows[0][6:]
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportValidationError) as info:
        import_stations_file(registry, path, crs="gcj02", user="t")
    problems = [p for p in info.value.problems if p.code == "far_from_district"]
    assert len(problems) == 1
    assert problems[0].row == 2 and problems[0].column == "区县"
    assert "城东区" in problems[0].zh and "km" in problems[0].en
    assert registry.count() == 0  # all or nothing


def test_same_file_read_as_wgs84_lands_elsewhere_near_borders(tmp_path: Path) -> None:
    """Reading GCJ-02 input as WGS-84 moves stations by a few hundred metres (sanity check that
    the conversion is applied): the Golmud station moves by more than 100 m."""
    path = _write(tmp_path / "qinghai.csv", ROWS[:1])
    as_gcj = load_stations_file(path, crs="gcj02").frame
    as_wgs = load_stations_file(path, crs="wgs84").frame
    shift_deg = np.hypot(as_gcj["lon"] - as_wgs["lon"], as_gcj["lat"] - as_wgs["lat"]).iloc[0]
    assert shift_deg > 0.001
