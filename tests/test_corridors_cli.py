"""``yizhan corridors`` and ``yizhan analyze --highways``: the JSON list, the table, the files and the
errors, on a small hand-made OSM file east of Guangzhou.

The expected corridors are computed independently of the engine: every ref's ways are projected
to an azimuthal equidistant plane on the same sphere (pyproj, centred on the test area, so plane
lengths are sphere lengths to ~1e-5 here), merged with shapely's ``line_merge`` and the stations
placed with ``project``; gaps, the longer direction, the share within reach and the orders are
then derived by hand.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from conftest import STATION_HEADER, write_csv

from yizhan.cli import main
from yizhan.geodata.sphere import EARTH_RADIUS_M

#: Two-way trunk G107 along 23.15 N from 113.30 to 113.70 E (41 nodes, 4 ways); G4 a motorway with
#: a northbound carriageway (113.5002 E, 23.00 -> 23.30 N) and a shorter southbound one (113.4998 E,
#: 23.29 -> 23.01 N); S999 only on a secondary road (not read).
G107_LAT = 23.15
G4_NORTH_LON, G4_SOUTH_LON = 113.5002, 113.4998
#: id, name, type, status, lon, lat.  A and B serve truck drivers (B, a union station, every group);
#: C is closed (停用); D, a couriers' home, serves couriers only.
STATIONS = [
    ("A", "广园司机之家", "司机之家", "在运营", 113.40, 23.1510),
    ("B", "京港澳爱心驿站", "工会爱心驿站", "在运营", 113.5010, 23.2000),
    ("C", "停用司机之家", "司机之家", "停用", 113.60, 23.1505),
    ("D", "东区快递员之家", "快递员之家", "在运营", 113.65, 23.1495),
]


def write_osm(path: Path) -> Path:
    """The test highways as OSM XML (node ids: G107 1.., G4 north 100.., south 200.., S999 300..)."""
    nodes: list[tuple[int, float, float]] = []
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    nodes += [(1 + i, 113.30 + 0.01 * i, G107_LAT) for i in range(41)]
    for w in range(4):
        ways.append((10 + w, [1 + i for i in range(10 * w, 10 * w + 11)],
                     {"highway": "trunk", "ref": "G107", "name": "广园路"}))
    nodes += [(100 + i, G4_NORTH_LON, 23.00 + 0.01 * i) for i in range(31)]
    nodes += [(200 + i, G4_SOUTH_LON, 23.29 - 0.01 * i) for i in range(29)]
    for w in range(3):
        ways.append((20 + w, [100 + i for i in range(10 * w, 10 * w + 11)],
                     {"highway": "motorway", "ref": "G4", "name": "京港澳高速"}))
    ways += [(30, [200 + i for i in range(0, 15)], {"highway": "motorway", "ref": "G4", "name": "京港澳高速"}),
             (31, [200 + i for i in range(14, 29)], {"highway": "motorway", "ref": "G4", "name": "京港澳高速"})]
    nodes += [(300 + i, 113.35 + 0.01 * i, 23.05) for i in range(5)]
    ways.append((40, [300 + i for i in range(5)], {"highway": "secondary", "ref": "S999", "name": "小路"}))
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6" generator="test">']
    lines += [f'  <node id="{n}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>' for n, lon, lat in nodes]
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def station_rows() -> list[str]:
    return [f"{sid},{name},{kind},广州市,饮水,24h,4,,{status},{lon:.4f},{lat:.4f}"
            for sid, name, kind, status, lon, lat in STATIONS]


def load_world(registry, tmp_path: Path) -> Path:
    """Import the test stations into ``registry``; returns the OSM file."""
    from yizhan.stations import import_stations_file

    import_stations_file(registry, write_csv(tmp_path / "stations.csv", station_rows(), header=STATION_HEADER),
                         user="test")
    return write_osm(tmp_path / "highways.osm")


# -- the independent computation ------------------------------------------------------------------------

def _plane():
    from pyproj import Transformer

    proj = f"+proj=aeqd +lat_0=23.15 +lon_0=113.5 +R={EARTH_RADIUS_M} +units=m +no_defs"
    sphere = f"+proj=longlat +R={EARTH_RADIUS_M} +no_defs"
    return (Transformer.from_crs(sphere, proj, always_xy=True), Transformer.from_crs(proj, sphere, always_xy=True))


def expected(station_ids: set[str], *, radius_m: float = 2000.0, reach_km: float = 25.0,
             refs: tuple[str, ...] = ("G107", "G4")) -> list[dict]:
    """The corridors as ``--json`` prints them, from shapely in the sphere's plane."""
    fwd, inv = _plane()
    raw = {
        "G107": ([[(113.30 + 0.01 * i, G107_LAT) for i in range(41)]], False),
        "G4": ([[(G4_NORTH_LON, 23.00 + 0.01 * i) for i in range(31)],
                [(G4_SOUTH_LON, 23.29 - 0.01 * i) for i in range(29)]], True),
    }
    names = {"G107": "广园路", "G4": "京港澳高速"}
    pts = {sid: shapely.Point(fwd.transform(lon, lat)) for sid, _, _, _, lon, lat in STATIONS if sid in station_ids}
    out = []
    for ref in refs:
        lines, oneway = raw[ref]
        plane = [shapely.LineString(np.column_stack(fwd.transform(*np.array(ln).T))) for ln in lines]
        chains = list(shapely.get_parts(shapely.line_merge(shapely.MultiLineString(plane), directed=oneway)))
        pieces = []
        for chain in chains:
            (x0, y0), (x1, y1) = chain.coords[0], chain.coords[-1]
            if oneway:     # north-south road: the axis points north
                direction = "forward" if y1 > y0 else "backward"
            else:          # two-way: one direction, along the axis (east)
                direction = "both"
                if x1 < x0:
                    chain = chain.reverse()
            pieces.append((direction, chain))
        gaps, covered, measured, serving = [], 0.0, 0.0, set()
        for direction, chain in pieces:
            length = chain.length / 1000
            at = sorted((chain.project(p) / 1000, sid) for sid, p in pts.items() if chain.distance(p) <= radius_m)
            serving |= {sid for _, sid in at}
            stops = [(0.0, "")] + at + [(length, "")]
            for (a, sa), (b, sb) in zip(stops[:-1], stops[1:]):
                if b - a > 1e-6:
                    p, q = chain.interpolate(a * 1000), chain.interpolate(b * 1000)
                    (plon, plat), (qlon, qlat) = inv.transform(p.x, p.y), inv.transform(q.x, q.y)
                    gaps.append({"from_km": a, "to_km": b, "length_km": b - a, "direction": direction, "piece": 1,
                                 "from_lon": plon, "from_lat": plat, "to_lon": qlon, "to_lat": qlat,
                                 "from_station": sa, "to_station": sb})
            # union of [s - reach, s + reach] clipped to the piece
            reach_cover, hi = 0.0, 0.0
            for s, _ in at:
                lo, top = max(s - reach_km, 0.0, hi), min(s + reach_km, length)
                reach_cover += max(top - lo, 0.0)
                hi = max(hi, top)
            covered += reach_cover
            measured += length
        by_dir: dict[str, float] = {}
        for direction, chain in pieces:
            by_dir[direction] = by_dir.get(direction, 0.0) + chain.length / 1000
        gaps.sort(key=lambda g: -g["length_km"])
        out.append({"ref": ref, "name": names[ref], "length_km": max(by_dir.values()), "pieces": len(pieces),
                    "stations": len(serving), "longest_gap_km": gaps[0]["length_km"] if gaps else 0.0,
                    "share_within_reach": covered / measured, "gaps": gaps})
    out.sort(key=lambda c: (-c["longest_gap_km"], c["ref"]))
    return out


def assert_matches(got: list[dict], want: list[dict]) -> None:
    """``got`` (the --json list) equals ``want`` to the printed precision, in the same order."""
    assert [c["ref"] for c in got] == [c["ref"] for c in want]
    for g, w in zip(got, want):
        assert {"ref", "name", "length_km", "pieces", "stations", "longest_gap_km", "share_within_reach",
                "gaps"} <= set(g)
        assert (g["name"], g["pieces"], g["stations"]) == (w["name"], w["pieces"], w["stations"]), g["ref"]
        for key in ("length_km", "longest_gap_km"):
            assert g[key] == pytest.approx(w[key], abs=2e-3), (g["ref"], key)
        assert g["share_within_reach"] == pytest.approx(w["share_within_reach"], abs=2e-4)
        assert len(g["gaps"]) == len(w["gaps"]), g["ref"]
        for gg, wg in zip(g["gaps"], w["gaps"]):
            assert {"from_km", "to_km", "length_km", "direction", "piece", "from_lon", "from_lat", "to_lon",
                    "to_lat"} <= set(gg)
            assert (gg["direction"], gg["piece"], gg["from_station"], gg["to_station"]) == \
                (wg["direction"], wg["piece"], wg["from_station"], wg["to_station"])
            for key in ("from_km", "to_km", "length_km"):
                assert gg[key] == pytest.approx(wg[key], abs=2e-3), (g["ref"], key)
            for key in ("from_lon", "from_lat", "to_lon", "to_lat"):
                assert gg[key] == pytest.approx(wg[key], abs=2e-6), (g["ref"], key)
        lengths = [gg["length_km"] for gg in g["gaps"]]
        assert lengths == sorted(lengths, reverse=True)
    longest = [c["longest_gap_km"] for c in got]
    assert longest == sorted(longest, reverse=True)


# -- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture
def world(registry, tmp_path: Path) -> Path:
    return load_world(registry, tmp_path)


@pytest.fixture
def run(home: Path):
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(main, ["--home", str(home), *args])

    return _run


def corridors_json(run, *args: str) -> list[dict]:
    result = run("corridors", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- the JSON list -------------------------------------------------------------------------------------------

def test_json_against_an_independent_computation(run, world: Path) -> None:
    got = corridors_json(run, "--osm", str(world))
    want = expected({"A", "B"})
    assert_matches(got, want)
    assert [c["ref"] for c in got] == ["G107", "G4"]            # longest gap (~30 km vs ~22 km) first
    g4 = got[1]
    assert g4["pieces"] == 2 and g4["directions"] == "forward+backward"
    assert {g["direction"] for g in g4["gaps"]} == {"forward", "backward"}
    # the northbound carriageway (30 x 0.01 deg) is the longer direction
    assert g4["length_km"] == pytest.approx(30 * 0.01 * math.pi / 180 * EARTH_RADIUS_M / 1000, abs=2e-3)


def test_group_status_and_parameters(run, world: Path) -> None:
    # the closed station C never counts; couriers: the union station B and the couriers' home D
    assert_matches(corridors_json(run, "--osm", str(world), "--group", "快递员"), expected({"B", "D"}))
    assert_matches(corridors_json(run, "--osm", str(world), "--group", "卡车司机"), expected({"A", "B"}))  # alias
    # a 50 m radius reaches no station (A is 110 m off G107, B 82 m / 123 m off G4)
    assert_matches(corridors_json(run, "--osm", str(world), "--station-radius-m", "50"),
                   expected(set(), radius_m=50))
    got = corridors_json(run, "--osm", str(world), "--reach-km", "5", "--max-gap-km", "25")
    assert_matches(got, expected({"A", "B"}, reach_km=5))
    assert [sum(g["over_max"] for g in c["gaps"]) for c in got] == [c["n_gaps_over_max"] for c in got]
    assert [[g["over_max"] for g in c["gaps"]] for c in got] == \
        [[g["length_km"] > 25 for g in c["gaps"]] for c in got]


@pytest.mark.parametrize("refs", [("--ref", "G4"), ("--ref", "g 4"), ("--ref", "Ｇ４")])
def test_one_ref(run, world: Path, refs: tuple[str, ...]) -> None:
    assert_matches(corridors_json(run, "--osm", str(world), *refs), expected({"A", "B"}, refs=("G4",)))


def test_several_refs_repeated_or_listed(run, world: Path) -> None:
    every = corridors_json(run, "--osm", str(world))
    assert corridors_json(run, "--osm", str(world), "--ref", "G4", "--ref", "G107") == every
    assert corridors_json(run, "--osm", str(world), "--ref", "G4,G107") == every
    assert corridors_json(run, "--osm", str(world), "--ref", "G107;G4") == every


def test_no_station_in_the_registry(run, tmp_path: Path) -> None:
    got = corridors_json(run, "--osm", str(write_osm(tmp_path / "h.osm")))
    assert_matches(got, expected(set()))
    assert all(c["stations"] == 0 and c["share_within_reach"] == 0 and len(c["gaps"]) == c["pieces"] for c in got)


def test_a_file_without_numbered_highways(run, tmp_path: Path) -> None:
    path = tmp_path / "empty.osm"
    path.write_text('<?xml version="1.0"?>\n<osm version="0.6"></osm>\n', encoding="utf-8")
    assert corridors_json(run, "--osm", str(path)) == []
    text = run("corridors", "--osm", str(path))
    assert text.exit_code == 0 and "没有带编号" in text.output and "no numbered" in text.output


# -- table and files ---------------------------------------------------------------------------------------------

def test_readable_table(run, world: Path) -> None:
    result = run("corridors", "--osm", str(world))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("公路走廊 / highway corridors: 群体 货车司机")
    assert "参与站点 2" in lines[0] and "走廊 2" in lines[0]
    head = next(i for i, line in enumerate(lines) if line.startswith("编号"))
    assert lines[head].split()[-1] == "名称" and lines[head + 1].split()[0] == "ref"
    rows = lines[head + 2:head + 4]
    assert [line.split()[0] for line in rows] == ["G107", "G4"]
    assert rows[0].rstrip().endswith("广园路")
    want = expected({"A", "B"})
    assert rows[0].split()[1:7] == [f"{want[0]['length_km']:.1f}", "1", "1", f"{want[0]['longest_gap_km']:.1f}",
                                    "0", f"{want[0]['share_within_reach']:.1%}"]
    assert "最长的空白 / longest gaps:" in lines
    n_gaps = sum(len(c["gaps"]) for c in want)
    gap_lines = [line for line in lines if re.match(r"\s*\d+\. ", line)]
    assert len(gap_lines) == min(n_gaps, 10)
    assert gap_lines[0].split()[1] == "G107"


def test_out_writes_csv_and_geojson(run, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("corridors", "--osm", str(world), "--json", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)                       # the note on the files goes to stderr
    assert "corridors.csv" in result.stderr
    table = pd.read_csv(out / "corridors.csv", encoding="utf-8-sig")
    assert list(table["ref"]) == [c["ref"] for c in data]
    assert list(table["name"]) == [c["name"] for c in data]
    assert list(table["length_km"]) == pytest.approx([c["length_km"] for c in data], abs=1e-3)
    assert list(table["longest_gap_km"]) == pytest.approx([c["longest_gap_km"] for c in data], abs=1e-3)
    geo = json.loads((out / "corridor_gaps.geojson").read_text(encoding="utf-8"))
    gaps = [dict(g, ref=c["ref"]) for c in data for g in c["gaps"]]
    assert len(geo["features"]) == len(gaps)
    feats = sorted(geo["features"], key=lambda f: (f["properties"]["ref"], f["properties"]["from_lon"]))
    gaps.sort(key=lambda g: (g["ref"], g["from_lon"]))
    for f, g in zip(feats, gaps):
        assert f["geometry"]["type"] == "LineString"
        first, last = f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][-1]
        assert first == pytest.approx([g["from_lon"], g["from_lat"]], abs=2e-6)
        assert last == pytest.approx([g["to_lon"], g["to_lat"]], abs=2e-6)
        assert f["properties"]["length_km"] == pytest.approx(g["length_km"], abs=1e-3)
    # without --json the note is on stdout
    plain = run("corridors", "--osm", str(world), "--out", str(tmp_path / "out2"))
    assert "结果已写入 / outputs in" in plain.stdout and (tmp_path / "out2" / "corridors.csv").is_file()


# -- errors ------------------------------------------------------------------------------------------------------------

def _bad_files(tmp_path: Path) -> dict[str, Path]:
    junk = tmp_path / "junk.osm"
    junk.write_text("this is not XML", encoding="utf-8")
    pbf = tmp_path / "junk.osm.pbf"
    pbf.write_bytes(b"\x00\x01not a pbf")
    txt = tmp_path / "roads.txt"
    txt.write_text("x", encoding="utf-8")
    return {"junk": junk, "pbf": pbf, "txt": txt, "missing": tmp_path / "nowhere.osm"}


@pytest.mark.parametrize(("args", "option", "zh", "en"), [
    (("--osm", "{missing}"), "--osm", "找不到道路文件", "not found"),
    (("--osm", "{junk}"), "--osm", "无法读取 OSM 文件", "not a readable OSM file"),
    (("--osm", "{pbf}"), "--osm", "无法读取 OSM 文件", "not a readable OSM file"),
    (("--osm", "{txt}"), "--osm", "不支持的道路文件", "unsupported road file"),
    (("--osm", "{osm}", "--group", "宇航员"), "--group", "未知劳动者群体", "unknown worker group"),
    (("--osm", "{osm}", "--station-radius-m", "-5"), "--station-radius-m", "站点半径", "positive"),
    (("--osm", "{osm}", "--station-radius-m", "0"), "--station-radius-m", "站点半径", "positive"),
    (("--osm", "{osm}", "--station-radius-m", "nan"), "--station-radius-m", "站点半径", "positive"),
    (("--osm", "{osm}", "--reach-km", "-1"), "--reach-km", "可达距离", "non-negative"),
    (("--osm", "{osm}", "--max-gap-km", "0"), "--max-gap-km", "最大间隔", "positive"),
    (("--osm", "{osm}", "--max-gap-km", "inf"), "--max-gap-km", "最大间隔", "positive"),
    (("--osm", "{osm}", "--ref", "S999"), "--ref", "没有这些编号的公路", "S999"),   # secondary: not read
    (("--osm", "{osm}", "--ref", "G4", "--ref", "G9999"), "--ref", "没有这些编号的公路", "G9999"),
    (("--osm", "{osm}", "--ref", ";"), "--ref", "没有给出公路编号", "no highway ref"),
])
def test_bad_input_is_a_usage_error(run, world: Path, tmp_path: Path, args, option, zh, en) -> None:
    paths = {k: str(v) for k, v in _bad_files(tmp_path).items()} | {"osm": str(world)}
    result = run("corridors", *(a.format(**paths) for a in args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)   # no crash
    assert option in result.output and zh in result.output and en in result.output
    assert result.output.index(zh) < result.output.index(" / ") < result.output.rindex(en)   # Chinese first


def test_osm_option_is_required(run) -> None:
    result = run("corridors", "--json")
    assert result.exit_code == 2 and "--osm" in result.output


# -- analyze --highways: the corridor sheets of summary.xlsx ------------------------------------------------------------

def _hotspots(path: Path) -> Path:
    rows = ["lon,lat,weight"] + [f"{113.30 + 0.004 * i:.4f},{23.14 + 0.001 * (i % 7):.4f},{1 + i % 3}"
                                 for i in range(40)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("group", "ids"), [(None, {"A", "B"}), ("快递员", {"B", "D"})])
def test_analyze_with_highways_adds_corridor_sheets(run, world: Path, tmp_path: Path, group, ids) -> None:
    from openpyxl import load_workbook

    from yizhan.coverage.corridors import CORRIDOR_COLUMNS, CORRIDOR_COLUMNS_ZH, GAP_COLUMNS_ZH

    out = tmp_path / "out"
    args = ["analyze", "--hotspots", str(_hotspots(tmp_path / "hot.csv")), "--highways", str(world),
            "--out", str(out), "--quiet"] + (["--group", group] if group else [])
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "公路走廊 / highway corridors" in result.output
    assert (out / "corridors.csv").is_file() and (out / "corridor_gaps.geojson").is_file()
    book = load_workbook(out / "summary.xlsx", read_only=True)
    assert {"走廊 corridors", "走廊空白 corridor gaps"} <= set(book.sheetnames)
    assert book.sheetnames.index("走廊空白 corridor gaps") == book.sheetnames.index("走廊 corridors") + 1
    book.close()
    corridors = pd.read_excel(out / "summary.xlsx", sheet_name="走廊 corridors")
    gaps = pd.read_excel(out / "summary.xlsx", sheet_name="走廊空白 corridor gaps", keep_default_na=False)
    assert list(corridors.columns) == [CORRIDOR_COLUMNS_ZH[c] for c in CORRIDOR_COLUMNS]
    want = expected(ids)          # analysed group, truck drivers when none is given
    assert list(corridors["编号 ref"]) == [c["ref"] for c in want]
    assert list(corridors["名称 name"]) == [c["name"] for c in want]
    assert list(corridors["长度（公里）length_km"]) == pytest.approx([c["length_km"] for c in want], abs=2e-3)
    assert list(corridors["服务站点数 stations"]) == [c["stations"] for c in want]
    assert list(corridors["最长空白（公里）longest_gap_km"]) == pytest.approx(
        [c["longest_gap_km"] for c in want], abs=2e-3)
    assert list(corridors["可达比例 share_within_reach"]) == pytest.approx(
        [c["share_within_reach"] for c in want], abs=2e-4)
    # one row per gap, longest first, with the corridor's name
    all_gaps = sorted(((g["length_km"], c["ref"], c["name"], g["from_station"], g["to_station"])
                       for c in want for g in c["gaps"]), key=lambda t: -t[0])
    assert len(gaps) == len(all_gaps)
    assert list(gaps.columns[:3]) == [GAP_COLUMNS_ZH["ref"], GAP_COLUMNS_ZH["name"], GAP_COLUMNS_ZH["direction"]]
    assert list(gaps["空白长度（公里）length_km"]) == pytest.approx([t[0] for t in all_gaps], abs=2e-3)
    assert list(gaps["编号 ref"]) == [t[1] for t in all_gaps]
    assert list(gaps["名称 name"]) == [t[2] for t in all_gaps]
    assert [str(v) for v in gaps["起点站点 from_station"]] == [t[3] for t in all_gaps]


def test_analyze_without_highways_has_no_corridor_sheet(run, world: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "out"
    result = run("analyze", "--hotspots", str(_hotspots(tmp_path / "hot.csv")), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert not (out / "corridors.csv").exists() and "公路走廊" not in result.output
    book = load_workbook(out / "summary.xlsx", read_only=True)
    assert not any("走廊" in name for name in book.sheetnames)
    book.close()


def test_analyze_with_a_bad_highways_file_stops_before_the_analysis(run, tmp_path: Path) -> None:
    junk = _bad_files(tmp_path)["junk"]
    out = tmp_path / "out"
    result = run("analyze", "--hotspots", str(_hotspots(tmp_path / "hot.csv")), "--highways", str(junk),
                 "--out", str(out), "--quiet")
    assert result.exit_code == 2 and "--highways" in result.output and "无法读取 OSM 文件" in result.output
    assert not out.exists()
