"""Station import: formats, encodings, coordinate systems, column mapping and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import STATION_HEADER, STATION_ROWS, write_csv

from yizhan.stations import ImportValidationError, import_stations_file, load_stations_file
from yizhan.geodata import crs as crs_mod
from yizhan.geodata.sphere import haversine_m


def _codes(exc: ImportValidationError) -> set[str]:
    return {p.code for p in exc.problems}


def _reject(path: Path, **kw) -> ImportValidationError:
    with pytest.raises(ImportValidationError) as info:
        load_stations_file(path, **kw)
    return info.value


# -- formats and encodings ---------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "s.csv", STATION_ROWS, encoding=encoding)
    prepared = load_stations_file(path)
    assert list(prepared.frame["name"]) == ["天河体育中心工会爱心驿站", "琶洲快递员之家", "白云物流司机之家"]
    assert prepared.frame.loc[0, "services"] == "饮水、充电、休息座椅"


def test_explicit_gbk_encoding_and_wrong_explicit_encoding(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", STATION_ROWS, encoding="gbk")
    assert len(load_stations_file(path, encoding="gbk").frame) == 3
    exc = _reject(path, encoding="utf-8")
    assert "encoding" in _codes(exc)


def test_xlsx_and_geojson(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "s.csv", STATION_ROWS)
    frame = pd.read_csv(csv_path, dtype=str)
    frame.to_excel(tmp_path / "s.xlsx", index=False)
    from_xlsx = load_stations_file(tmp_path / "s.xlsx").frame
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r["经度"]), float(r["纬度"])]},
                 "properties": {"id": r["编号"], "name": r["名称"], "type": r["类型"],
                                "services": r["服务内容"].split("、"), "hours": r["开放时间"]}}
                for _, r in frame.iterrows()]
    (tmp_path / "s.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features},
                                                   ensure_ascii=False), encoding="utf-8")
    from_geojson = load_stations_file(tmp_path / "s.geojson").frame
    from_csv = load_stations_file(csv_path).frame
    for other in (from_xlsx, from_geojson):
        assert list(other["id"]) == list(from_csv["id"])
        np.testing.assert_allclose(other["lon"], from_csv["lon"])
        assert list(other["services"]) == list(from_csv["services"])


def test_english_headers_and_semicolon_delimiter(tmp_path: Path) -> None:
    header = "id;name;type;lng;latitude;opening_hours\n"
    rows = ["A;站点A;爱心驿站;113.30;23.12;08:00-20:00", "B;站点B;骑手之家;113.40;23.10;"]
    prepared = load_stations_file(write_csv(tmp_path / "e.csv", rows, header=header))
    assert list(prepared.frame["type"]) == ["工会爱心驿站", "网约送餐员之家"]
    assert prepared.frame.loc[1, "groups"] == "外卖配送员"  # default groups of the type
    assert prepared.frame.loc[0, "groups"].split("、")[0] == "外卖配送员"  # love stations serve everyone


def test_unknown_columns_are_reported_as_warning(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", [r + ",x" for r in STATION_ROWS], header=STATION_HEADER.strip() + ",备注\n")
    prepared = load_stations_file(path)
    assert any("备注" in w for w in prepared.warnings)


# -- coordinate systems ---------------------------------------------------------------------------
@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_crs_converted_and_original_kept(tmp_path: Path, system: str) -> None:
    wlon, wlat = np.array([113.3245, 113.3650]), np.array([23.1375, 23.1000])
    slon, slat = crs_mod.from_wgs84(wlon, wlat, system)
    rows = [f"C{i},站{i},工会爱心驿站,{slon[i]:.8f},{slat[i]:.8f}" for i in range(2)]
    path = write_csv(tmp_path / "c.csv", rows, header="id,name,type,lon,lat\n")
    frame = load_stations_file(path, crs=system).frame
    assert haversine_m(frame["lon"], frame["lat"], wlon, wlat).max() < 0.5
    np.testing.assert_allclose(frame["orig_lon"], np.round(slon, 8))
    assert set(frame["orig_crs"]) == {system}
    # Reading the same file as WGS-84 puts the stations hundreds of metres away.
    as_wgs = load_stations_file(path, crs="wgs84").frame
    assert haversine_m(as_wgs["lon"], as_wgs["lat"], wlon, wlat).min() > 100


# -- bad input: each kind gives a clear row/column message and writes nothing ------------------
BAD_CASES = {
    "missing_coord": ("X1,缺坐标站,工会爱心驿站,,,,,,,,23.1", "missing_coord", "经度"),
    "nan_coord": ("X1,NaN站,工会爱心驿站,,,,,,,NaN,23.1", "nan_coord", "经度"),
    "text_in_number": ("X1,文字站,工会爱心驿站,,,,,,,东经113度,23.1", "not_number", "经度"),
    "inf_coord": ("X1,无穷站,工会爱心驿站,,,,,,,inf,23.1", "inf_coord", "经度"),
    "swapped": ("X1,颠倒站,工会爱心驿站,,,,,,,23.1375,113.3245", "swapped", "纬度"),
    "out_of_range": ("X1,越界站,工会爱心驿站,,,,,,,213.3,23.1", "out_of_range", "经度"),
    "abroad": ("X1,东京站,工会爱心驿站,,,,,,,139.69,35.69", "outside_china", "经度"),
    "at_sea": ("X1,海上站,工会爱心驿站,,,,,,,114.5,21.3", "outside_china", "经度"),
    "unknown_type": ("X1,类型错站,加油站驿站,,,,,,,113.30,23.12", "unknown_type", "类型"),
    "bad_hours": ("X1,时间错站,工会爱心驿站,,,25:00-26:00,,,,113.30,23.12", "bad_hours", "开放时间"),
    "bad_capacity": ("X1,座位错站,工会爱心驿站,,,,很多,,,113.30,23.12", "bad_capacity", "座位数"),
    "unknown_status": ("X1,状态错站,工会爱心驿站,,,,,,装修,113.30,23.12", "unknown_status", "状态"),
    "missing_name": ("X1,,工会爱心驿站,,,,,,,113.30,23.12", "missing", "名称"),
    "duplicate_id": ("T1,重号站,工会爱心驿站,,,,,,,113.40,23.20", "duplicate_id", "编号"),
    "near_duplicate": ("T9,同一站点,工会爱心驿站,,,,,,,113.32451,23.13751", "near_duplicate", "经度"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_row_rejects_file_with_row_and_column(tmp_path: Path, registry, case: str) -> None:
    bad_row, code, column = BAD_CASES[case]
    path = write_csv(tmp_path / f"{case}.csv", STATION_ROWS + [bad_row])
    with pytest.raises(ImportValidationError) as info:
        import_stations_file(registry, path)
    problems = [p for p in info.value.problems if p.code == code]
    assert problems, (case, [p.format() for p in info.value.problems])
    assert problems[0].row == 5            # header is row 1, the bad row is the 4th data row
    assert problems[0].column == column
    text = problems[0].format()
    assert "第 5 行" in text and "row 5" in text  # Chinese and English
    assert registry.count() == 0           # all or nothing
    assert registry.history().empty


def test_skip_bad_rows_lists_them_and_imports_the_rest(tmp_path: Path, registry) -> None:
    path = write_csv(tmp_path / "s.csv", STATION_ROWS + [BAD_CASES["swapped"][0], BAD_CASES["unknown_type"][0]])
    with pytest.raises(ImportValidationError):
        import_stations_file(registry, path)
    assert registry.count() == 0
    result = import_stations_file(registry, path, skip_bad_rows=True)
    assert result["created"] == 3
    assert result["skipped_rows"] == [5, 6]
    assert registry.count() == 3


def test_far_from_stated_district(tmp_path: Path) -> None:
    # A Tianhe location claimed to be in 从化区 (440117), tens of km away.
    rows = ["F1,远离站,工会爱心驿站,113.3245,23.1375,440117", "F2,正确站,工会爱心驿站,113.3245,23.1475,440106"]
    path = write_csv(tmp_path / "f.csv", rows, header="id,name,type,lon,lat,adcode\n")
    exc = _reject(path)
    far = [p for p in exc.problems if p.code == "far_from_district"]
    assert [p.row for p in far] == [2]
    assert "从化区" in far[0].zh
    # stated by district name instead of adcode
    rows = ["F1,远离站,工会爱心驿站,113.3245,23.1375,从化区,广州市"]
    exc = _reject(write_csv(tmp_path / "g.csv", rows, header="id,name,type,lon,lat,区县,城市\n"))
    assert "far_from_district" in _codes(exc)


def test_adcode_assigned_from_location(tmp_path: Path) -> None:
    frame = load_stations_file(write_csv(tmp_path / "s.csv", STATION_ROWS)).frame
    assert list(frame["adcode"]) == ["440106", "440105", "440111"]


def test_near_existing_station_rejected(tmp_path: Path, registry) -> None:
    import_stations_file(registry, write_csv(tmp_path / "a.csv", STATION_ROWS))
    path = write_csv(tmp_path / "b.csv", ["N1,另一个名字,工会爱心驿站,,,,,,,113.32452,23.13751"])
    with pytest.raises(ImportValidationError) as info:
        import_stations_file(registry, path)
    assert "near_existing" in _codes(info.value)
    assert registry.count() == 3


def test_reimport_updates_and_records_history(tmp_path: Path, registry) -> None:
    path = write_csv(tmp_path / "a.csv", STATION_ROWS)
    first = import_stations_file(registry, path, user="alice")
    assert first["created"] == 3
    again = import_stations_file(registry, path, user="alice")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    changed = [STATION_ROWS[0].replace("08:00-20:00", "07:00-22:00")] + STATION_ROWS[1:]
    third = import_stations_file(registry, write_csv(tmp_path / "b.csv", changed), user="bob")
    assert third["updated"] == 1
    hist = registry.history("T1")
    assert list(hist["action"]) == ["update", "create"]
    assert list(hist["user"]) == ["bob", "alice"]
    assert json.loads(hist.iloc[0]["before"])["hours"] == "08:00-20:00"
    assert registry.get("T1")["hours"] == "07:00-22:00"


@pytest.mark.parametrize("content,code", [
    (b"", "empty"),
    (b"\x00\x01\x02binary\xff\xfe" * 50, "binary"),
    ("名称,类型\n站,工会爱心驿站\n".encode(), "missing_column"),
    ("名称\n只有一列\n".encode(), "missing_column"),
    ("名称,类型,经度,纬度\n".encode() + "站一,工会爱心驿站,113.3,23.1\n".encode("utf-8")
     + "站二,工会爱心驿站,113.4,23.2\n".encode("gbk"), "mixed_encoding"),
])
def test_file_level_problems(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert code in _codes(_reject(path))
