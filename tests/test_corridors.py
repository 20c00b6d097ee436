"""Highway corridors: geodata.highways (reading refs, oneway, splitting) and coverage.corridors (gaps
between stations along a ref, per direction and piece).

The synthetic roads run along the parallel 36.5 N from 101 E (Qinghai); the node spacing in
longitude is chosen so that every eastbound segment is 1 km on the sphere (to within the 1e-7 degree
resolution of OSM coordinates, which the test applies itself).  Expected km are summed with
haversine over the test's own node coordinates (:func:`east_km`, :func:`west_km`).  The real S1113 motorway is checked against an independent UTM (EPSG:32647)
computation with shapely's ``line_merge`` / ``project``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import shared_data
from yizhan.coverage.corridors import CorridorResult, analyze_corridors, write_corridor_outputs
from yizhan.geodata.highways import normalize_refs, oneway_of, read_highway_ways
from yizhan.geodata.sphere import EARTH_RADIUS_M, haversine_m

LAT = 36.5
LON0 = 101.0
HALF_SEP = 15.0 / (EARTH_RADIUS_M * math.pi / 180)       # 15 m in degrees of latitude
LAT_E = LAT - HALF_SEP                                    # eastbound carriageway (south side)
LAT_W = LAT + HALF_SEP                                    # westbound carriageway (north side)
#: longitude step giving exactly 1 km along the eastbound parallel (haversine, mean sphere)
DLON = math.degrees(2 * math.asin(math.sin(1000.0 / (2 * EARTH_RADIUS_M)) / math.cos(math.radians(LAT_E))))
M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180


def snap(deg: float) -> float:
    """OSM stores coordinates as integers of 1e-7 degree."""
    return round(deg, 7)


LAT_E, LAT_W = snap(LAT_E), snap(LAT_W)


def lon_at(i: float) -> float:
    return snap(LON0 + i * DLON)


def along_km(lat: float, i: int, j: int) -> float:
    """km along the parallel ``lat`` from node column i to node column j (haversine per segment)."""
    step = 1 if j >= i else -1
    cols = list(range(i, j + step, step))
    lons = np.array([lon_at(c) for c in cols])
    return float(haversine_m(lons[:-1], lat, lons[1:], lat).sum()) / 1000


def east_km(i: int) -> float:
    """Eastbound km from the west end (column 0) to column i."""
    return along_km(LAT_E, 0, i)


def west_km(i: int, start: int = 100) -> float:
    """Westbound km from column ``start`` (the east end) to column i."""
    return along_km(LAT_W, start, i)


# -- writing small OSM files ---------------------------------------------------------------------

class Osm:
    """Collects nodes and ways and writes an OSM XML file."""

    def __init__(self) -> None:
        self.nodes: dict[int, tuple[float, float]] = {}
        self.ways: list[tuple[int, list[int], dict[str, str]]] = []

    def node(self, nid: int, lon: float, lat: float) -> int:
        self.nodes[nid] = (lon, lat)
        return nid

    def way(self, wid: int, nodes: list[int], **tags: str) -> None:
        self.ways.append((wid, nodes, tags))

    def write(self, path: Path) -> Path:
        lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6" generator="test">']
        for nid, (lon, lat) in sorted(self.nodes.items()):
            lines.append(f'  <node id="{nid}" version="1" lat="{lat:.9f}" lon="{lon:.9f}"/>')
        for wid, nodes, tags in self.ways:
            lines.append(f'  <way id="{wid}" version="1">')
            lines += [f'    <nd ref="{n}"/>' for n in nodes]
            lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
            lines.append("  </way>")
        lines.append("</osm>")
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


def dual_carriageway(osm: Osm, *, km: int = 100, way_km: int = 10, skip: tuple[int, ...] = (),
                     ref: str = "G6", reverse_tagged: bool = False) -> None:
    """Eastbound (south) and westbound (north) oneway=yes motorway ways, ``way_km`` km each.

    Node ``1000 + i`` is eastbound km i, node ``3000 + i`` the westbound node at the same longitude.
    ``skip``: indexes of the ``way_km`` blocks left out (a break in both carriageways).
    ``reverse_tagged``: the westbound ways are drawn west->east with ``oneway=-1``.
    """
    for i in range(km + 1):
        osm.node(1000 + i, lon_at(i), LAT_E)
        osm.node(3000 + i, lon_at(i), LAT_W)
    for b in range(km // way_km):
        if b in skip:
            continue
        east = [1000 + i for i in range(b * way_km, (b + 1) * way_km + 1)]
        west = [3000 + i for i in range(b * way_km, (b + 1) * way_km + 1)]
        osm.way(100 + b, east, highway="motorway", ref=ref, oneway="yes", name="京藏高速")
        if reverse_tagged:
            osm.way(200 + b, west, highway="motorway", ref=ref, oneway="-1", name="京藏高速")
        else:
            osm.way(200 + b, west[::-1], highway="motorway", ref=ref, oneway="yes", name="京藏高速")


def two_way_road(osm: Osm, *, km: int = 100, way_km: int = 10, ref: str = "G109", first_node: int = 5000,
                 highway: str = "primary", name: str = "青藏公路") -> None:
    """A two-way road on the eastbound parallel (segments exactly 1 km)."""
    for i in range(km + 1):
        osm.node(first_node + i, lon_at(i), LAT_E)
    for b in range(km // way_km):
        osm.way(first_node + b, [first_node + i for i in range(b * way_km, (b + 1) * way_km + 1)],
                highway=highway, ref=ref, name=name)


def stations_frame(rows: list[tuple]) -> pd.DataFrame:
    """Registry-like frame from (id, type, groups, status, lon, lat)."""
    return pd.DataFrame({
        "id": [r[0] for r in rows], "name": [f"站{r[0]}" for r in rows], "type": [r[1] for r in rows],
        "groups": [r[2] for r in rows], "status": [r[3] for r in rows],
        "lon": [float(r[4]) for r in rows], "lat": [float(r[5]) for r in rows]})


TRUCK = "网约车司机、货车司机"


def home(sid: str, lon: float, lat: float, *, status: str = "在运营") -> tuple:
    return (sid, "司机之家", TRUCK, status, lon, lat)


def north_of(lat: float, metres: float) -> float:
    return snap(lat + metres / M_PER_DEG_LAT)


def gaps_of(result: CorridorResult, ref: str, direction: str) -> list[tuple]:
    g = result.gaps[(result.gaps["ref"] == ref) & (result.gaps["direction"] == direction)]
    g = g.sort_values(["piece", "from_km"])
    return [(int(r.piece), r.from_km, r.to_km, r.from_station, r.to_station) for r in g.itertuples()]


def assert_gaps(actual: list[tuple], expected: list[tuple], tol_km: float = 1e-6) -> None:
    assert len(actual) == len(expected), (actual, expected)
    for a, e in zip(actual, expected):
        assert a[0] == e[0] and a[3] == e[3] and a[4] == e[4], (a, e)
        assert a[1] == pytest.approx(e[1], abs=tol_km) and a[2] == pytest.approx(e[2], abs=tol_km), (a, e)


# -- reading ---------------------------------------------------------------------------------------

def test_normalize_refs() -> None:
    assert normalize_refs("G 6") == ["G6"]
    assert normalize_refs(" g109 ") == ["G109"]
    assert normalize_refs("G6;G109") == ["G6", "G109"]
    assert normalize_refs("Ｇ６；Ｇ１０９") == ["G6", "G109"]          # full-width (NFKC)
    assert normalize_refs("G6,S101/G6、G214") == ["G6", "S101", "G214"]
    assert normalize_refs("") == [] and normalize_refs(None) == [] and normalize_refs(";;") == []


@pytest.mark.parametrize(("tags", "expected"), [
    ({"highway": "primary", "oneway": "yes"}, 1), ({"highway": "primary", "oneway": "true"}, 1),
    ({"highway": "primary", "oneway": "1"}, 1), ({"highway": "primary", "oneway": "-1"}, -1),
    ({"highway": "primary", "oneway": "reverse"}, -1), ({"highway": "primary", "oneway": "no"}, 0),
    ({"highway": "primary", "oneway": "false"}, 0), ({"highway": "primary", "oneway": "0"}, 0),
    ({"highway": "primary"}, 0), ({"highway": "primary", "junction": "roundabout"}, 1),
    ({"highway": "motorway"}, 1), ({"highway": "motorway", "oneway": "no"}, 0),
    ({"highway": "motorway", "oneway": "-1"}, -1), ({"highway": "trunk"}, 0),
])
def test_oneway_of(tags: dict[str, str], expected: int) -> None:
    assert oneway_of(tags) == expected


def test_read_highway_ways_columns_refs_and_filters(tmp_path: Path) -> None:
    osm = Osm()
    for i in range(6):
        osm.node(1 + i, lon_at(i), LAT)
    osm.node(99, lon_at(0), LAT + 0.01)
    osm.way(10, [1, 2, 3], highway="primary", ref="G6;G109", name="共线段")
    osm.way(11, [3, 4], highway="trunk", ref="g 6")
    osm.way(12, [4, 5], highway="motorway", ref="G6")                 # implied one-way
    osm.way(13, [5, 6], highway="motorway_link", ref="G6")            # ramp: not a corridor
    osm.way(14, [6, 99], highway="secondary", ref="G6")               # not a listed class
    osm.way(15, [1, 99], highway="primary")                           # no ref
    osm.way(16, [2, 99], highway="primary", ref="S101", oneway="-1", junction="roundabout")
    path = osm.write(tmp_path / "roads.osm")

    ways = read_highway_ways(path)
    assert list(ways.columns) == ["way_id", "ref", "name", "highway", "oneway", "geometry"]
    assert ways.crs.to_epsg() == 4326
    assert ways["way_id"].dtype == np.int64 and ways["oneway"].dtype == np.int8
    got = sorted(zip(ways["way_id"], ways["ref"], ways["oneway"]))
    assert got == [(10, "G109", 0), (10, "G6", 0), (11, "G6", 0), (12, "G6", 1), (16, "S101", -1)]
    first = ways[ways["way_id"] == 10].iloc[0]
    assert first["name"] == "共线段" and first["highway"] == "primary"
    np.testing.assert_allclose(shapely.get_coordinates(first.geometry),
                               [[lon_at(0), LAT], [lon_at(1), LAT], [lon_at(2), LAT]], atol=1e-8)
    assert set(ways.loc[ways["way_id"] == 11, "name"]) == {""}

    only = read_highway_ways(path, refs=["g6 "])
    assert sorted(only["way_id"]) == [10, 11, 12] and set(only["ref"]) == {"G6"}
    assert sorted(read_highway_ways(path, refs="G109;S101")["ref"]) == ["G109", "S101"]
    assert len(read_highway_ways(path, highways=("motorway",))) == 1
    none = read_highway_ways(path, refs=["G999"])
    assert len(none) == 0 and list(none.columns) == list(ways.columns)
    with pytest.raises(ValueError, match="_link"):
        read_highway_ways(path, highways=("motorway", "motorway_link"))


def test_read_highway_ways_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_highway_ways(tmp_path / "missing.osm.pbf")
    (tmp_path / "roads.csv").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="unsupported"):
        read_highway_ways(tmp_path / "roads.csv")


def test_ways_with_missing_nodes_are_split(tmp_path: Path) -> None:
    osm = Osm()
    for i in range(6):
        osm.node(1 + i, lon_at(i), LAT)
    osm.way(10, [1, 2, 3, 77, 4, 5, 6], highway="trunk", ref="G214")    # node 77 not in the file
    osm.way(11, [88, 1], highway="trunk", ref="G214")                    # nothing left
    ways = read_highway_ways(osm.write(tmp_path / "clipped.osm"))
    assert list(ways["way_id"]) == [10, 10]
    assert [len(shapely.get_coordinates(g)) for g in ways.geometry] == [3, 3]
    result = analyze_corridors(ways, None)
    assert result.corridors.loc[0, "pieces"] == 2                         # never bridged
    assert sorted(result.pieces["length_km"]) == pytest.approx([2.0, 2.0], abs=1e-3)


def test_pbf_reads_like_xml(tmp_path: Path) -> None:
    import osmium
    from osmium.osm.mutable import Node, Way

    osm = Osm()
    dual_carriageway(osm, km=20, way_km=10)
    xml = read_highway_ways(osm.write(tmp_path / "dual.osm"))
    pbf_path = tmp_path / "dual.osm.pbf"
    writer = osmium.SimpleWriter(str(pbf_path))
    try:
        for nid, loc in sorted(osm.nodes.items()):
            writer.add_node(Node(id=nid, location=loc))
        for wid, nodes, tags in sorted(osm.ways, key=lambda w: w[0]):
            writer.add_way(Way(id=wid, nodes=nodes, tags=tags))
    finally:
        writer.close()
    pbf = read_highway_ways(pbf_path)
    a = xml.sort_values("way_id").reset_index(drop=True)
    b = pbf.sort_values("way_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")))
    assert all(ga.equals_exact(gb, 1e-7) for ga, gb in zip(a.geometry, b.geometry))


# -- (a) dual carriageway, (c) a station across the divided road ---------------------------------------

@pytest.fixture
def dual(tmp_path: Path):
    osm = Osm()
    dual_carriageway(osm)
    return read_highway_ways(osm.write(tmp_path / "dual.osm"))


def test_dual_carriageway_gaps_per_direction(dual) -> None:
    stations = stations_frame([
        home("S1", lon_at(20), north_of(LAT_E, -55)),     # 55 m south of the eastbound carriageway
        home("S2", lon_at(70), north_of(LAT_W, 100)),     # 100 m north of the westbound one
    ])
    r = analyze_corridors(dual, stations)
    assert list(r.corridors["ref"]) == ["G6"]
    row = r.corridors.iloc[0]
    assert row["directions"] == "forward+backward" and row["pieces"] == 2 and row["stations"] == 2
    assert row["name"] == "京藏高速"
    assert east_km(100) == pytest.approx(100.0, abs=1e-3) and west_km(0) < east_km(100)
    assert row["length_km"] == pytest.approx(east_km(100), abs=1e-6)   # the longer (southern) direction
    pieces = r.pieces.set_index("direction")
    assert pieces.loc["forward", "length_km"] == pytest.approx(east_km(100), abs=1e-6)
    assert pieces.loc["backward", "length_km"] == pytest.approx(west_km(0), abs=1e-6)
    assert pieces.loc["forward", "heading"] == "E" and pieces.loc["backward", "heading"] == "W"
    # the forward piece runs west -> east, the backward piece east -> west
    f = shapely.get_coordinates(pieces.loc["forward", "geometry"])
    b = shapely.get_coordinates(pieces.loc["backward", "geometry"])
    assert f[0, 0] < f[-1, 0] and b[0, 0] > b[-1, 0]

    E, W = east_km, west_km
    assert_gaps(gaps_of(r, "G6", "forward"),
                [(1, 0.0, E(20), "", "S1"), (1, E(20), E(70), "S1", "S2"), (1, E(70), E(100), "S2", "")])
    assert_gaps(gaps_of(r, "G6", "backward"),
                [(1, 0.0, W(70), "", "S2"), (1, W(70), W(20), "S2", "S1"), (1, W(20), W(0), "S1", "")])
    assert row["longest_gap_km"] == pytest.approx(E(70) - E(20), abs=1e-6)   # 50 km east > 50 km west
    assert list(r.gaps["length_km"]) == sorted(r.gaps["length_km"], reverse=True)
    g = r.gaps[(r.gaps["direction"] == "forward") & (r.gaps["from_station"] == "S1")].iloc[0]
    assert (g.from_lon, g.from_lat, g.to_lon, g.to_lat) == pytest.approx(
        (lon_at(20), LAT_E, lon_at(70), LAT_E), abs=1e-9)
    line = shapely.get_coordinates(g.geometry)                          # the road between S1 and S2
    assert len(line) == 51
    np.testing.assert_allclose(line[:, 0], [lon_at(i) for i in range(20, 71)], atol=1e-9)
    np.testing.assert_allclose(line[:, 1], LAT_E, atol=1e-9)


def test_station_across_the_divided_road_serves_both_directions(dual) -> None:
    r = analyze_corridors(dual, stations_frame([home("X", lon_at(70), north_of(LAT_W, 100))]))
    placed = r.placed.set_index("direction")
    assert set(placed.index) == {"forward", "backward"}
    assert placed.loc["forward", "at_km"] == pytest.approx(east_km(70), abs=1e-6)
    assert placed.loc["backward", "at_km"] == pytest.approx(west_km(70), abs=1e-6)
    assert placed.loc["backward", "offset_m"] == pytest.approx(100.0, abs=0.2)
    assert placed.loc["forward", "offset_m"] == pytest.approx(130.0, abs=0.2)
    assert r.corridors.loc[0, "stations"] == 1


def test_oneway_minus_one_is_travelled_against_the_drawing(tmp_path: Path) -> None:
    osm = Osm()
    dual_carriageway(osm, reverse_tagged=True)
    ways = read_highway_ways(osm.write(tmp_path / "reverse.osm"))
    assert set(ways["oneway"]) == {1, -1}
    r = analyze_corridors(ways, stations_frame([home("S1", lon_at(20), LAT)]))
    assert r.corridors.loc[0, "directions"] == "forward+backward"
    assert_gaps(gaps_of(r, "G6", "backward"),
                [(1, 0.0, west_km(20), "", "S1"), (1, west_km(20), west_km(0), "S1", "")])


@pytest.mark.parametrize("continuation", [True, False])
def test_carriageways_meeting_at_a_terminus_are_not_one_chain(tmp_path: Path, continuation: bool) -> None:
    """Both carriageways end at one shared node (a U-turn there); with or without a two-way road of
    the same ref continuing from it, the two carriageways stay two directions."""
    osm = Osm()
    for i in range(21):
        osm.node(1000 + i, lon_at(i), LAT_E)
        osm.node(3000 + i, lon_at(i), LAT_W)
    for i in range(21, 31):
        osm.node(5000 + i, lon_at(i), LAT)
    osm.way(1, [1000 + i for i in range(21)] + [5021], highway="motorway", ref="G6")
    osm.way(2, [5021] + [3000 + i for i in range(20, -1, -1)], highway="motorway", ref="G6")
    if continuation:
        osm.way(3, [5000 + i for i in range(21, 31)], highway="trunk", ref="G6")
    r = analyze_corridors(read_highway_ways(osm.write(tmp_path / "terminus.osm")), None)
    assert r.corridors.loc[0, "directions"] == "forward+backward"
    pieces = r.pieces.set_index("direction")
    tail = along_km(LAT, 21, 30) if continuation else 0.0
    east = east_km(20) + float(haversine_m(lon_at(20), LAT_E, lon_at(21), LAT)) / 1000 + tail
    west = west_km(0, 20) + float(haversine_m(lon_at(21), LAT, lon_at(20), LAT_W)) / 1000 + tail
    assert pieces.loc["forward", "length_km"] == pytest.approx(east, abs=1e-6)
    assert pieces.loc["backward", "length_km"] == pytest.approx(west, abs=1e-6)
    assert pieces.loc["forward", "heading"] == "E" and pieces.loc["backward", "heading"] == "W"


# -- (b) breaks ------------------------------------------------------------------------------------

def test_break_gives_two_pieces_and_nothing_is_bridged(tmp_path: Path) -> None:
    osm = Osm()
    dual_carriageway(osm, skip=(4,))                          # km 40-50 missing on both sides
    ways = read_highway_ways(osm.write(tmp_path / "broken.osm"))
    r = analyze_corridors(ways, stations_frame([home("S1", lon_at(20), LAT), home("S2", lon_at(70), LAT)]))
    row = r.corridors.iloc[0]
    E = east_km
    assert row["pieces"] == 4 and row["length_km"] == pytest.approx(E(40) + E(100) - E(50), abs=1e-6)
    assert_gaps(gaps_of(r, "G6", "forward"),
                [(1, 0.0, E(20), "", "S1"), (1, E(20), E(40), "S1", ""),
                 (2, 0.0, E(70) - E(50), "", "S2"), (2, E(70) - E(50), E(100) - E(50), "S2", "")])
    # westbound: piece 1 is the eastern part (met first when driving west)
    W = west_km
    assert_gaps(gaps_of(r, "G6", "backward"),
                [(1, 0.0, W(70), "", "S2"), (1, W(70), W(50), "S2", ""),
                 (2, 0.0, W(20, 40), "", "S1"), (2, W(20, 40), W(0, 40), "S1", "")])
    assert not ((r.gaps["from_station"] != "") & (r.gaps["to_station"] != "")).any()
    assert row["longest_gap_km"] == pytest.approx(E(100) - E(70), abs=1e-6)


def test_a_50_m_hole_is_a_break(tmp_path: Path) -> None:
    osm = Osm()
    two_way_road(osm, km=10, way_km=10, ref="G214")
    hole = snap(lon_at(10) + 50 / (1000 / DLON))              # 50 m further east
    osm.node(7000, hole, LAT_E)
    osm.node(7001, lon_at(20), LAT_E)
    osm.way(7000, [7000, 7001], highway="primary", ref="G214")
    r = analyze_corridors(read_highway_ways(osm.write(tmp_path / "hole.osm")), None)
    assert r.corridors.loc[0, "pieces"] == 2 and r.corridors.loc[0, "directions"] == "both"
    second = float(haversine_m(hole, LAT_E, lon_at(20), LAT_E)) / 1000
    assert second == pytest.approx(9.95, abs=1e-3)
    assert sorted(r.gaps["length_km"]) == pytest.approx(sorted([second, east_km(10)]), abs=1e-6)
    assert r.corridors.loc[0, "length_km"] == pytest.approx(second + east_km(10), abs=1e-6)


# -- (d) radius -------------------------------------------------------------------------------------

def test_station_beyond_the_radius_is_not_counted(dual) -> None:
    far = stations_frame([home("F", lon_at(40), north_of(LAT_W, 2500))])   # 2.5 km off the road
    r = analyze_corridors(dual, far)
    assert r.placed.empty and r.corridors.loc[0, "stations"] == 0
    assert r.corridors.loc[0, "longest_gap_km"] == pytest.approx(east_km(100), abs=1e-6)
    wide = analyze_corridors(dual, far, station_radius_m=3000)
    placed = wide.placed.set_index("direction")
    assert placed.loc["forward", "at_km"] == pytest.approx(east_km(40), abs=1e-6)
    assert placed.loc["backward", "at_km"] == pytest.approx(west_km(40), abs=1e-6)
    assert placed.loc["backward", "offset_m"] == pytest.approx(2500.0, abs=2.0)
    assert wide.corridors.loc[0, "longest_gap_km"] == pytest.approx(east_km(100) - east_km(40), abs=1e-6)


# -- (e) a way with two refs --------------------------------------------------------------------------

def test_shared_way_belongs_to_both_corridors(tmp_path: Path) -> None:
    osm = Osm()
    for i in range(16):
        osm.node(1 + i, lon_at(i), LAT_E)
    for j in range(1, 4):                                     # G109 turns north after km 10
        osm.node(100 + j, lon_at(10), north_of(LAT_E, 1000 * j))
    osm.way(1, list(range(1, 12)), highway="trunk", ref="G6;G109", name="京藏公路")
    osm.way(2, list(range(11, 17)), highway="trunk", ref="G6")
    osm.way(3, [11, 101, 102, 103], highway="primary", ref="g 109", name="青藏公路")
    osm.way(4, [11, 101, 102, 103], highway="primary", ref="g 109", name="青藏公路")   # duplicate way
    ways = read_highway_ways(osm.write(tmp_path / "shared.osm"))
    assert sorted(ways.loc[ways["way_id"] == 1, "ref"]) == ["G109", "G6"]
    r = analyze_corridors(ways, stations_frame([home("S", lon_at(5), LAT_E)]))
    c = r.corridors.set_index("ref")
    assert c.loc["G6", "length_km"] == pytest.approx(east_km(15), abs=1e-6)
    north = float(haversine_m(lon_at(10), LAT_E, lon_at(10), north_of(LAT_E, 3000))) / 1000
    assert c.loc["G109", "length_km"] == pytest.approx(east_km(10) + north, abs=1e-6)
    assert c.loc["G6", "stations"] == 1 and c.loc["G109", "stations"] == 1
    assert c.loc["G6", "directions"] == "both" and c.loc["G6", "pieces"] == 1
    assert c.loc["G109", "pieces"] == 1                        # merged through the shared node
    assert c.loc["G109", "name"] == "青藏公路"                  # 2 ways of 3 named so
    assert c.loc["G6", "name"] == "京藏公路"


# -- (f) group and status ---------------------------------------------------------------------------

def test_group_and_status_filtering(dual) -> None:
    st = stations_frame([
        ("K", "快递员之家", "快递员", "在运营", lon_at(10), LAT),
        home("D", lon_at(30), LAT),
        home("OFF", lon_at(50), LAT, status="停用"),
        ("U", "工会爱心驿站", "外卖配送员、快递员、网约车司机、货车司机、其他户外劳动者", "在运营", lon_at(60), LAT),
        ("P", "司机之家", TRUCK, "筹建中", lon_at(80), LAT),
    ])
    trucks = analyze_corridors(dual, st, group="货车司机")
    assert set(trucks.placed["station_id"]) == {"D", "U"}
    assert set(analyze_corridors(dual, st, group="卡车司机").placed["station_id"]) == {"D", "U"}  # alias
    couriers = analyze_corridors(dual, st, group="快递员")
    assert set(couriers.placed["station_id"]) == {"K", "U"}
    everyone = analyze_corridors(dual, st, group=None)
    assert set(everyone.placed["station_id"]) == {"K", "D", "U"}
    assert everyone.params["n_stations"] == 3
    placed = trucks.placed[trucks.placed["direction"] == "forward"].set_index("station_id")
    assert placed.loc["D", "type"] == "司机之家" and placed.loc["D", "name"] == "站D"
    assert placed.loc["D", "at_km"] == pytest.approx(east_km(30), abs=1e-6)
    with pytest.raises(ValueError, match="unknown worker group"):
        analyze_corridors(dual, st, group="宇航员")


# -- (g) two-way only ------------------------------------------------------------------------------------

def test_two_way_road_has_one_direction_both(tmp_path: Path) -> None:
    osm = Osm()
    two_way_road(osm)
    r = analyze_corridors(read_highway_ways(osm.write(tmp_path / "g109.osm")),
                          stations_frame([home("S", lon_at(25), north_of(LAT_E, 300))]))
    row = r.corridors.iloc[0]
    E = east_km
    assert row["directions"] == "both" and row["pieces"] == 1 and row["name"] == "青藏公路"
    assert row["length_km"] == pytest.approx(E(100), abs=1e-6)
    assert list(r.pieces["direction"]) == ["both"] and list(r.pieces["heading"]) == ["E"]
    assert_gaps(gaps_of(r, "G109", "both"), [(1, 0.0, E(25), "", "S"), (1, E(25), E(100), "S", "")])
    assert r.placed.loc[0, "offset_m"] == pytest.approx(300.0, abs=0.5)
    assert row["longest_gap_km"] == pytest.approx(E(100) - E(25), abs=1e-6) and row["n_gaps_over_max"] == 1
    assert list(r.gaps["over_max"]) == [True, False]


def test_north_south_road_heading(tmp_path: Path) -> None:
    osm = Osm()
    for j in range(11):
        osm.node(1 + j, 101.0, north_of(36.0, 1000 * j))
    osm.way(1, list(range(11, 0, -1)), highway="trunk", ref="G214")    # drawn north -> south
    r = analyze_corridors(read_highway_ways(osm.write(tmp_path / "ns.osm")), None)
    assert list(r.pieces["heading"]) == ["N"]                            # both: along the axis (north)
    start = shapely.get_coordinates(r.pieces.geometry.iloc[0])[0]
    assert start[1] == pytest.approx(36.0)


# -- (h) share within reach -------------------------------------------------------------------------------

@pytest.mark.parametrize(("at", "reach_km", "covered"), [
    ((10, 30), 25.0, lambda E: E(30) + 25),                       # [0, 35] U [5, 55] = [0, 55]: 0.55
    ((10, 90), 5.0, lambda E: 20.0),                              # [5, 15] U [85, 95]: 0.20
    ((50,), 100.0, lambda E: E(100)),                             # clipped to the road: 1
    ((0, 0, 100), 10.0, lambda E: 20.0),                          # [0, 10] U [90, 100]: 0.20
])
def test_share_within_reach(tmp_path: Path, at: tuple[int, ...], reach_km: float, covered) -> None:
    osm = Osm()
    two_way_road(osm)
    ways = read_highway_ways(osm.write(tmp_path / "road.osm"))
    st = stations_frame([home(f"S{i}", lon_at(k), LAT_E) for i, k in enumerate(at)])
    r = analyze_corridors(ways, st, reach_km=reach_km)
    share = covered(east_km) / east_km(100)
    assert share == pytest.approx({25.0: 0.55, 5.0: 0.2, 100.0: 1.0, 10.0: 0.2}[reach_km], abs=1e-6)
    assert r.corridors.loc[0, "share_within_reach"] == pytest.approx(share, abs=1e-9)
    assert (r.gaps["length_km"] > 0).all()
    assert r.gaps["length_km"].sum() == pytest.approx(east_km(100), abs=1e-6)


def test_share_within_reach_counts_both_directions(dual) -> None:
    r = analyze_corridors(dual, stations_frame([home("S", lon_at(0), LAT)]), reach_km=10)
    assert r.corridors.loc[0, "share_within_reach"] == pytest.approx(
        (10 + 10) / (east_km(100) + west_km(0)), abs=1e-9)        # km 0-10 east, the last 10 km west
    assert analyze_corridors(dual, None).corridors.loc[0, "share_within_reach"] == 0.0


# -- empty inputs, JSON, files ---------------------------------------------------------------------------------

def test_empty_inputs_give_empty_results(tmp_path: Path, dual) -> None:
    empty_ways = dual.iloc[0:0]
    r = analyze_corridors(empty_ways, stations_frame([home("S", lon_at(1), LAT)]))
    assert r.corridors.empty and r.gaps.empty and r.pieces.empty and r.placed.empty
    assert list(r.corridors.columns)[:3] == ["ref", "name", "length_km"]
    assert r.as_json() == [] and r.gaps_geojson() == {"type": "FeatureCollection", "features": []}
    paths = write_corridor_outputs(r, tmp_path / "out")
    assert [p.name for p in paths] == ["corridors.csv", "corridor_gaps.geojson"]
    nothing = analyze_corridors(dual, stations_frame([]))
    assert nothing.placed.empty and len(nothing.gaps) == 2


def test_as_json_and_outputs(tmp_path: Path) -> None:
    osm = Osm()
    dual_carriageway(osm)
    two_way_road(osm, km=30, ref="G109")
    ways = read_highway_ways(osm.write(tmp_path / "two.osm"))
    st = stations_frame([home("=S1", lon_at(20), LAT)])
    r = analyze_corridors(ways, st, max_gap_km=40)
    data = json.loads(json.dumps(r.as_json(), ensure_ascii=False))
    assert [c["ref"] for c in data] == ["G6", "G109"]                    # longest gap first (80 km)
    g6 = data[0]
    assert set(g6) == {"ref", "name", "length_km", "pieces", "stations", "longest_gap_km",
                       "share_within_reach", "n_gaps_over_max", "directions", "gaps"}
    assert g6["longest_gap_km"] == pytest.approx(east_km(100) - east_km(20), abs=1e-3)
    assert g6["n_gaps_over_max"] == 2
    assert [g["length_km"] for g in g6["gaps"]] == sorted((g["length_km"] for g in g6["gaps"]), reverse=True)
    assert set(g6["gaps"][0]) == {"from_km", "to_km", "length_km", "direction", "piece", "from_lon",
                                  "from_lat", "to_lon", "to_lat", "from_station", "to_station", "over_max"}
    assert g6["gaps"][0]["from_station"] == "=S1" and g6["gaps"][0]["over_max"] is True

    paths = write_corridor_outputs(r, tmp_path / "out")
    raw = paths[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(paths[0], encoding="utf-8-sig")
    assert list(table.columns) == ["ref", "name", "length_km", "pieces", "directions", "stations",
                                   "longest_gap_km", "n_gaps_over_max", "share_within_reach"]
    geo = json.loads(paths[1].read_text(encoding="utf-8"))
    assert len(geo["features"]) == len(r.gaps)
    assert geo["features"][0]["geometry"]["type"] == "LineString"
    assert set(geo["features"][0]["properties"]) >= {"ref", "direction", "piece", "from_km", "over_max"}
    utm = r.gaps_geojson("EPSG:32647")
    x = utm["features"][0]["geometry"]["coordinates"][0][0]
    assert 100_000 < x < 900_000                                          # metres, not degrees


def test_bad_parameters_and_frames(dual) -> None:
    with pytest.raises(ValueError, match="station_radius_m"):
        analyze_corridors(dual, None, station_radius_m=0)
    with pytest.raises(ValueError, match="max_gap_km"):
        analyze_corridors(dual, None, max_gap_km=-1)
    with pytest.raises(ValueError, match="oneway"):
        analyze_corridors(dual.drop(columns="oneway"), None)
    with pytest.raises(ValueError, match="status"):
        analyze_corridors(dual, pd.DataFrame({"id": ["a"], "lon": [101.0], "lat": [36.5], "groups": [""]}))


def test_fork_is_measured_per_unbranched_chain(tmp_path: Path) -> None:
    osm = Osm()
    two_way_road(osm, km=20, way_km=10, ref="G6")                # stem km 0-10, east branch km 10-20
    for j in range(1, 6):
        osm.node(9000 + j, lon_at(10), north_of(LAT_E, 1000 * j))
    osm.way(9000, [5010] + [9000 + j for j in range(1, 6)], highway="primary", ref="G6")
    r = analyze_corridors(read_highway_ways(osm.write(tmp_path / "fork.osm")), None)
    north = float(haversine_m(lon_at(10), LAT_E, lon_at(10), north_of(LAT_E, 5000))) / 1000
    assert sorted(r.pieces["length_km"]) == pytest.approx(
        sorted([east_km(10), east_km(20) - east_km(10), north]), abs=1e-6)
    assert r.corridors.loc[0, "pieces"] == 3


def test_random_road_against_brute_force_utm(tmp_path: Path) -> None:
    """A seeded winding two-way road and 300 random stations: which stations are within the radius,
    where they are placed and how far off the road, against shapely in UTM 47N (EPSG:32647)."""
    from pyproj import Transformer

    rng = np.random.default_rng(7)
    n = 400                                                    # 0.5 km segments, 200 km
    heading = np.radians(60) + np.cumsum(rng.normal(0, 0.08, n))
    to_lonlat = Transformer.from_crs(32647, 4326, always_xy=True)
    xy = np.cumsum(np.r_[[[400_000.0, 4_040_000.0]], 500 * np.c_[np.sin(heading), np.cos(heading)]], axis=0)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    osm = Osm()
    for i in range(n + 1):
        osm.node(1 + i, snap(lon[i]), snap(lat[i]))
    for w in range(0, n, 25):
        osm.way(1 + w, list(range(1 + w, 1 + min(w + 25, n) + 1)), highway="primary", ref="G315")
    ways = read_highway_ways(osm.write(tmp_path / "winding.osm"))
    pick = rng.integers(0, n, 300)
    sx = xy[pick, 0] + rng.uniform(-4000, 4000, 300)
    sy = xy[pick, 1] + rng.uniform(-4000, 4000, 300)
    slon, slat = to_lonlat.transform(sx, sy)
    st = stations_frame([home(f"S{i}", slon[i], slat[i]) for i in range(300)])
    r = analyze_corridors(ways, st)
    assert r.corridors.loc[0, "pieces"] == 1

    to_utm = Transformer.from_crs(4326, 32647, always_xy=True)
    road = shapely.LineString(np.column_stack(to_utm.transform(*shapely.get_coordinates(
        r.pieces.geometry.iloc[0]).T)))
    assert r.pieces["length_km"].iloc[0] == pytest.approx(road.length / 1000, rel=5e-3)
    placed = r.placed.set_index("station_id")
    checked = 0
    for i in range(300):
        p = shapely.Point(*to_utm.transform(slon[i], slat[i]))
        dist = road.distance(p)
        if abs(dist - 2000) < 10:                              # too close to the radius to judge
            continue
        assert (f"S{i}" in placed.index) == (dist <= 2000), (i, dist)
        if dist <= 2000:
            checked += 1
            assert placed.loc[f"S{i}", "offset_m"] == pytest.approx(dist, rel=5e-3, abs=2.0)
            assert placed.loc[f"S{i}", "at_km"] == pytest.approx(road.project(p) / 1000, rel=5e-3, abs=0.05)
    assert checked > 50


# -- (i) the real S1113 motorway in Xining, against an independent UTM computation ------------------------------

def test_s1113_against_utm(tmp_path: Path) -> None:
    from pyproj import Transformer

    path = shared_data("osm/qinghai_xining_s1113.osm")
    ways = read_highway_ways(path)
    assert len(ways) == 53 and set(ways["ref"]) == {"S1113"} and set(ways["oneway"]) == {1}

    to_utm = Transformer.from_crs(4326, 32647, always_xy=True)
    to_lonlat = Transformer.from_crs(32647, 4326, always_xy=True)
    utm = [shapely.LineString(np.column_stack(to_utm.transform(*np.asarray(g.coords).T))) for g in ways.geometry]
    chains = list(shapely.get_parts(shapely.line_merge(shapely.MultiLineString(utm), directed=True)))
    assert len(chains) == 7

    def heads_ne(c) -> bool:
        (x0, y0), (x1, y1) = c.coords[0], c.coords[-1]
        return (x1 - x0) + (y1 - y0) > 0

    def start_along(c) -> float:
        x, y = c.coords[0]
        return x + y

    oracle = {"forward": sorted([c for c in chains if heads_ne(c)], key=start_along),
              "backward": sorted([c for c in chains if not heads_ne(c)], key=start_along, reverse=True)}
    assert [len(oracle["forward"]), len(oracle["backward"])] == [4, 3]

    # three synthetic stations 300 m / 150 m beside the longest pieces
    fwd = max(oracle["forward"], key=lambda c: c.length)
    bwd = max(oracle["backward"], key=lambda c: c.length)
    assert fwd.length / 1000 == pytest.approx(17.2, abs=0.1) and bwd.length / 1000 == pytest.approx(17.2, abs=0.1)

    def beside(line, at_m: float, offset_m: float) -> shapely.Point:
        p, q = line.interpolate(at_m), line.interpolate(at_m + 1.0)
        dx, dy = q.x - p.x, q.y - p.y
        n = math.hypot(dx, dy)
        return shapely.Point(p.x + dy / n * offset_m, p.y - dx / n * offset_m)   # to the right

    points = {"A": beside(fwd, 3000, 300), "B": beside(fwd, 11000, 300), "C": beside(bwd, 8000, 150)}
    lonlat = {k: to_lonlat.transform(p.x, p.y) for k, p in points.items()}
    st = stations_frame([home(k, lon, lat) for k, (lon, lat) in lonlat.items()])
    r = analyze_corridors(ways, st)

    row = r.corridors.iloc[0]
    assert row["pieces"] == 7 and row["directions"] == "forward+backward" and row["stations"] == 3
    assert row["name"] == "宁贵高速"
    for direction, lines in oracle.items():
        got = r.pieces[r.pieces["direction"] == direction].sort_values("piece")
        assert list(got["piece"]) == list(range(1, len(lines) + 1))
        assert list(got["length_km"]) == pytest.approx([c.length / 1000 for c in lines], rel=5e-3)
        assert set(got["heading"]) == {"NE" if direction == "forward" else "SW"}
        # placements and gaps against shapely project() in UTM
        expected_gaps = []
        for number, line in enumerate(lines, start=1):
            near = sorted((line.project(p) / 1000, k, line.distance(p)) for k, p in points.items()
                          if line.distance(p) <= 2000)
            placed = r.placed[(r.placed["direction"] == direction) & (r.placed["piece"] == number)]
            placed = placed.sort_values("at_km")
            assert list(placed["station_id"]) == [k for _, k, _ in near]
            for (at, _, dist), got_at, got_off in zip(near, placed["at_km"], placed["offset_m"]):
                assert got_at == pytest.approx(at, rel=5e-3, abs=0.03)
                assert got_off == pytest.approx(dist, abs=2.0)
            stops = [0.0] + [at for at, _, _ in near] + [line.length / 1000]
            ids = [""] + [k for _, k, _ in near] + [""]
            expected_gaps += [(number, a, b, i, j) for a, b, i, j in zip(stops[:-1], stops[1:], ids[:-1], ids[1:])
                              if b - a > 1e-6]
        actual = gaps_of(r, "S1113", direction)
        assert [(g[0], g[3], g[4]) for g in actual] == [(g[0], g[3], g[4]) for g in expected_gaps]
        for a, e in zip(actual, expected_gaps):
            assert a[1] == pytest.approx(e[1], rel=5e-3, abs=0.03)
            assert a[2] == pytest.approx(e[2], rel=5e-3, abs=0.03)
    # the three stations sit beside both carriageways of the long pieces
    assert len(r.placed) == 6
    assert row["length_km"] == pytest.approx(
        max(sum(c.length for c in oracle[d]) for d in oracle) / 1000, rel=5e-3)
