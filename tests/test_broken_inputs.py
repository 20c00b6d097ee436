"""A corpus of broken input files: each gives a clear bilingual error and leaves the registry unchanged.

Files live in tests/input_data/broken/ (small, committed); the 10 MB line and the UTF-16 file are
made by the tests.  Hostile names (markup, spreadsheet formulas) are valid data: stored as text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import INPUT, STATION_ROWS, write_csv

from yizhan.stations import ImportValidationError, import_stations_file

BROKEN = INPUT / "broken"
EXPECTED = {
    "bad_adcode.csv": "bad_adcode", "bad_date.csv": "bad_date", "bad_hours.csv": "bad_hours",
    "bad_json.geojson": "json", "bad_status.csv": "unknown_status", "binary_junk.csv": "binary",
    "broken.xlsx": "xlsx", "control_chars.csv": "control_chars", "duplicate_header.csv": "duplicate_column",
    "duplicate_ids.csv": "duplicate_id", "empty.csv": "empty", "empty_features.geojson": "empty",
    "far_from_district.csv": "far_from_district", "inf_coords.csv": "inf_coord", "invalid_bytes.csv": "encoding",
    "missing_coords.csv": "missing_coord", "missing_name.csv": "missing", "mixed_encoding.csv": "mixed_encoding",
    "nan_coords.csv": "nan_coord", "near_duplicate.csv": "near_duplicate", "negative_capacity.csv": "bad_capacity",
    "not_featurecollection.geojson": "geojson", "old_format.xls": "format", "one_column.csv": "missing_column",
    "only_header.csv": "empty", "out_of_china.csv": "outside_china", "out_of_range.csv": "out_of_range",
    "png_renamed.csv": "binary", "polygon.geojson": "geometry", "ragged_rows.csv": "csv",
    "sea_point.csv": "outside_china", "swapped_columns.csv": "swapped", "text_capacity.csv": "bad_capacity",
    "text_in_number.csv": "not_number", "unclosed_quote.csv": "csv", "unknown_group.csv": "unknown_group",
    "unknown_type.csv": "unknown_type", "zip_not_xlsx.xlsx": "xlsx",
}
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _assert_rejected(registry, path: Path, code: str) -> ImportValidationError:
    before_count, before_history = registry.count(), len(registry.history())
    with pytest.raises(ImportValidationError) as info:
        import_stations_file(registry, path)
    codes = {p.code for p in info.value.problems}
    assert code in codes, (path.name, codes)
    report = info.value.report()
    assert _HAN.search(report) and re.search(r"[a-z]{4,}", report)           # Chinese and English
    assert "nothing was written" in report and "未写入任何数据" in report
    assert registry.count() == before_count and len(registry.history()) == before_history
    return info.value


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in BROKEN.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) + 2 >= 30   # + the two files made below


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_rejected_and_registry_unchanged(tmp_path: Path, registry, name: str) -> None:
    import_stations_file(registry, write_csv(tmp_path / "good.csv", STATION_ROWS))   # a registry with data
    exc = _assert_rejected(registry, BROKEN / name, EXPECTED[name])
    row_level = [p for p in exc.problems if p.row is not None and p.column]
    if EXPECTED[name] in {"bad_hours", "swapped", "unknown_type", "near_duplicate", "nan_coord", "sea_point"}:
        assert row_level, name   # row and column named


def test_ten_megabyte_line(tmp_path: Path, registry) -> None:
    path = tmp_path / "long.csv"
    path.write_text("名称,类型,经度,纬度\n" + "长" * (10 * 1024 * 1024 // 3) + ",工会爱心驿站,113.3,23.1\n", encoding="utf-8")
    assert path.stat().st_size > 10 * 1024 * 1024 - 100
    exc = _assert_rejected(registry, path, "too_long")
    assert exc.problems[0].row == 2


def test_utf16_excel_unicode_text_is_read(tmp_path: Path, registry) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes(("名称\t类型\t经度\t纬度\n天河站\t工会爱心驿站\t113.3245\t23.1375\n").encode("utf-16"))
    assert import_stations_file(registry, path)["created"] == 1
    damaged = tmp_path / "damaged.txt"
    damaged.write_bytes(b"\xff\xfe" + "名称".encode("utf-16-le") + b"\x00")
    _assert_rejected(registry, damaged, "encoding")


@pytest.mark.parametrize("name", ["<img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0", "+SUM(1,2)", "@evil", '"><script>x</script>'])
def test_hostile_names_are_valid_data(tmp_path: Path, registry, name: str) -> None:
    quoted = '"' + name.replace('"', '""') + '"'
    path = write_csv(tmp_path / "h.csv", [f"H1,{quoted},工会爱心驿站,,,,,,,113.3,23.12"])
    assert import_stations_file(registry, path)["created"] == 1
    assert registry.get("H1")["name"] == name     # stored as text, unchanged
