"""The Qinghai sample (yizhan.samples.qinghai): determinism, the station file (GCJ-02, district
names, variant spellings), districts against the national boundaries, the synthetic highway file
(refs, the shared G6;G109 road, the dual carriageway, the G214 break), the corridor analysis on it,
and the CLI (demo --region qinghai, --force replacing another region's sample, analyze, serve).

Expected values are computed here independently: haversine on the mean sphere written out in the
test, the OSM file parsed with xml.etree, the GCJ-02 offset checked against its known size.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import STATION_ROWS, write_csv

import yizhan.geodata
from yizhan.cli import main
from yizhan.samples import REGIONS, load_sample
from yizhan.samples import guangzhou as gz
from yizhan.samples import qinghai as qh
from yizhan.stations import model

R_KM = 6371.0088
NATIONAL = Path(yizhan.geodata.__file__).resolve().parent / "data" / "china_admin.parquet"


def hav_km(lon1, lat1, lon2, lat2):  # noqa: ANN001, ANN201
    """Great-circle km on the mean sphere (the test's own formula)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) / 2) ** 2
    return 2 * R_KM * np.arcsin(np.sqrt(a))


def national_boundaries():  # noqa: ANN201
    """The boundary module, once it covers all of mainland China (else skip)."""
    if not NATIONAL.exists():
        pytest.skip("national boundaries (geodata/data/china_admin.parquet) not built yet")
    from yizhan.geodata import boundaries

    return boundaries


@pytest.fixture(scope="module")
def stations() -> pd.DataFrame:
    return qh.generate_stations()


@pytest.fixture(scope="module")
def positions() -> pd.DataFrame:
    return qh.station_positions()


@pytest.fixture(scope="module")
def hotspots() -> pd.DataFrame:
    return qh.generate_hotspots()


@pytest.fixture(scope="module")
def osm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return qh.write_highways(tmp_path_factory.mktemp("osm") / "highways.osm")


@pytest.fixture
def run(home: Path):
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return _run


# -- determinism ----------------------------------------------------------------------------------

def test_same_seed_same_data(stations: pd.DataFrame, hotspots: pd.DataFrame, osm_file: Path, tmp_path: Path) -> None:
    pd.testing.assert_frame_equal(qh.generate_stations(), stations)
    pd.testing.assert_frame_equal(qh.generate_hotspots(), hotspots)
    assert qh.write_highways(tmp_path / "again.osm").read_bytes() == osm_file.read_bytes()
    other = qh.generate_stations(seed=qh.SEED + 1)
    assert not np.allclose(other["经度"].to_numpy(float), stations["经度"].to_numpy(float))
    assert REGIONS["qinghai"].module == "qinghai" and REGIONS["qinghai"].adcode == "630000"


# -- the station file -----------------------------------------------------------------------------

def test_station_file_format(stations: pd.DataFrame, positions: pd.DataFrame) -> None:
    gz_columns = ["编号", "名称", "类型", "服务对象", "地址", "行政区划代码", "依托单位", "服务内容", "开放时间",
                  "座位数", "联系电话", "状态", "数据来源", "经度", "纬度"]
    assert set(gz_columns) <= set(stations.columns)
    assert set(stations.columns) - set(gz_columns) == {"所在市州", "所在区县"}
    assert 60 <= len(stations) <= 120
    assert stations["编号"].is_unique and stations["编号"].str.fullmatch(r"QH63\d{4}-\d{3}").all()
    # every spelling normalises; the file uses variants on purpose
    types = stations["类型"].map(model.normalize_type)
    assert types.notna().all()
    assert {"“会、站、家”一体化职工服务中心", "户外劳动者站点"} <= set(stations["类型"])
    assert set(types) == set(model.STATION_TYPES)
    for text in stations["服务内容"]:
        canonical = model.normalize_services(text)
        assert set(model.split_list(canonical)) <= set(model.SERVICES), text
    services = stations["服务内容"].map(model.normalize_services)
    centres = (types == "职工服务中心").to_numpy()
    assert services[centres].str.contains("职工书屋").all() and services[centres].str.contains("温馨小屋").all()
    # a corridor 司机之家 always has lorry parking; most have showers, meals and beds
    corridor = np.zeros(len(stations), dtype=bool)
    corridor[:len(qh.CORRIDOR_STATIONS)] = True
    drivers = (types == "司机之家").to_numpy() & corridor
    assert drivers.sum() >= 20
    assert services[drivers].str.contains("货车停车").all()
    for needed in ("淋浴", "餐饮", "住宿", "洗衣"):
        assert services[drivers].str.contains(needed).mean() > 0.6, needed
    assert stations.loc[drivers, "服务对象"].str.contains("货车司机").all()
    # names: every row; codes on two rows of three
    assert (stations["所在区县"] != "").all() and (stations["所在市州"] != "").all()
    blank = stations["行政区划代码"] == ""
    assert 0.2 < blank.mean() < 0.4
    coded = stations[~blank]
    names = coded["行政区划代码"].map(lambda c: qh.DISTRICTS[c])
    assert (names.str[0] == coded["所在市州"]).all() and (names.str[1] == coded["所在区县"]).all()
    assert set(stations["状态"]) <= set(model.STATUSES) and (stations["状态"] == "在运营").mean() > 0.8
    # stations in Xining and Haidong, and along the far corridors
    adcodes = positions["adcode"]
    assert set(adcodes) <= set(qh.DISTRICTS)
    assert adcodes.str.startswith("6301").sum() >= 25 and adcodes.str.startswith("6302").sum() >= 3
    assert adcodes.str.startswith("6328").sum() >= 15


def test_station_coordinates_are_gcj02(stations: pd.DataFrame, positions: pd.DataFrame) -> None:
    """The file holds GCJ-02: tens to hundreds of metres from the WGS-84 positions (the GCJ-02
    offset, small in western Qinghai), and the library's inverse brings them back to within a metre."""
    from yizhan.geodata.crs import gcj02_to_wgs84

    glon, glat = stations["经度"].to_numpy(float), stations["纬度"].to_numpy(float)
    wlon, wlat = positions["lon"].to_numpy(), positions["lat"].to_numpy()
    shift = hav_km(wlon, wlat, glon, glat) * 1000
    assert (shift > 30).all() and (shift < 400).all() and np.median(shift) > 100   # 44-243 m here
    blon, blat = gcj02_to_wgs84(glon, glat)
    assert (hav_km(wlon, wlat, blon, blat) * 1000 < 1.0).all()
    # no two stations within 50 m (the import rejects near duplicates)
    from scipy.spatial import cKDTree

    xy = np.column_stack([wlon * 111.195 * math.cos(math.radians(36)), wlat * 111.195])
    assert not cKDTree(xy).query_pairs(0.05)


def test_every_station_in_its_stated_district(positions: pd.DataFrame) -> None:
    boundaries = national_boundaries()
    codes = boundaries.district_of(positions["lon"].to_numpy(), positions["lat"].to_numpy())
    assert all(str(c).startswith("63") for c in codes)
    wrong = positions.assign(found=codes)[codes != positions["adcode"].to_numpy()]
    assert wrong.empty, wrong[["place", "type", "adcode", "found"]].to_string()
    # rows without a code: their district names alone identify the stated district
    stations = qh.generate_stations()
    blank = (stations["行政区划代码"] == "").to_numpy()
    named = [boundaries.lookup_adcode(d, city=c)
             for d, c in zip(stations.loc[blank, "所在区县"], stations.loc[blank, "所在市州"])]
    assert named == list(positions.loc[blank, "adcode"])
    # and the names of every row are the boundary data's names (except 大柴旦行委, 海西州直辖 there)
    for code, (_city, district) in qh.DISTRICTS.items():
        assert code == "632825" or boundaries.name_of(code) == district


def test_every_road_and_hotspot_in_qinghai(hotspots: pd.DataFrame) -> None:
    boundaries = national_boundaries()
    codes = boundaries.district_of(hotspots["lon"].to_numpy(), hotspots["lat"].to_numpy())
    assert pd.Series(codes, dtype=str).str.startswith("63").all()
    nodes, _ = qh.highway_elements()
    road = boundaries.district_of(nodes[:, 1], nodes[:, 2])
    assert pd.Series(road, dtype=str).str.startswith("63").all()


# -- hotspots -------------------------------------------------------------------------------------

def test_hotspots(hotspots: pd.DataFrame) -> None:
    assert list(hotspots.columns) == list(gz.generate_hotspots(n=50).columns)
    assert 10_000 <= len(hotspots) <= 50_000
    assert set(hotspots["group"]) == {"外卖配送员", "快递员", "网约车司机", "货车司机"}
    trucks = hotspots[hotspots["group"] == "货车司机"]
    assert 0.2 < len(trucks) / len(hotspots) < 0.3
    # every truck point is near a corridor: within 4 km of a node of the highway file
    from scipy.spatial import cKDTree

    nodes, _ = qh.highway_elements()
    k = 111.195 * math.cos(math.radians(36))
    tree = cKDTree(np.column_stack([nodes[:, 1] * k, nodes[:, 2] * 111.195]))
    dist, _ = tree.query(np.column_stack([trucks["lon"] * k, trucks["lat"] * 111.195]))
    assert dist.max() < 4.0
    # at Golmud (格尔木) trucks stop at night
    lon, lat = qh.POINTS["格尔木"]
    near = trucks[hav_km(trucks["lon"], trucks["lat"], lon, lat) < 2.0]
    hour = pd.to_datetime(near["time"]).dt.hour
    night = ((hour >= 20) | (hour < 6)).mean()          # 10 of the 24 hours
    assert len(near) > 200 and night > 0.6
    # riders and couriers work in Xining and Haidong only
    city = hotspots[hotspots["group"].isin(["外卖配送员", "快递员"])]
    to_xining = hav_km(city["lon"], city["lat"], 101.771, 36.617)
    to_haidong = hav_km(city["lon"], city["lat"], 102.25, 36.49)
    assert ((to_xining < 35) | (to_haidong < 20)).all()
    assert (to_xining < 12).mean() > 0.6


# -- the highway file -------------------------------------------------------------------------------

def _parse(path: Path) -> tuple[dict[int, tuple[float, float]], list[tuple[int, list[int], dict[str, str]]]]:
    root = ET.parse(path).getroot()
    nodes = {int(n.get("id")): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    ways = [(int(w.get("id")), [int(nd.get("ref")) for nd in w.iter("nd")],
             {t.get("k"): t.get("v") for t in w.iter("tag")}) for w in root.iter("way")]
    return nodes, ways


def test_highway_file_parses(osm_file: Path) -> None:
    nodes, ways = _parse(osm_file)
    refs = {w[2]["ref"] for w in ways}
    assert refs == {"G6", "G109", "G315", "G227", "G214", "G6;G109", "G109;G315"}
    assert all(n in nodes for _, ids, _ in ways for n in ids)              # no dangling node
    assert all(t["highway"] in ("motorway", "trunk", "primary") for *_, t in ways)
    # nodes every 1-2 km (never more than 2 km apart, never doubled)
    for _, ids, _ in ways:
        xy = np.array([nodes[i] for i in ids])
        step = hav_km(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1])
        assert step.max() <= 2.0 and step.min() > 0.1
    # towns shared by several routes are one node
    huangyuan = [i for i, xy in nodes.items() if xy == qh.POINTS["湟源"]]
    assert len(huangyuan) == 1
    through = {w[2]["ref"] for w in ways if huangyuan[0] in w[1]}
    assert {"G6", "G6;G109", "G109;G315", "G315"} <= through

    from yizhan.geodata.highways import read_highway_ways

    frame = read_highway_ways(osm_file)
    assert set(frame["ref"]) == {"G6", "G109", "G315", "G227", "G214"}
    shared = {w[0] for w in ways if w[2]["ref"] == "G6;G109"}
    assert shared and all(set(frame.loc[frame["way_id"] == w, "ref"]) == {"G6", "G109"} for w in shared)
    only_g6 = frame[frame["ref"] == "G6"]
    assert set(only_g6["name"]) == {"京藏高速"}


def test_dual_carriageway(osm_file: Path) -> None:
    """G6 between 西宁 and 湟源: two oneway=yes motorways, one per direction, ~30 m apart."""
    nodes, ways = _parse(osm_file)
    dual = [w for w in ways if w[2].get("oneway") == "yes"]
    assert dual and all(w[2]["ref"] == "G6" and w[2]["highway"] == "motorway" for w in dual)
    east, west = [], []
    for _, ids, _ in dual:
        xy = np.array([nodes[i] for i in ids])
        (east if xy[-1, 0] > xy[0, 0] else west).append(xy)
    assert east and west
    e, w = np.vstack(east), np.vstack(west)
    towns = {qh.POINTS["西宁"], qh.POINTS["湟源"]}      # the carriageways meet only at the ends
    assert not any(tuple(p) == qh.POINTS["多巴"] for p in np.vstack(east + west))
    e = np.array([p for p in e if tuple(p) not in towns])
    w = np.array([p for p in w if tuple(p) not in towns])
    # driving on the right: the eastbound carriageway is the southern one, 30 m from the other
    gap_m = (np.median(w[:, 1]) - np.median(e[:, 1])) * math.pi / 180 * R_KM * 1000
    assert 25 < gap_m < 35
    # both carriageways span 西宁 .. 湟源
    span = hav_km(*qh.POINTS["西宁"], *qh.POINTS["湟源"])
    for part in (east, west):
        length = sum(hav_km(p[:-1, 0], p[:-1, 1], p[1:, 0], p[1:, 1]).sum() for p in part)
        assert span < length < span * 1.1
    from yizhan.geodata.highways import read_highway_ways

    frame = read_highway_ways(osm_file, refs="G6")
    assert (frame["oneway"] == 1).sum() == len(dual)
    assert (frame["oneway"] == 0).any()                # the rest of G6 is drawn as one two-way line


def test_g214_has_one_break(osm_file: Path) -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes, ways = _parse(osm_file)
    ids = [ids for _, ids, t in ways if "G214" in t["ref"].split(";")]
    index = {n: i for i, n in enumerate(sorted({n for part in ids for n in part}))}
    a = [index[p[k]] for p in ids for k in range(len(p) - 1)]
    b = [index[p[k + 1]] for p in ids for k in range(len(p) - 1)]
    n_comp, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(len(index),) * 2),
                                         directed=False)
    assert n_comp == 2
    # the missing section is about 10 km long (between the two ~G214缺口 points)
    coords = np.array([nodes[n] for n in sorted(index)])
    first, second = coords[label == 0], coords[label == 1]
    d = hav_km(first[:, None, 0], first[:, None, 1], second[None, :, 0], second[None, :, 1]).min()
    expected = hav_km(*qh.POINTS["~G214缺口北"], *qh.POINTS["~G214缺口南"])
    assert abs(d - expected) < 0.01 and 5 < d < 20
    # every other route is connected
    for ref in ("G6", "G109", "G315", "G227"):
        parts = [ids for _, ids, t in ways if ref in t["ref"].split(";")]
        index = {n: i for i, n in enumerate(sorted({n for p in parts for n in p}))}
        a = [index[p[k]] for p in parts for k in range(len(p) - 1)]
        b = [index[p[k + 1]] for p in parts for k in range(len(p) - 1)]
        n_comp, _ = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(len(index),) * 2),
                                         directed=False)
        assert n_comp == 1, ref


# -- loading, the corridor analysis and the CLI --------------------------------------------------------

def test_load_sample_and_corridor_analysis(registry, home: Path, positions: pd.DataFrame) -> None:
    from yizhan.coverage.corridors import analyze_corridors
    from yizhan.geodata.highways import read_highway_ways

    info = load_sample(registry, home, region="qinghai")
    assert info["loaded"] and info["region"] == "qinghai" and info["crs"] == "gcj02"
    assert info["stations"] == len(positions) and Path(info["roads_file"]).is_file()
    reg = registry.stations().set_index("id")
    assert (reg["orig_crs"] == "gcj02").all()
    file_ids = qh.generate_stations()["编号"]
    got = reg.loc[file_ids]
    # the import converted GCJ-02 back to the WGS-84 positions
    assert (hav_km(got["lon"].to_numpy(), got["lat"].to_numpy(),
                   positions["lon"].to_numpy(), positions["lat"].to_numpy()) * 1000 < 1.0).all()
    assert (got["type"].to_numpy() == positions["type"].to_numpy()).all()
    assert set(model.split_list(model.SEP.join(reg["services"]))) <= set(model.SERVICES)
    if NATIONAL.exists():   # stated or looked-up districts are the real ones
        assert (got["adcode"].to_numpy() == positions["adcode"].to_numpy()).all()

    ways = read_highway_ways(info["roads_file"])
    result = analyze_corridors(ways, registry.stations(), group="货车司机")
    rows = result.corridors.set_index("ref")
    assert set(rows.index) == {"G6", "G109", "G315", "G227", "G214"}
    assert rows.loc["G214", "pieces"] == 2                       # the break
    assert rows.loc["G6", "directions"] == "forward+backward"     # the dual carriageway
    assert rows.loc["G109", "directions"] == "both"
    assert (rows["n_gaps_over_max"] > 0).all() and (rows["stations"] > 0).all()
    # G109 beyond 纳赤台: the 西大滩 point is only planned (筹建中), so the last gap runs from the
    # 纳赤台 司机之家 to the end of the road at 不冻泉
    nachitai = [f"QH{c[4]}-{k + 1:03d}" for k, c in enumerate(qh.CORRIDOR_STATIONS) if c[0] == "纳赤台"][0]
    gaps = result.gaps[(result.gaps["ref"] == "G109")
                       & ((result.gaps["from_station"] == nachitai) | (result.gaps["to_station"] == nachitai))]
    end_gap = gaps[(gaps["from_station"] == "") | (gaps["to_station"] == "")]
    path = np.array([qh.POINTS[p] for p in ("纳赤台", "西大滩", "昆仑山口", "不冻泉")])
    expected = hav_km(path[:-1, 0], path[:-1, 1], path[1:, 0], path[1:, 1]).sum()
    assert len(end_gap) == 1 and abs(end_gap["length_km"].iloc[0] - expected) < 1.0
    assert end_gap["over_max"].iloc[0]


def test_cli_demo_qinghai_and_analyze(run, home: Path, tmp_path: Path) -> None:
    result = run("demo", "--region", "qinghai")
    assert result.exit_code == 0, result.output
    assert "青海" in result.output and "Qinghai" in result.output and "广州" not in result.output
    sample = home / "sample"
    assert (sample / "REGION").read_text(encoding="utf-8").strip() == "qinghai"
    assert (sample / "highways.osm").is_file()
    out = tmp_path / "out"
    result = run("analyze", "--hotspots", str(sample / "hotspots.csv"), "--group", "货车司机", "--out", str(out),
                 "--quiet")
    assert result.exit_code == 0, result.output
    assert "覆盖率" in result.stdout
    cells = pd.read_parquet(out / "cells.parquet")
    assert len(cells) > 0 and (cells["covered"] == (cells["distance_m"] <= 30_000)).all()
    again = run("demo", "--region", "qinghai")
    assert "未载入" in again.output


def test_force_replaces_another_regions_sample(run, home: Path, tmp_path: Path) -> None:
    from yizhan.stations.storage import Registry

    assert run("demo").exit_code == 0                                   # Guangzhou
    assert run("import-stations", str(write_csv(tmp_path / "mine.csv", STATION_ROWS))).exit_code == 0
    reg = Registry(f"sqlite:///{home / 'yizhan.sqlite'}")
    gz_ids = set(reg.stations()["id"]) - {"T1", "T2", "T3"}
    assert len(gz_ids) == 320
    edited = sorted(gz_ids)[0]
    reg.update_station(edited, {"phone": "020-11112222"}, user="gz-admin")

    result = run("demo", "--region", "qinghai", "--force")
    assert result.exit_code == 0, result.output
    assert "已删除上一个样例的 319 个站点" in result.output and "removed 319 stations" in result.output
    ids = set(reg.stations()["id"])
    qh_ids = set(qh.generate_stations()["编号"])
    assert ids == qh_ids | {"T1", "T2", "T3", edited}                  # user's and edited stations kept
    assert (home / "sample" / "REGION").read_text(encoding="utf-8").strip() == "qinghai"
    # the replacement is one undoable batch
    batch = result.output.split("批次 ")[1].split("，")[0]
    assert run("undo", "--batch", batch).exit_code == 0
    assert set(reg.stations()["id"]) == ids | gz_ids
    # and back to Guangzhou: the Qinghai sample goes, Guangzhou's stations are updated in place
    result = run("demo", "--region", "guangzhou", "--force")
    assert result.exit_code == 0, result.output
    assert set(reg.stations()["id"]) == gz_ids | {"T1", "T2", "T3"}
    assert not (home / "sample" / "highways.osm").exists()


def test_serve_loads_the_chosen_region(run, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class _App:
        def run(self, **kwargs) -> None:  # noqa: ANN003
            calls.append(kwargs)

    monkeypatch.setattr("yizhan.app.create_app", lambda config: _App())
    result = run("serve", "--region", "qinghai", "--port", "5999")
    assert result.exit_code == 0, result.output
    assert "青海" in result.output and calls and calls[0]["port"] == 5999
    assert (home / "sample" / "REGION").read_text(encoding="utf-8").strip() == "qinghai"
    assert run("serve", "--region", "nowhere").exit_code != 0
