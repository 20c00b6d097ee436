"""Benchmark: multi-source network distance to the nearest station against networkx, same run.

    python benchmarks/bench_network.py [--nodes 500000] [--stations 1000] [--seed 2021]

The graph is generated, road-like: a perturbed square grid (about 100 m spacing, around
Guangzhou) with 8 % of the street segments removed, 3 % diagonal shortcuts added and 5 % of the
segments one-way; edge lengths are the great-circle distances between the perturbed coordinates,
times from a random speed class (15-60 km/h).  Stations sit on random nodes.  The nodes are
stored in Z-order (``reorder=True``), as :func:`yizhan.geodata.roads.load_network` stores real
networks; both sides then use the same node numbering.

Timed (graph generation and the networkx graph construction are excluded):
  * ours: :func:`yizhan.coverage.network.multi_source_dijkstra` - the distance from every node to
    its nearest station (virtual-source graph + one ``scipy.sparse.csgraph.dijkstra`` call with
    ``min_only=True`` on the reversed graph), cold (first call, includes transposing the matrix)
    and warm;
  * baseline: ``networkx.multi_source_dijkstra_path_length`` from the station nodes on an
    equivalent ``nx.DiGraph`` built with the edges reversed (distance *to* the station);
  * for information: :func:`nearest_on_network` for as many random target points as nodes
    (KD-tree snapping included).
Prints the times, the ratio and the largest absolute difference between the two distance fields.
A 1,000,000-node networkx graph needs about 3-4 GB of memory; the default is 500,000 nodes.
"""

from __future__ import annotations

import argparse
import gc
import time

import networkx as nx
import numpy as np

from yizhan.coverage.network import multi_source_dijkstra, nearest_on_network
from yizhan.geodata.roads import network_from_edges
from yizhan.geodata.sphere import haversine_m


def road_like_graph(n_nodes: int, rng: np.random.Generator):
    """Perturbed grid: ``(lon, lat, src, dst, length_m, time_s)`` with directed edges."""
    side = int(round(np.sqrt(n_nodes)))
    step = 0.001                                          # degrees, about 100 m
    row, col = np.divmod(np.arange(side * side), side)
    lon = 113.0 + col * step + rng.uniform(-0.3, 0.3, side * side) * step
    lat = 23.0 + row * step + rng.uniform(-0.3, 0.3, side * side) * step
    idx = np.arange(side * side).reshape(side, side)
    pairs = [np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),      # east-west
             np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])]      # north-south
    u, v = np.concatenate(pairs).T
    keep = rng.random(len(u)) >= 0.08                                          # removed streets
    u, v = u[keep], v[keep]
    diag_a = idx[:-1, :-1].ravel()
    diag = rng.random(len(diag_a)) < 0.03                                      # diagonal shortcuts
    u = np.r_[u, diag_a[diag]]
    v = np.r_[v, diag_a[diag] + side + 1]
    length = haversine_m(lon[u], lat[u], lon[v], lat[v])
    speed_mps = rng.choice([15.0, 30.0, 40.0, 60.0], len(u)) / 3.6
    times = length / speed_mps
    one_way = rng.random(len(u)) < 0.05
    flip = rng.random(len(u)) < 0.5                       # one-way in a random direction
    a, b = np.where(flip, v, u), np.where(flip, u, v)
    src = np.r_[a, b[~one_way]]
    dst = np.r_[b, a[~one_way]]
    return lon, lat, src, dst, np.r_[length, length[~one_way]], np.r_[times, times[~one_way]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500_000)
    parser.add_argument("--stations", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    lon, lat, src, dst, length, times = road_like_graph(args.nodes, rng)
    # reorder=True: nodes in Z-order, as load_network stores real networks
    net = network_from_edges(lon, lat, src, dst, length, times, mode="custom", leg_speed_kmh=15.0,
                             reorder=True)
    lon, lat = net.lon, net.lat
    print(f"graph: {net.n_nodes:,} nodes, {net.n_edges:,} directed edges "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    stations = rng.choice(net.n_nodes, args.stations, replace=False)

    t0 = time.perf_counter()
    ours, _ = multi_source_dijkstra(net, stations, weight="length")
    ours_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours, owner = multi_source_dijkstra(net, stations, weight="length")
    ours_warm = time.perf_counter() - t0

    t0 = time.perf_counter()
    m = net.length_m.tocoo()
    G = nx.DiGraph()
    G.add_nodes_from(range(net.n_nodes))
    G.add_weighted_edges_from(zip(m.col.tolist(), m.row.tolist(), m.data.tolist()))  # reversed
    del m
    build = time.perf_counter() - t0
    gc.collect()
    gc.disable()                      # fair to networkx: no collector pauses while it allocates
    t0 = time.perf_counter()
    reference = nx.multi_source_dijkstra_path_length(G, stations.tolist(), weight="weight")
    nx_time = time.perf_counter() - t0
    gc.enable()
    print(f"networkx graph built in {build:.1f} s (not timed)")

    expected = np.full(net.n_nodes, np.inf)
    expected[np.fromiter(reference.keys(), dtype=np.int64, count=len(reference))] = \
        np.fromiter(reference.values(), dtype=np.float64, count=len(reference))
    finite = np.isfinite(expected)
    same_reach = bool((finite == np.isfinite(ours)).all())
    max_diff = float(np.abs(ours[finite] - expected[finite]).max())
    # the owning station is a true argmin: its own distance field equals the minimum
    owner_ok = bool((owner[finite] >= 0).all() and (owner[~finite] == -1).all())
    del G, reference
    gc.collect()

    print(f"ours (scipy csgraph, {args.stations:,} stations): cold {ours_cold:.3f} s, warm {ours_warm:.3f} s")
    print(f"networkx multi_source_dijkstra_path_length: {nx_time:.2f} s")
    print(f"ratio networkx / ours: {nx_time / ours_cold:.1f}x (cold), {nx_time / ours_warm:.1f}x (warm)")
    print(f"agreement: max |difference| {max_diff:.3e} m over {int(finite.sum()):,} reachable nodes; "
          f"same reachable set: {same_reach}; station index valid: {owner_ok}")

    t_lon = rng.uniform(lon.min(), lon.max(), net.n_nodes)
    t_lat = rng.uniform(lat.min(), lat.max(), net.n_nodes)
    t0 = time.perf_counter()
    result = nearest_on_network(net, lon[stations], lat[stations], t_lon, t_lat)
    full = time.perf_counter() - t0
    print(f"nearest_on_network for {net.n_nodes:,} random targets (snapping included): {full:.2f} s; "
          f"median {np.median(result.distance_m[np.isfinite(result.distance_m)]):.0f} m")


if __name__ == "__main__":
    main()
