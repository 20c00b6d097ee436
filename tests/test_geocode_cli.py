"""From an address-only station list to a located registry, on the command line: import rows
without coordinates (status 待定位), `yizhan geocode` against local stubs of Amap and 天地图 (their
documented formats and errors), resuming after a fatal error, and export with GCJ-02/BD-09 columns.

Expected coordinates are computed independently: Amap answers in GCJ-02, so a located station must
equal ``gcj02_to_wgs84`` of the stub's point; 天地图 answers are stored unchanged (CGCS2000 taken as
WGS-84).  Nothing here touches the internet.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from geocode_stubs import GOOD_KEY, AmapStub, TiandituStub, amap_geocode, tianditu_location

from yizhan.cli import main
from yizhan.geodata import boundaries
from yizhan.geodata.crs import gcj02_to_wgs84, to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from yizhan.stations.storage import Registry

CURATED = Path(__file__).resolve().parents[2] / "shared" / "data" / "stations" / "union_stations_curated.csv"

# WGS-84 points inside 越秀区 (440104), one in 天河区 (440106) 11 km away, and their GCJ-02 (Amap) values
A_WGS, B_WGS, FAR_WGS = (113.2700, 23.1290), (113.2850, 23.1300), (113.4000, 23.2000)


def gcj(point: tuple[float, float]) -> tuple[float, float]:
    x, y = wgs84_to_gcj02(*point)
    return round(float(x), 6), round(float(y), 6)


ROWS = [  # 名称, 类型, 区, 市, 地址, 经度, 纬度, 状态
    ("越秀区工人文化宫驿站", "工会爱心驿站", "越秀区", "广州市", "解放南路工人文化宫", "", "", ""),
    ("越秀区较场西营业厅驿站", "工会爱心驿站", "越秀区", "广州市", "较场西路营业厅", "", "", "筹建中"),
    ("越秀区无名驿站", "工会爱心驿站", "越秀区", "广州市", "查无此处", "", "", ""),
    ("越秀区错位驿站", "工会爱心驿站", "越秀区", "广州市", "远方大道", "", "", ""),
    ("天河体育中心驿站", "工会爱心驿站", "天河区", "广州市", "体育西路1号", "113.3245", "23.1375", ""),
]


def write_rows(path: Path, rows=ROWS) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["名称", "类型", "区县", "城市", "地址", "经度", "纬度", "状态"])
        w.writerows(rows)
    return path


def amap_answers() -> dict[str, dict]:
    return {"工人文化宫": amap_geocode(*gcj(A_WGS), "兴趣点", "广州市越秀区工人文化宫"),
            "较场西路": amap_geocode(*gcj(B_WGS), "道路", "广州市越秀区较场西路"),
            "远方大道": amap_geocode(*gcj(FAR_WGS), "门牌号", "广州市天河区远方大道1号")}


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def cli(home: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False, env=env)


def registry(home: Path) -> Registry:
    return Registry(f"sqlite:///{home / 'yizhan.sqlite'}")


def imported(home: Path, tmp_path: Path, rows=ROWS) -> Registry:
    result = cli(home, "import-stations", str(write_rows(tmp_path / "list.csv", rows)))
    assert result.exit_code == 0, result.output
    return registry(home)


def geocode(home: Path, stub, provider: str = "amap", *extra: str, key: str = GOOD_KEY):
    return cli(home, "geocode", "--provider", provider, "--key", key, "--base-url", stub.base_url,
               "--min-interval", "0", "--timeout", "0.3", "--json", *extra)


def objects(result) -> list[dict]:
    return json.loads(result.stdout)


# -- importing rows without coordinates ---------------------------------------------------------------
def test_rows_without_coordinates_import_as_waiting(home: Path, tmp_path: Path) -> None:
    result = cli(home, "import-stations", str(write_rows(tmp_path / "list.csv")))
    assert result.exit_code == 0, result.output
    assert "待定位 4" in result.stdout and "4 waiting for a location" in result.stdout
    frame = registry(home).stations().set_index("name")
    waiting = frame[frame["status"] == "待定位"]
    assert len(waiting) == 4 and waiting["lon"].isna().all() and waiting["lat"].isna().all()
    assert set(waiting["adcode"]) == {"440104"}                         # the stated district, from its name
    assert waiting.loc["越秀区较场西营业厅驿站", "located_status"] == "筹建中"   # the status it takes once located
    assert waiting.loc["越秀区工人文化宫驿站", "located_status"] == "在运营"
    assert frame.loc["天河体育中心驿站", "status"] == "在运营"
    # never counted: the nearest-station answer for a point at a waiting station's address is the located one
    near = cli(home, "nearest", *map(str, A_WGS), "--json")
    assert near.exit_code == 0, near.output
    assert {s["name"] for s in json.loads(near.stdout)} == {"天河体育中心驿站"}
    # importing the same file again changes nothing (same generated ids)
    again = cli(home, "import-stations", str(tmp_path / "list.csv"))
    assert "新增 0，更新 0，未变 5，待定位 4" in again.stdout


def test_one_coordinate_missing_still_rejects_the_file(home: Path, tmp_path: Path) -> None:
    rows = ROWS[:1] + [("半个坐标站", "工会爱心驿站", "越秀区", "广州市", "某路", "", "23.13", "")]
    result = cli(home, "import-stations", str(write_rows(tmp_path / "bad.csv", rows)))
    assert result.exit_code == 2 and "第 3 行" in result.output and "缺少坐标" in result.output
    assert registry(home).count() == 0


def test_the_curated_union_list_imports(home: Path) -> None:
    if not CURATED.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"missing shared data file {CURATED}")
        pytest.skip("shared data not present")
    result = cli(home, "import-stations", str(CURATED))
    assert result.exit_code == 0, result.output
    assert "新增 43" in result.stdout and "待定位 35" in result.stdout
    assert "引号不规范" in result.output                                  # row 7's stray quotes, read as Excel does
    frame = registry(home).stations()
    raw = pd.read_csv(CURATED, dtype=str, keep_default_na=False, engine="c")
    assert len(frame) == len(raw) == 43
    waiting = frame[frame["status"] == "待定位"]
    assert len(waiting) == 35 and waiting["lon"].isna().all()
    assert (waiting["adcode"] != "").all()                               # every one filed under a district or city
    # the 8 rows with coordinates say GCJ-02 in their own crs column: converted, not stored as given
    located = frame[frame["status"] != "待定位"].merge(raw, on="name", suffixes=("", "_raw"))
    assert len(located) == 8 and (located["orig_crs"] == "gcj02").all()
    x, y = gcj02_to_wgs84(located["lon_raw"].astype(float).to_numpy(), located["lat_raw"].astype(float).to_numpy())
    np.testing.assert_allclose(located["lon"], x, atol=1e-7)
    np.testing.assert_allclose(located["lat"], y, atol=1e-7)
    # 都昌县/中馆镇 is 都昌县 (360428); 松山湖 and 道滘镇 fall back to 东莞市 (441900)
    by_name = frame.set_index("name")["adcode"]
    assert (by_name[raw.loc[raw["district"].str.startswith("都昌县"), "name"]] == "360428").all()
    assert by_name[raw.loc[raw["district"] == "松山湖", "name"].iloc[0]] == "441900"


# -- geocoding end to end -------------------------------------------------------------------------------
def test_amap_geocoding_locates_converts_and_keeps_the_rest_waiting(home: Path, tmp_path: Path) -> None:
    reg = imported(home, tmp_path)
    with AmapStub(amap_answers()) as stub:
        result = geocode(home, stub)
        assert result.exit_code == 0, result.output
        out = {o["id"]: o for o in objects(result)}
        names = reg.stations().set_index("id")["name"]
        by_name = {names[i]: o for i, o in out.items()}
        assert set(by_name) == {r[0] for r in ROWS[:4]}
        assert all(set(o) >= {"id", "status", "precision", "lon", "lat", "provider"} for o in out.values())
        # a POI answer in the stated district: located, GCJ-02 converted to WGS-84
        a = by_name["越秀区工人文化宫驿站"]
        assert (a["status"], a["precision"], a["provider"]) == ("located", "poi", "amap")
        ex, ey = gcj02_to_wgs84(*gcj(A_WGS))
        assert a["lon"] == pytest.approx(float(ex), abs=1e-7) and a["lat"] == pytest.approx(float(ey), abs=1e-7)
        # a road answer is below --min-precision poi: waiting, its candidate kept for a person
        b = by_name["越秀区较场西营业厅驿站"]
        assert (b["status"], b["precision"]) == ("waiting", "road")
        # no result: the district's centre as a district-level candidate, never located
        c = by_name["越秀区无名驿站"]
        assert (c["status"], c["precision"], c["provider"]) == ("waiting", "district", "boundaries")
        assert boundaries.district_of([c["lon"]], [c["lat"]])[0] == "440104"
        # an exact answer 11 km from the stated district: not accepted
        d = by_name["越秀区错位驿站"]
        assert d["status"] == "waiting" and d["precision"] == "door"
        requests_made = len(stub.requests)
        assert requests_made == 4 and all(p["key"] == GOOD_KEY and p.get("city") == "440100" for _, p in stub.requests)
        assert GOOD_KEY not in result.stderr

        frame = reg.stations().set_index("name")
        assert frame.loc["越秀区工人文化宫驿站", "status"] == "在运营"
        assert frame.loc["越秀区工人文化宫驿站", "precision"] == "poi"
        assert frame.loc["越秀区工人文化宫驿站", "orig_crs"] == "gcj02"
        assert (frame.loc["越秀区工人文化宫驿站", "orig_lon"], frame.loc["越秀区工人文化宫驿站", "orig_lat"]) == \
            pytest.approx(gcj(A_WGS), abs=1e-6)
        cand = json.loads(frame.loc["越秀区较场西营业厅驿站", "candidate"])
        assert cand["precision"] == "road" and cand["level"] == "道路" and cand["provider"] == "amap"
        assert (cand["lon"], cand["lat"]) == pytest.approx(tuple(float(v) for v in gcj02_to_wgs84(*gcj(B_WGS))))
        # the located station now answers nearest-station queries
        near = json.loads(cli(home, "nearest", *map(str, A_WGS), "--json", "--k", "1").stdout)
        assert near[0]["name"] == "越秀区工人文化宫驿站" and near[0]["distance_m"] < 5

        # accepting road precision: the cached answer locates it, the located status comes from the file
        time.sleep(1.05)                    # the candidates' "at" stamps (seconds) differ from the first run's
        again = geocode(home, stub, "amap", "--min-precision", "road")
        assert again.exit_code == 0, again.output
        assert len(stub.requests) == requests_made                     # all from the cache
        assert registry(home).get(frame.loc["越秀区较场西营业厅驿站", "id"])["status"] == "筹建中"
        assert "缓存命中 3" in again.stderr
        # a re-run that finds the same candidates again writes no history for them
        entries = reg.history()
        rerun = entries[entries["note"].str.startswith("geocode amap")]["batch"].iloc[0]
        assert (entries["batch"] == rerun).sum() == 1

    # every result is in the history, one batch per run: undoing the first run's batch is refused
    # while the second changed a station after it; the second run's batch undoes cleanly
    hist = reg.history()
    batches = [b for b in hist["batch"].unique() if b]
    second = hist[hist["note"].str.startswith("geocode amap")]["batch"].iloc[0]
    assert reg.undo_batch(second, user="test") == 1
    assert reg.get(frame.loc["越秀区较场西营业厅驿站", "id"])["status"] == "待定位"
    assert len(batches) >= 3


def test_tianditu_answers_are_stored_unchanged(home: Path, tmp_path: Path) -> None:
    imported(home, tmp_path, ROWS[:1])
    with TiandituStub({"工人文化宫": tianditu_location(*A_WGS, "门址", 100)}) as stub:
        result = geocode(home, stub, "tianditu", "--min-precision", "door")
        assert result.exit_code == 0, result.output
        [o] = objects(result)
        assert (o["status"], o["precision"], o["provider"]) == ("located", "door", "tianditu")
        assert (o["lon"], o["lat"]) == pytest.approx(A_WGS, abs=1e-7)      # CGCS2000 taken as WGS-84: no shift
        [(path, params)] = stub.requests
        assert path == "/geocoder" and params["tk"] == GOOD_KEY
        assert "工人文化宫" in json.loads(params["ds"])["keyWord"]
    row = registry(home).stations().iloc[0]
    assert row["orig_crs"] == "wgs84" and row["status"] == "在运营"


@pytest.mark.parametrize("provider,stub_cls,answers", [
    ("amap", AmapStub, amap_answers()),
    ("tianditu", TiandituStub, {"工人文化宫": tianditu_location(*A_WGS)}),
])
def test_an_invalid_key_stops_with_a_clear_message_and_changes_nothing(home: Path, tmp_path: Path, provider: str,
                                                                      stub_cls, answers) -> None:
    reg = imported(home, tmp_path)
    before = reg.stations()
    with stub_cls(answers) as stub:
        result = geocode(home, stub, provider, key="wrong-key-123")
    assert result.exit_code == 3
    assert ("INVALID_USER_KEY" in result.stderr) if provider == "amap" else ("非法Key" in result.stderr)
    assert "wrong-key-123" not in result.output and "重新运行" in result.stderr
    pd.testing.assert_frame_equal(reg.stations(), before)
    assert len(stub.requests) == 1                                        # stopped at once


@pytest.mark.parametrize("provider,stub_cls,answer", [
    ("amap", AmapStub, lambda p: amap_geocode(*gcj(p), "兴趣点")),
    ("tianditu", TiandituStub, lambda p: tianditu_location(*p, "地名地址", 95)),
])
def test_quota_exceeded_stops_and_the_same_command_resumes(home: Path, tmp_path: Path, provider: str, stub_cls,
                                                           answer) -> None:
    rows = [(f"越秀区驿站{i}", "工会爱心驿站", "越秀区", "广州市", f"中山路{i}号", "", "", "") for i in range(5)]
    reg = imported(home, tmp_path, rows)
    points = {f"中山路{i}号": answer((113.265 + 0.003 * i, 23.128)) for i in range(5)}
    with stub_cls(points) as stub:
        stub.script("ok", "ok", "quota")                 # the third request: quota used up
        first = geocode(home, stub, provider)
        assert first.exit_code == 3, first.output
        assert "已停止" in first.stderr and ("DAILY_QUERY_OVER_LIMIT" in first.stderr or "超限" in first.stderr)
        done = [o for o in objects(first) if o["status"] == "located"]
        assert len(done) == 2                            # written before the stop, nothing lost
        assert (reg.stations()["status"] == "在运营").sum() == 2
        asked = stub.queries()
        second = geocode(home, stub, provider)           # quota back: the same command goes on
        assert second.exit_code == 0, second.output
        assert (reg.stations()["status"] == "在运营").sum() == 5
        resumed = stub.queries()[len(asked):]
        assert len(resumed) == 3 and not set(resumed) & set(asked[:2])   # the first two are not asked again


def test_qps_refusals_are_retried_and_bad_answers_keep_only_that_station_waiting(home: Path, tmp_path: Path) -> None:
    rows = [(f"越秀区驿站{i}", "工会爱心驿站", "越秀区", "广州市", f"中山路{i}号", "", "", "") for i in range(4)]
    reg = imported(home, tmp_path, rows)
    points = {f"中山路{i}号": amap_geocode(*gcj((113.265 + 0.003 * i, 23.128)), "门牌号") for i in range(4)}
    with AmapStub(points) as stub:
        stub.script("qps", query="中山路0号")              # refused once (CUQPS), then answered
        stub.script("truncated", query="中山路1号")
        stub.script("timeout", "timeout", query="中山路2号")
        stub.script("bad_location", query="中山路3号")
        result = geocode(home, stub)
    assert result.exit_code == 0, result.output
    out = {o["id"]: o for o in objects(result)}
    names = reg.stations().set_index("id")["name"]
    status = {names[i]: (o["status"], bool(o["error"])) for i, o in out.items()}
    assert status == {"越秀区驿站0": ("located", False), "越秀区驿站1": ("waiting", True),
                      "越秀区驿站2": ("waiting", True), "越秀区驿站3": ("waiting", True)}
    assert reg.stations().set_index("name").loc["越秀区驿站1", "candidate"] == ""     # nothing guessed
    # rerun later: the errors were not cached, the stations are asked again and located
    with AmapStub(points) as stub:
        again = geocode(home, stub)
        assert {o["status"] for o in objects(again)} == {"located"} and len(stub.requests) == 3


def test_limit_and_key_from_the_environment(home: Path, tmp_path: Path) -> None:
    reg = imported(home, tmp_path)
    with AmapStub(amap_answers()) as stub:
        result = cli(home, "geocode", "--provider", "amap", "--base-url", stub.base_url, "--min-interval", "0",
                     "--limit", "1", "--json", env={"YIZHAN_AMAP_KEY": GOOD_KEY})
        assert result.exit_code == 0, result.output
        assert len(stub.requests) == 1 and len(objects(result)) == 1
    missing = cli(home, "geocode", "--provider", "amap", env={"YIZHAN_AMAP_KEY": ""})
    assert missing.exit_code == 2 and "YIZHAN_AMAP_KEY" in missing.output
    assert (reg.stations()["status"] == "待定位").sum() >= 3


# -- export with the coordinates of the maps people use ---------------------------------------------
def test_export_with_gcj02_and_bd09_columns(home: Path, tmp_path: Path) -> None:
    imported(home, tmp_path)
    out = tmp_path / "out.csv"
    result = cli(home, "export-stations", str(out), "--with-crs", "gcj02,bd09")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype={"id": str})
    cols = list(frame.columns)
    assert cols[cols.index("lat") + 1:cols.index("lat") + 5] == ["lon_gcj02", "lat_gcj02", "lon_bd09", "lat_bd09"]
    located = frame[frame["status"] != "待定位"]
    gx, gy = wgs84_to_gcj02(located["lon"].to_numpy(), located["lat"].to_numpy())
    bx, by = wgs84_to_bd09(located["lon"].to_numpy(), located["lat"].to_numpy())
    np.testing.assert_allclose(located["lon_gcj02"], gx, atol=1e-7)
    np.testing.assert_allclose(located["lat_bd09"], by, atol=1e-7)
    # back to WGS-84 within a centimetre (7 decimals written)
    wx, wy = to_wgs84(located["lon_bd09"].to_numpy(), located["lat_bd09"].to_numpy(), "bd09")
    np.testing.assert_allclose(wx, located["lon"], atol=2e-7)
    np.testing.assert_allclose(wy, located["lat"], atol=2e-7)
    waiting = frame[frame["status"] == "待定位"]
    assert len(waiting) == 4 and waiting[["lon", "lat", "lon_gcj02", "lat_bd09"]].isna().all().all()
    # the printable list of stations still waiting
    only = tmp_path / "waiting.xlsx"
    assert cli(home, "export-stations", str(only), "--status", "待定位").exit_code == 0
    assert len(pd.read_excel(only)) == 4
    gj = tmp_path / "all.geojson"
    assert cli(home, "export-stations", str(gj)).exit_code == 0
    features = json.loads(gj.read_text(encoding="utf-8"))["features"]
    assert sum(f["geometry"] is None for f in features) == 4
    bad = cli(home, "export-stations", str(out), "--with-crs", "utm")
    assert bad.exit_code == 2 and "--with-crs" in bad.output


def test_an_export_with_waiting_stations_imports_back_unchanged(home: Path, tmp_path: Path) -> None:
    reg = imported(home, tmp_path)
    out = tmp_path / "export.csv"
    assert cli(home, "export-stations", str(out), "--with-crs", "gcj02,bd09").exit_code == 0
    other = tmp_path / "other"
    result = cli(other, "import-stations", str(out))
    assert result.exit_code == 0, result.output
    assert "待定位 4" in result.stdout and "candidate" not in result.stderr
    cols = ["id", "name", "status", "located_status", "adcode", "lon", "lat", "precision"]
    pd.testing.assert_frame_equal(registry(other).stations()[cols], reg.stations()[cols])


def test_a_station_filed_under_its_city_gets_its_district_once_located(home: Path, tmp_path: Path) -> None:
    rows = [("大鹏新区驿站", "工会爱心驿站", "大鹏新区", "深圳市", "葵涌街道某路1号", "", "", "")]
    reg = imported(home, tmp_path, rows)
    assert reg.stations()["adcode"].tolist() == ["440300"]          # 大鹏新区 is not in the boundary data: the city
    point = (114.47, 22.59)
    expected = str(boundaries.district_of([point[0]], [point[1]])[0])
    assert expected.startswith("4403") and expected != "440300"
    with AmapStub({"葵涌": amap_geocode(*gcj(point), "门牌号")}) as stub:
        assert geocode(home, stub).exit_code == 0
    row = reg.stations().iloc[0]
    assert row["status"] == "在运营" and row["adcode"] == expected
