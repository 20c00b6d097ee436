"""Road networks (geodata.roads) and network distance / time to the nearest station (coverage.network)."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from conftest import INPUT, shared_data
from yizhan.coverage.network import (
    multi_source_dijkstra,
    nearest_on_network,
    network_distance_and_time,
    snap,
)
from yizhan.geodata import roads
from yizhan.geodata.roads import MODES, load_network, network_from_edges, way_allowed
from yizhan.geodata.sphere import haversine_m

TINY = INPUT / "tiny_roads.osm"
OSMNX_R = 6_371_009.0          # osmnx's Earth radius for edge lengths


# -- hand-computed lengths on tiny_roads.osm (see the drawing in the file) ------------------------

def north_m(lat1: float, lat2: float) -> float:
    """Length of a north-south segment (same longitude): R * delta latitude."""
    return OSMNX_R * math.radians(abs(lat2 - lat1))


def east_m(lat: float, dlon: float = 0.001) -> float:
    """Length of an east-west segment at one latitude (haversine with osmnx's radius)."""
    return 2 * OSMNX_R * math.asin(math.cos(math.radians(lat)) * math.sin(math.radians(dlon) / 2))


XY = {1: (121.470, 31.199), 2: (121.471, 31.199), 3: (121.472, 31.199), 4: (121.473, 31.199),
      5: (121.470, 31.201), 6: (121.471, 31.201), 7: (121.472, 31.201), 8: (121.473, 31.201),
      9: (121.470, 31.202), 10: (121.471, 31.202), 11: (121.472, 31.202), 12: (121.473, 31.202),
      13: (121.480, 31.205), 14: (121.480, 31.206)}
ROW0, ROW1, ROW2 = east_m(31.199), east_m(31.201), east_m(31.202)   # one column apart
UP01, UP12 = north_m(31.199, 31.201), north_m(31.201, 31.202)


def kmh(speed: float) -> float:
    return speed / 3.6


def run(network, station: int | list[int], target: int | list[int], **kw):
    """Stations and targets placed exactly on tiny-network nodes (legs 0)."""
    s = [station] if isinstance(station, int) else station
    t = [target] if isinstance(target, int) else target
    return nearest_on_network(network, [XY[i][0] for i in s], [XY[i][1] for i in s],
                              [XY[i][0] for i in t], [XY[i][1] for i in t], **kw)


@pytest.fixture(scope="module")
def tiny():
    return {mode: load_network(TINY, mode=mode) for mode in MODES}


def test_tiny_nodes_per_mode(tiny):
    # walk: no motorway (11 only on the motorway and the private lane); the footway brings 10
    assert sorted(tiny["walk"].node_id) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    # e-bike: no motorway, no footway without bicycle=yes
    assert sorted(tiny["ebike"].node_id) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 12]
    # car: motorway in, footway and private lane out; isolated service road 13-14 dropped
    assert sorted(tiny["car"].node_id) == list(range(1, 13))
    assert tiny["car"].n_edges == 6 + 3 + 4 + 4 + 3       # two-way, one-way, two-way, two-way, one-way
    assert tiny["walk"].n_edges == 2 * (3 + 3 + 2 + 2 + 2)
    everything = load_network(TINY, mode="car", largest=False)
    assert sorted(everything.node_id) == list(range(1, 15))   # the building (15-17) is no road
    for net in tiny.values():
        assert net.lon.dtype == np.float64 and net.node_id.dtype == np.int64
        assert net.length_m.shape == (net.n_nodes, net.n_nodes)
        assert (net.length_m.indptr == net.time_s.indptr).all()
        assert (net.length_m.indices == net.time_s.indices).all()


def test_one_way_respected_for_car_not_for_walk(tiny):
    # with the one-way street (8 -> 5): the same for both
    assert run(tiny["walk"], 5, 8).distance_m[0] == pytest.approx(3 * ROW1, rel=1e-9)
    assert run(tiny["car"], 5, 8).distance_m[0] == pytest.approx(3 * ROW1, rel=1e-9)
    # against it (5 -> 8): walk goes straight, the car goes round by the motorway 5-9-...-12-8
    assert run(tiny["walk"], 8, 5).distance_m[0] == pytest.approx(3 * ROW1, rel=1e-9)
    assert run(tiny["car"], 8, 5).distance_m[0] == pytest.approx(UP12 + 3 * ROW2 + UP12, rel=1e-9)


def test_footway_for_walk_only_and_motorway_for_car_only(tiny):
    # 2 -> 10: walk on the footway 2-6-10; the car by 2-1-5-9 and the motorway 9-10
    assert run(tiny["walk"], 10, 2).distance_m[0] == pytest.approx(UP01 + UP12, rel=1e-9)
    assert run(tiny["car"], 10, 2).distance_m[0] == pytest.approx(ROW0 + UP01 + UP12 + ROW2, rel=1e-9)


def test_private_lane_excluded(tiny):
    # 7 -> 3: the private lane 7-3 is closed; walk 7-6-2-3 (or 7-8-4-3, same length),
    # car 7-6-5-1-2-3 (the one-way street forbids 7-8)
    assert run(tiny["walk"], 3, 7).distance_m[0] == pytest.approx(ROW1 + UP01 + ROW0, rel=1e-9)
    assert run(tiny["car"], 3, 7).distance_m[0] == pytest.approx(2 * ROW1 + UP01 + 2 * ROW0, rel=1e-9)


def test_travel_times_per_mode(tiny):
    walk = run(tiny["walk"], 8, 5, weight="time")
    assert walk.time_s[0] == pytest.approx(3 * ROW1 / kmh(4.5), rel=1e-9)
    assert walk.distance_m is None
    ebike = run(tiny["ebike"], 8, 5, weight="time")
    assert ebike.time_s[0] == pytest.approx(3 * ROW1 / kmh(15), rel=1e-9)
    # car 5 -> 8: secondary 50 km/h, motorway 100 km/h, tertiary 40 km/h
    car = run(tiny["car"], 8, 5, weight="time")
    assert car.time_s[0] == pytest.approx(UP12 / kmh(50) + 3 * ROW2 / kmh(100) + UP12 / kmh(40), rel=1e-9)
    # truck: motorway capped at 80 km/h
    truck = run(tiny["truck"], 8, 5, weight="time")
    assert truck.time_s[0] == pytest.approx(UP12 / kmh(50) + 3 * ROW2 / kmh(80) + UP12 / kmh(40), rel=1e-9)
    # maxspeed=40 on the primary wins over the primary default (60)
    assert run(tiny["car"], 5, 8, weight="time").time_s[0] == pytest.approx(3 * ROW1 / kmh(40), rel=1e-9)


def test_legs_and_nearest_station_index(tiny):
    net = tiny["walk"]
    # target 0.0005 deg south of node 1 (snaps to 1), stations on nodes 4, 2 and 12
    t_lon, t_lat = 121.470, 31.1985
    s_lon = [XY[4][0], XY[2][0], XY[12][0]]
    s_lat = [XY[4][1], XY[2][1], XY[12][1]]
    leg = float(haversine_m(t_lon, t_lat, *XY[1]))
    result = nearest_on_network(net, s_lon, s_lat, [t_lon], [t_lat])
    assert result.station[0] == 1
    assert result.distance_m[0] == pytest.approx(leg + ROW0, rel=1e-9)
    assert net.node_id[result.target_node[0]] == 1
    assert result.target_leg_m[0] == pytest.approx(leg, rel=1e-9)
    # a station off the network: its leg counts too, at the walking speed for time
    s_leg = float(haversine_m(121.471, 31.1995, *XY[2]))
    both = network_distance_and_time(net, [121.471], [31.1995], [t_lon], [t_lat])
    assert both.distance_m[0] == pytest.approx(leg + ROW0 + s_leg, rel=1e-9)
    assert both.time_s[0] == pytest.approx((leg + ROW0 + s_leg) / kmh(4.5), rel=1e-9)
    assert both.station[0] == 0 and both.fastest_station[0] == 0
    # points far outside the network still snap (long leg)
    far = nearest_on_network(net, s_lon, s_lat, [121.60], [31.30])
    assert np.isfinite(far.distance_m[0]) and far.target_leg_m[0] > 10_000


def test_fastest_and_shortest_can_differ():
    # 0 -> 2 directly (slow, 1000 m at 5 km/h) or 0 -> 1 -> 2 (fast, 1500 m at 50 km/h)
    net = network_from_edges([0.0, 0.005, 0.01], [0.0, 0.005, 0.0], [0, 0, 1], [2, 1, 2],
                             [1000.0, 750.0, 750.0], [720.0, 54.0, 54.0], two_way=True,
                             leg_speed_kmh=5.0)
    both = network_distance_and_time(net, [0.01], [0.0], [0.0], [0.0])
    assert both.distance_m[0] == pytest.approx(1000.0)
    assert both.time_s[0] == pytest.approx(108.0)


def test_zero_stations_and_empty_targets(tiny):
    net = tiny["car"]
    result = nearest_on_network(net, [], [], [121.47, 121.471], [31.2, 31.2])
    assert np.isinf(result.distance_m).all() and (result.station == -1).all()
    both = network_distance_and_time(net, [], [], [121.47], [31.2])
    assert np.isinf(both.time_s).all() and (both.fastest_station == -1).all()
    none = nearest_on_network(net, [121.47], [31.2], [], [])
    assert none.distance_m.shape == (0,) and none.station.shape == (0,)
    with pytest.raises(ValueError):
        nearest_on_network(net, [121.47], [31.2], [np.nan], [31.2])
    with pytest.raises(ValueError):
        nearest_on_network(net, [121.47], [31.2], [121.47], [31.2], weight="hops")


def test_unreachable_components():
    # two components: 0-1-2 (two-way) and 3 -> 4 (one-way)
    lon = [0.0, 0.01, 0.02, 1.0, 1.01]
    lat = [0.0, 0.0, 0.0, 0.0, 0.0]
    net = network_from_edges(lon, lat, [0, 1, 1, 2, 3], [1, 0, 2, 1, 4], [1000.0] * 5, [100.0] * 5)
    result = nearest_on_network(net, [0.0], [0.0], lon, lat)
    np.testing.assert_allclose(result.distance_m[:3], [0.0, 1000.0, 2000.0])
    assert np.isinf(result.distance_m[3:]).all() and (result.station[3:] == -1).all()
    assert (result.station[:3] == 0).all()
    # a station on node 4: node 3 reaches it (3 -> 4), node 4 is on it, 0-2 cannot
    result = nearest_on_network(net, [1.01], [0.0], lon, lat)
    np.testing.assert_allclose(result.distance_m[3:], [1000.0, 0.0])
    assert np.isinf(result.distance_m[:3]).all()
    # a station on node 3 cannot be reached from 4 (one-way)
    result = nearest_on_network(net, [1.0], [0.0], [1.01], [0.0])
    assert np.isinf(result.distance_m[0]) and result.station[0] == -1
    # car on the tiny file with every component: the isolated service road cannot reach stations
    full = load_network(TINY, mode="car", largest=False)
    r = nearest_on_network(full, [XY[1][0]], [XY[1][1]], [XY[13][0], XY[5][0]], [XY[13][1], XY[5][1]])
    assert np.isinf(r.distance_m[0]) and r.station[0] == -1
    assert r.distance_m[1] == pytest.approx(UP01, rel=1e-9)


def test_network_from_edges_parallel_zero_length_and_errors():
    lon, lat = [0.0, 0.0, 0.001], [0.0, 0.0, 0.0]      # nodes 0 and 1 at the same place
    net = network_from_edges(lon, lat, [0, 0, 1, 1], [1, 1, 2, 2], [0.0, 5.0, 120.0, 111.0],
                             [3.0, 1.0, 10.0, 20.0], node_id=[10, 11, 12])
    assert net.n_edges == 2
    assert net.length_m[0, 1] == 0.0 and net.time_s[0, 1] == 1.0     # minimum of each
    assert net.length_m[1, 2] == 111.0 and net.time_s[1, 2] == 10.0
    dist, station = multi_source_dijkstra(net, [2])
    np.testing.assert_allclose(dist, [111.0, 111.0, 0.0])            # zero-length edge is an edge
    assert (station == 0).all()
    dist, station = multi_source_dijkstra(net, [0])                  # nothing reaches 0 but itself
    assert dist[0] == 0 and np.isinf(dist[1:]).all() and list(station) == [0, -1, -1]
    with pytest.raises(ValueError, match="src/dst outside"):
        network_from_edges(lon, lat, [0], [3], [1.0], [1.0])
    with pytest.raises(ValueError, match="length_m"):
        network_from_edges(lon, lat, [0], [1], [-1.0], [1.0])


def test_spatial_reorder_keeps_distances():
    rng = np.random.default_rng(3)
    n = 400
    lon, lat = rng.uniform(113.2, 113.3, n), rng.uniform(23.1, 23.2, n)
    src, dst = rng.integers(0, n, 1600), rng.integers(0, n, 1600)
    length = haversine_m(lon[src], lat[src], lon[dst], lat[dst])
    plain = network_from_edges(lon, lat, src, dst, length, length / 5.0)
    ordered = network_from_edges(lon, lat, src, dst, length, length / 5.0, reorder=True)
    assert sorted(ordered.node_id) == list(range(n)) and (ordered.node_id != plain.node_id).any()
    assert ordered.n_edges == plain.n_edges
    s_lon, s_lat = rng.uniform(113.2, 113.3, 5), rng.uniform(23.1, 23.2, 5)
    a = network_distance_and_time(plain, s_lon, s_lat, lon, lat)
    b = network_distance_and_time(ordered, s_lon, s_lat, lon, lat)
    np.testing.assert_allclose(a.distance_m, b.distance_m, rtol=1e-12)
    np.testing.assert_allclose(a.time_s, b.time_s, rtol=1e-12)
    np.testing.assert_array_equal(a.station, b.station)


def test_snap_matches_brute_force(tiny):
    net = tiny["walk"]
    rng = np.random.default_rng(7)
    lon = rng.uniform(121.465, 121.478, 200)
    lat = rng.uniform(31.196, 31.206, 200)
    node, leg = snap(net, lon, lat)
    brute = haversine_m(lon[:, None], lat[:, None], net.lon[None, :], net.lat[None, :])
    np.testing.assert_array_equal(node, brute.argmin(axis=1))
    np.testing.assert_allclose(leg, brute.min(axis=1), rtol=1e-9)


def test_way_allowed_rules():
    assert way_allowed("walk", {"highway": "footway"})
    assert not way_allowed("walk", {"highway": "motorway"})
    assert not way_allowed("walk", {"highway": "trunk", "motorroad": "yes"})
    assert not way_allowed("walk", {"highway": "primary", "foot": "no"})
    assert way_allowed("walk", {"highway": "service", "access": "private", "foot": "yes"})
    assert not way_allowed("walk", {"highway": "cycleway"})
    assert way_allowed("walk", {"highway": "cycleway", "foot": "designated"})
    assert not way_allowed("ebike", {"highway": "footway"})
    assert way_allowed("ebike", {"highway": "footway", "bicycle": "yes"})
    assert not way_allowed("ebike", {"highway": "primary", "bicycle": "no"})
    assert not way_allowed("ebike", {"highway": "steps", "bicycle": "yes"})
    assert not way_allowed("car", {"highway": "footway"})
    assert not way_allowed("car", {"highway": "service", "service": "parking_aisle"})
    assert not way_allowed("car", {"highway": "residential", "motor_vehicle": "no"})
    assert way_allowed("car", {"highway": "residential", "access": "no", "motorcar": "yes"})
    assert not way_allowed("truck", {"highway": "service"})
    assert not way_allowed("truck", {"highway": "primary", "hgv": "no"})
    assert not way_allowed("car", {"building": "yes"})
    with pytest.raises(ValueError, match="unknown travel mode"):
        way_allowed("plane", {"highway": "primary"})


def test_cache_reused_without_osmnx(tmp_path, monkeypatch, caplog):
    import osmnx

    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="yizhan.geodata.roads"):
        first = load_network(TINY, mode="car", cache_dir=cache)
    assert any("built" in r.getMessage() for r in caplog.records)
    assert len(list(cache.glob("*.npz"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("network_from_file called although the network is cached")

    def refuse_osmnx(*args, **kwargs):
        raise AssertionError("osmnx.graph_from_xml called")

    # neither the streaming builder nor osmnx may run: the network comes from the cache
    monkeypatch.setattr(roads, "network_from_file", refuse)
    monkeypatch.setattr(osmnx, "graph_from_xml", refuse_osmnx)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="yizhan.geodata.roads"):
        second = load_network(TINY, mode="car", cache_dir=cache)
    assert any("loaded from cache" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(first.node_id, second.node_id)
    np.testing.assert_array_equal(first.lon, second.lon)
    assert (first.length_m != second.length_m).nnz == 0 and (first.time_s != second.time_s).nnz == 0
    assert second.mode == "car" and second.leg_speed_kmh == first.leg_speed_kmh
    # another mode is another key: it has to build (and the builder refuses here)
    with pytest.raises(AssertionError, match="network_from_file"):
        load_network(TINY, mode="walk", cache_dir=cache)
    # a changed file is another key too
    changed = tmp_path / "changed.osm"
    changed.write_bytes(TINY.read_bytes().replace(b'v="40"', b'v="30"'))
    with pytest.raises(AssertionError, match="network_from_file"):
        load_network(changed, mode="car", cache_dir=cache)
    # so is another cache format version
    monkeypatch.setattr(roads, "CACHE_FORMAT_VERSION", roads.CACHE_FORMAT_VERSION + 1)
    with pytest.raises(AssertionError, match="network_from_file"):
        load_network(TINY, mode="car", cache_dir=cache)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown travel mode"):
        load_network(TINY, mode="plane")
    with pytest.raises(ValueError, match="unsupported road file"):
        load_network(tmp_path / "roads.shp")
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "missing.osm")


def test_coverage_network_does_not_import_osmnx():
    code = ("import sys, yizhan.coverage.network, yizhan.geodata.roads; "
            "print('osmnx' in sys.modules or 'osmium' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    source = (Path(__file__).resolve().parents[1] / "coverage" / "network.py").read_text(encoding="utf-8")
    assert "osmnx" not in source.replace("no osmnx", "")


# -- real data: Shanghai centre, checked against networkx on osmnx's own graph --------------------

def _reference(G: nx.MultiDiGraph, *, strongly: bool, weight: str, s_lon, s_lat, t_lon, t_lat,
               leg_mps: float):
    """Brute force: simple DiGraph (min parallel edge), largest component, nearest node by
    haversine over all nodes, per-station single-source Dijkstra on the reversed graph."""
    D = nx.DiGraph()
    for u, v, data in G.edges(data=True):
        w = data[weight]
        if not D.has_edge(u, v) or D[u][v]["w"] > w:
            D.add_edge(u, v, w=w)
    parts = nx.strongly_connected_components(D) if strongly else nx.weakly_connected_components(D)
    keep = max(parts, key=len)
    D = D.subgraph(keep).copy()
    ids = np.array(sorted(keep))
    lon = np.array([G.nodes[i]["x"] for i in ids])
    lat = np.array([G.nodes[i]["y"] for i in ids])

    def nearest(px, py):
        d = haversine_m(np.asarray(px)[:, None], np.asarray(py)[:, None], lon[None, :], lat[None, :])
        return ids[d.argmin(axis=1)], d.min(axis=1)

    s_node, s_leg = nearest(s_lon, s_lat)
    t_node, t_leg = nearest(t_lon, t_lat)
    scale = 1.0 if weight == "length" else 1.0 / leg_mps
    R = D.reverse(copy=False)
    per_station = [nx.single_source_dijkstra_path_length(R, int(s), weight="w") for s in s_node]
    cost = np.empty(len(t_node))
    best = np.empty(len(t_node), dtype=int)
    for i, (node, leg) in enumerate(zip(t_node, t_leg)):
        options = [lengths.get(int(node), np.inf) + sl * scale
                   for lengths, sl in zip(per_station, s_leg)]
        best[i] = int(np.argmin(options))
        cost[i] = leg * scale + options[best[i]]
    return keep, t_node, cost, best


@pytest.fixture(scope="module")
def shanghai_osm():
    return shared_data("osm/shanghai_center.osm")


@pytest.fixture(scope="module")
def shanghai_graphs(shanghai_osm):
    """osmnx's MultiDiGraph per mode, built once for the module."""
    graphs: dict[str, nx.MultiDiGraph] = {}

    def get(mode: str) -> nx.MultiDiGraph:
        if mode not in graphs:
            graphs[mode] = roads.graph_from_file(shanghai_osm, mode=mode)
        return graphs[mode]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("mode, weight", [("ebike", "length"), ("car", "length"), ("car", "time")])
def test_shanghai_against_networkx(shanghai_osm, shanghai_graphs, mode, weight):
    G = shanghai_graphs(mode)                                 # osmnx's MultiDiGraph
    net = roads.network_from_graph(G, mode=mode, source=str(shanghai_osm))
    rng = np.random.default_rng(2021)
    lon0, lat0 = net.lon.min(), net.lat.min()
    lon1, lat1 = net.lon.max(), net.lat.max()
    s_lon, s_lat = rng.uniform(lon0, lon1, 10), rng.uniform(lat0, lat1, 10)
    t_lon, t_lat = rng.uniform(lon0, lon1, 300), rng.uniform(lat0, lat1, 300)

    result = nearest_on_network(net, s_lon, s_lat, t_lon, t_lat, weight=weight)
    keep, t_node, expected, best = _reference(
        G, strongly=not MODES[mode].two_way, weight="length" if weight == "length" else "travel_time",
        s_lon=s_lon, s_lat=s_lat, t_lon=t_lon, t_lat=t_lat, leg_mps=net.leg_speed_mps)

    assert set(net.node_id.tolist()) == keep
    np.testing.assert_array_equal(net.node_id[result.target_node], t_node)
    got = result.distance_m if weight == "length" else result.time_s
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_array_equal(result.station, best)
    # the network is a real detour factor away from the straight line
    if weight == "length":
        straight = haversine_m(t_lon, t_lat, s_lon[result.station], s_lat[result.station])
        assert (got >= straight * (1 - 1e-9)).all()


@pytest.mark.slow
def test_shanghai_pbf_matches_xml(shanghai_osm, tmp_path):
    pbf = shared_data("osm/shanghai_center.osm.pbf")
    xml_net = load_network(shanghai_osm, mode="car", cache_dir=tmp_path)
    pbf_net = load_network(pbf, mode="car", cache_dir=tmp_path)
    assert xml_net.n_nodes > 10_000
    assert abs(pbf_net.n_nodes - xml_net.n_nodes) <= 0.001 * xml_net.n_nodes
    assert abs(pbf_net.n_edges - xml_net.n_edges) <= 0.001 * xml_net.n_edges
    assert pbf_net.length_m.sum() == pytest.approx(xml_net.length_m.sum(), rel=1e-3)
    assert len(list(tmp_path.glob("*.npz"))) == 2       # different files, different keys


@pytest.mark.slow
def test_helsinki_pbf_walk():
    net = load_network(shared_data("osm/helsinki.osm.pbf"), mode="walk")
    assert net.n_nodes > 1000 and net.mode == "walk"
    assert (net.length_m != net.length_m.T).nnz == 0          # walk: every way two-way
    assert 24.8 < np.median(net.lon) < 25.1 and 60.1 < np.median(net.lat) < 60.3
    rng = np.random.default_rng(5)
    idx = rng.choice(net.n_nodes, 20, replace=False)
    result = nearest_on_network(net, net.lon[idx[:3]], net.lat[idx[:3]], net.lon[idx], net.lat[idx],
                                weight="time")
    assert np.isfinite(result.time_s).all()                    # one component: all reachable
    assert (result.time_s[:3] == 0).all()
