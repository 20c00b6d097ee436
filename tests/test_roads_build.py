"""The streaming road-network builder (geodata.roads.network_from_file) against the osmnx oracle.

``network_from_graph(graph_from_file(path))`` -- pyosmium filter, temporary XML,
``osmnx.graph_from_xml``, osmnx speeds -- is the independent reference: the streaming builder must
give the same nodes, edges, lengths and travel times, on hand-made edge cases (with known answers
too) and on the real files of ../shared/data/osm.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import INPUT, shared_data
from yizhan.geodata import roads
from yizhan.geodata.roads import MODES, RoadNetwork, TravelMode, network_from_file, parse_maxspeed_kmh

OSMNX_R = 6_371_009.0
MPH = 1.60934

# Hand-made edge cases (WGS-84, around Guangzhou).  Node 999 and 998 are missing (clipped extract).
#   ways 201-213: a chain 1-2-...-17 of one-way variants and maxspeed forms
#   214-217: access refusals; 218: missing nodes; 219: consecutive duplicate node;
#   220: a building; 221: a footway; 222, 224: residential maxspeeds (mph list, plain)
EDGE_CASES_NODES = {
    1: (113.300, 23.100), 2: (113.301, 23.100), 3: (113.302, 23.100), 4: (113.303, 23.100),
    5: (113.304, 23.100), 6: (113.305, 23.100), 7: (113.306, 23.100), 8: (113.307, 23.100),
    9: (113.3075, 23.1008), 10: (113.308, 23.100), 11: (113.3085, 23.0992), 12: (113.309, 23.100),
    13: (113.310, 23.100), 14: (113.311, 23.100), 15: (113.312, 23.100), 16: (113.313, 23.100),
    17: (113.314, 23.100), 18: (113.300, 23.101), 19: (113.301, 23.101), 20: (113.302, 23.101),
    21: (113.303, 23.101), 22: (113.304, 23.099), 23: (113.304, 23.097), 24: (113.304, 23.096),
    25: (113.304, 23.095), 26: (113.305, 23.099), 27: (113.305, 23.098), 28: (113.290, 23.090),
    29: (113.291, 23.090), 30: (113.291, 23.091), 31: (113.306, 23.101), 32: (113.306, 23.102),
    33: (113.313, 23.101), 34: (113.314, 23.101), 35: (113.314, 23.102),
}
EDGE_CASES_WAYS = [
    (201, [1, 2, 3], {"highway": "primary", "oneway": "yes", "maxspeed": "30 mph"}),
    (202, [3, 4], {"highway": "primary", "oneway": "-1", "maxspeed": "50|60"}),
    (203, [4, 5], {"highway": "secondary", "oneway": "reverse", "maxspeed": "none"}),
    (204, [5, 6], {"highway": "secondary", "oneway": "true", "maxspeed": "0"}),
    (205, [6, 7], {"highway": "tertiary", "oneway": "1", "maxspeed": "signals"}),
    (206, [7, 8], {"highway": "tertiary", "oneway": "no", "maxspeed": "50;60"}),
    (207, [8, 9, 10, 8], {"highway": "residential", "junction": "roundabout"}),
    (208, [10, 11, 12, 10], {"highway": "residential", "junction": "roundabout", "oneway": "no"}),
    (209, [12, 13], {"highway": "residential", "oneway": "T"}),
    (210, [13, 14], {"highway": "residential", "oneway": "F"}),
    (211, [14, 15], {"highway": "unclassified", "maxspeed": "DE:urban"}),
    (212, [15, 16], {"highway": "trunk", "maxspeed": "7,5"}),
    (213, [16, 17], {"highway": "motorway", "oneway": "yes", "maxspeed": "120 km/h"}),
    (214, [1, 18], {"highway": "residential", "hgv": "no"}),
    (215, [2, 19], {"highway": "residential", "access": "private"}),
    (216, [3, 20], {"highway": "service", "service": "driveway"}),
    (217, [4, 21], {"highway": "residential", "motor_vehicle": "no"}),
    (218, [5, 22, 999, 23, 998, 24, 25], {"highway": "residential"}),
    (219, [6, 26, 26, 27], {"highway": "residential"}),
    (220, [28, 29, 30, 28], {"building": "yes"}),
    (221, [7, 31, 32], {"highway": "footway"}),
    (222, [16, 33], {"highway": "residential", "maxspeed": "60 mph|70 mph"}),
    (224, [17, 34, 35], {"highway": "residential", "maxspeed": "20"}),
]


def write_osm(path, nodes: dict[int, tuple[float, float]], ways) -> None:
    """A small OSM XML file (nodes listed as lon, lat)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    lines += [f'  <node id="{i}" lat="{lat:.7f}" lon="{lon:.7f}"/>' for i, (lon, lat) in nodes.items()]
    for way_id, refs, tags in ways:
        lines.append(f'  <way id="{way_id}">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def to_pbf(xml, pbf) -> None:
    """The same data as .osm.pbf (pyosmium copies every object)."""
    import osmium

    with osmium.SimpleWriter(str(pbf), overwrite=True) as writer:
        osmium.apply(str(xml), writer)


@pytest.fixture(scope="module")
def edge_cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge_cases")
    xml = folder / "edge_cases.osm"
    write_osm(xml, EDGE_CASES_NODES, EDGE_CASES_WAYS)
    pbf = folder / "edge_cases.osm.pbf"
    to_pbf(xml, pbf)
    return xml, pbf


def oracle(path, mode: str, *, largest: bool = True) -> RoadNetwork:
    """The osmnx pipeline: the reference network."""
    return roads.network_from_graph(roads.graph_from_file(path, mode=mode), mode=mode,
                                    source=str(path), largest=largest)


def assert_same_network(got: RoadNetwork, expected: RoadNetwork, *, rtol: float = 1e-9) -> None:
    """Same node ids and coordinates (exactly), same directed edges, lengths and times to rtol."""
    np.testing.assert_array_equal(got.node_id, expected.node_id)
    np.testing.assert_array_equal(got.lon, expected.lon)
    np.testing.assert_array_equal(got.lat, expected.lat)
    np.testing.assert_array_equal(got.length_m.indptr, expected.length_m.indptr)
    np.testing.assert_array_equal(got.length_m.indices, expected.length_m.indices)
    np.testing.assert_array_equal(got.time_s.indptr, got.length_m.indptr)
    np.testing.assert_array_equal(got.time_s.indices, got.length_m.indices)
    np.testing.assert_allclose(got.length_m.data, expected.length_m.data, rtol=rtol, atol=0)
    np.testing.assert_allclose(got.time_s.data, expected.time_s.data, rtol=rtol, atol=0)
    assert got.mode == expected.mode and got.leg_speed_kmh == expected.leg_speed_kmh


def edges_by_id(net: RoadNetwork) -> dict[tuple[int, int], tuple[float, float]]:
    """{(from OSM id, to OSM id): (length_m, time_s)}."""
    m = net.length_m.tocoo()
    t = net.time_s.tocoo()
    return {(int(net.node_id[i]), int(net.node_id[j])): (float(a), float(b))
            for i, j, a, b in zip(m.row, m.col, m.data, t.data)}


def great_circle_m(a: int, b: int) -> float:
    (lon1, lat1), (lon2, lat2) = EDGE_CASES_NODES[a], EDGE_CASES_NODES[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * OSMNX_R * math.asin(math.sqrt(h))


# -- hand-made edge cases: known answers --------------------------------------------------------

def test_one_way_rules_for_car(edge_cases):
    xml, _ = edge_cases
    car = edges_by_id(network_from_file(xml, mode="car", largest=False))
    one_way = {(1, 2), (2, 3),            # oneway=yes
               (4, 3),                    # oneway=-1: against the node order
               (5, 4),                    # oneway=reverse
               (5, 6), (6, 7),            # oneway=true, oneway=1
               (8, 9), (9, 10), (10, 8),  # roundabout without oneway tag
               (10, 11), (11, 12), (12, 10),  # roundabout with oneway=no: still one-way (osmnx)
               (13, 12),                  # oneway=T: osmnx reads it as reversed
               (13, 14),                  # oneway=F: osmnx reads it as one-way forward
               (16, 17)}                  # motorway oneway=yes
    for a, b in one_way:
        assert (a, b) in car and (b, a) not in car, (a, b)
    for a, b in [(7, 8), (14, 15), (15, 16), (1, 18), (5, 22), (24, 25), (6, 26), (26, 27)]:
        assert (a, b) in car and (b, a) in car, (a, b)       # two-way streets
    # walk: every way two-way
    walk = edges_by_id(network_from_file(xml, mode="walk", largest=False))
    for a, b in one_way - {(16, 17)}:                        # no motorway for walkers
        assert (a, b) in walk and (b, a) in walk


def test_access_refusals_and_non_roads(edge_cases):
    xml, _ = edge_cases
    nodes = {mode: set(network_from_file(xml, mode=mode, largest=False).node_id.tolist()) for mode in MODES}
    assert 18 in nodes["car"] and 18 not in nodes["truck"]               # hgv=no
    assert all(19 not in ids for ids in nodes.values())                  # access=private
    assert 20 not in nodes["car"] and 20 in nodes["walk"] and 20 in nodes["ebike"]  # driveway
    assert 21 not in nodes["car"] and 21 not in nodes["truck"] and 21 in nodes["ebike"]  # motor_vehicle=no
    assert 31 in nodes["walk"] and 31 not in nodes["ebike"] and 31 not in nodes["car"]  # footway
    assert all(not ({28, 29, 30} & ids) for ids in nodes.values())       # the building
    walk = edges_by_id(network_from_file(xml, mode="walk", largest=False))
    assert (16, 17) not in walk and (17, 16) not in walk                 # the motorway
    assert (16, 17) in edges_by_id(network_from_file(xml, mode="car", largest=False))


def test_missing_nodes_split_the_way(edge_cases, caplog):
    xml, _ = edge_cases
    with caplog.at_level("WARNING", logger="yizhan.geodata.roads"):
        net = network_from_file(xml, mode="car", largest=False)
    assert any("missing from the file" in r.getMessage() for r in caplog.records)
    edges = edges_by_id(net)
    ids = set(net.node_id.tolist())
    assert {22, 24, 25} <= ids and 23 not in ids          # 23 sits alone between two gaps
    assert (5, 22) in edges and (24, 25) in edges and (22, 24) not in edges
    assert not any(999 in e or 998 in e or 23 in e for e in edges)
    # consecutive duplicate node: no self-loop, the way continues
    assert (26, 26) not in edges and (6, 26) in edges and (26, 27) in edges


def test_lengths_and_speeds(edge_cases):
    xml, _ = edge_cases
    car = edges_by_id(network_from_file(xml, mode="car", largest=False))
    truck = edges_by_id(network_from_file(xml, mode="truck", largest=False))

    def check(edges, a, b, speed_kmh):
        length, time_s = edges[(a, b)]
        assert length == pytest.approx(great_circle_m(a, b), rel=1e-9)
        assert time_s == pytest.approx(length / (speed_kmh / 3.6), rel=1e-12), (a, b)

    check(car, 1, 2, 30 * MPH)             # "30 mph"
    check(car, 4, 3, 55.0)                 # "50|60": per-lane values averaged
    check(car, 5, 4, 50.0)                 # "none": the secondary default
    check(car, 5, 6, 50.0)                 # "0": unusable, the secondary default
    check(car, 6, 7, 40.0)                 # "signals": the tertiary default
    check(car, 7, 8, 40.0)                 # "50;60": not osmnx's list syntax, the default
    check(car, 14, 15, 50.0)               # "DE:urban": an implicit value
    check(car, 15, 16, 7.5)                # "7,5": decimal comma
    check(car, 16, 17, 120.0)              # "120 km/h"
    check(truck, 16, 17, 80.0)             # the truck cap on motorways
    check(truck, 4, 3, 55.0)               # under the 60 km/h truck cap
    check(car, 16, 33, 65 * MPH)           # "60 mph|70 mph"
    check(truck, 16, 33, 60.0)             # ... capped for trucks
    check(car, 8, 9, 30.0)                 # residential default
    walk = edges_by_id(network_from_file(xml, mode="walk", largest=False))
    check(walk, 2, 1, 4.5)
    ebike = edges_by_id(network_from_file(xml, mode="ebike", largest=False))
    check(ebike, 3, 20, 15.0)


def test_no_usable_way(tmp_path):
    only_building = tmp_path / "building.osm"
    write_osm(only_building, {k: EDGE_CASES_NODES[k] for k in (28, 29, 30)}, [EDGE_CASES_WAYS[19]])
    with pytest.raises(ValueError, match="no ways usable by mode 'car'"):
        network_from_file(only_building, mode="car")
    with pytest.raises(FileNotFoundError):
        network_from_file(tmp_path / "missing.osm.pbf", mode="car")
    with pytest.raises(ValueError, match="unknown travel mode"):
        network_from_file(only_building, mode="plane")


# -- hand-made edge cases: the osmnx oracle -----------------------------------------------------

@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("largest", [False, True])
def test_edge_cases_match_osmnx(edge_cases, mode, largest):
    xml, pbf = edge_cases
    expected = oracle(xml, mode, largest=largest)
    assert_same_network(network_from_file(xml, mode=mode, largest=largest), expected)
    assert_same_network(network_from_file(pbf, mode=mode, largest=largest), expected)


def test_highway_type_without_default_speed_matches_osmnx(edge_cases, monkeypatch):
    """osmnx imputes a highway type missing from hwy_speeds with the mean tagged speed of its
    edges (here residential: 2 edges at 65 mph, 4 at 20 km/h); unreachable with our modes but
    reproduced."""
    van = TravelMode(name="van", description="test mode", highways=MODES["car"].highways,
                     access_keys=("access",), two_way=False, leg_speed_kmh=20.0,
                     hwy_speeds_kmh={"primary": 55.0, "secondary": 45.0})
    monkeypatch.setitem(roads.MODES, "van", van)
    got = network_from_file(edge_cases[0], mode="van", largest=False)
    assert_same_network(got, oracle(edge_cases[0], "van", largest=False))
    mean_kmh = (2 * 65 * MPH + 4 * 20.0) / 6
    length, time_s = edges_by_id(got)[(8, 9)]                 # untagged residential
    assert time_s == pytest.approx(length / (mean_kmh / 3.6), rel=1e-12)


def test_maxspeed_parsing_matches_osmnx():
    from osmnx.routing import _IMPLICIT_MAXSPEEDS, _clean_maxspeed

    assert roads._IMPLICIT_MAXSPEEDS_KMH == _IMPLICIT_MAXSPEEDS
    values = ["60", "60 km/h", "60kmh", "60 kph", "30 mph", "30mph", "30 MPH", "20 knots", "50|60",
              "50|60|70", "30 mph|40", "50;60", "7,5", "7.5", "0", "00", "none", "signals", "walk",
              "DE:urban", "RU:rural", "UK:nsl_single", "", "|", "50|", "-30", "1e3", "60 km/h|",
              "1" * 400, "6.0.1", " 60", "60\n"]
    for value in values:
        expected = _clean_maxspeed(value)
        got = parse_maxspeed_kmh(value)
        if expected is None or (isinstance(expected, float) and math.isnan(expected)):
            assert math.isnan(got), value
        else:
            assert got == expected, value
    assert math.isnan(parse_maxspeed_kmh(None))


def test_one_way_rules_match_osmnx():
    from osmnx.graph import _is_path_one_way, _is_path_reversed

    oneway_values = {"yes", "true", "1", "-1", "reverse", "T", "F"}
    reversed_values = {"-1", "reverse", "T"}
    for oneway in [None, "yes", "no", "true", "false", "1", "0", "-1", "reverse", "T", "F",
                   "alternating", "reversible", "Yes"]:
        for junction in [None, "roundabout", "circular"]:
            for two_way in (False, True):
                tags = {k: v for k, v in (("oneway", oneway), ("junction", junction)) if v is not None}
                one = _is_path_one_way(tags, two_way, oneway_values)
                expected = (-1 if _is_path_reversed(tags, reversed_values) else 1) if one else 0
                assert roads._way_direction(tags, two_way) == expected, tags


def test_build_does_not_import_osmnx():
    code = ("import sys; from yizhan.geodata.roads import network_from_file; "
            f"net = network_from_file({str(INPUT / 'tiny_roads.osm')!r}, mode='car'); "
            "print(net.n_nodes, 'osmnx' in sys.modules, 'networkx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["12", "False", "False"]


# -- real files ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", ["shanghai_center.osm", "shanghai_center.osm.pbf", "helsinki.osm.pbf"])
def test_real_files_match_osmnx(name, mode):
    path = shared_data(f"osm/{name}")
    expected = oracle(path, mode)
    got = network_from_file(path, mode=mode)
    assert got.n_nodes > 1000
    assert_same_network(got, expected)


@pytest.mark.slow
def test_every_component_matches_osmnx():
    path = shared_data("osm/helsinki.osm.pbf")           # clipped: many ways with missing nodes
    assert_same_network(network_from_file(path, mode="car", largest=False),
                        oracle(path, "car", largest=False))
