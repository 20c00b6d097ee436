"""Benchmark: network metric on Dask — halo-partitioned road network vs. the client-side step after aggregation.

    python benchmarks/bench_network_split.py [--nodes 1000000] [--stations 1000] [--points 300000]
                                             [--cells random|nodes] [--parent-res 5] [--halos 1000,3000,10000]
                                             [--threshold-m 1000] [--station-jitter-m 50]
                                             [--station-rule node|location|both] [--halo-shape box|discs]
                                             [--seed 2025]

Input (generated, not timed): the road-like graph of ``bench_network.py`` (``road_like_graph``: perturbed ~100 m grid
around Guangzhou, removed streets, diagonals, one-way streets; nodes in Z-order, ``reorder=True``; mode ``custom``,
legs at 15 km/h, as ``bench_scale.py``'s network step).  Stations: random nodes moved by up to
``--station-jitter-m`` metres (uniform in a disc), so that they snap to a node by a leg as real stations do.  Demand
cells: the distinct res-9 H3 cells of ``--points`` uniform random points over the network's extent (``--cells
random``), or every res-9 cell holding a node (``--cells nodes``).

Timed, each cold (a fresh network object: KD-tree and reversed matrices built inside the timing):
  * baseline — after aggregation, on the client: ONE :func:`yizhan.coverage.analysis.measure` call
    (``metric="network"``: snapping + one multi-source Dijkstra for length + one for time) over all cells;
  * halo partitioning, for each halo width H in ``--halos``: the cells are grouped by their H3 parent at
    ``--parent-res`` (5 = :data:`yizhan.coverage.cluster.PARENT_RES`, the Dask buckets' key; 6 is finer); each
    partition gets the sub-network induced by the nodes within H of it — ``box``: great-circle distance (exact, on the
    sphere) to the bounding box of its cell centres at most H; ``discs``: within H of one of its cell centres — the
    edges with both ends among those nodes, and the stations of the halo (``node``: the stations whose snapped node
    on the FULL network is in the sub-network, with their full-network snapping, i.e. the stations snapped once on
    the client; ``location``: the stations whose own position is within the halo, snapped on the sub-network), and one
    ``measure`` call on it.  Reported: the time to cut the sub-networks, the sum over partitions (the work a cluster
    does) and the slowest partition (the critical path with unlimited workers), as ratios to the baseline; the
    duplication (sum of sub-network nodes / network nodes); and the agreement with the baseline per cell, distance
    and time to 1e-6: everywhere, where the baseline distance is <= H (the guarantee), for the covered cells
    (baseline <= ``--threshold-m``), whether ``covered`` is the same for every cell, cells farther or nearer than the
    baseline or cut off (inf), and cells/stations snapped to another node than on the full network.

The guarantee tested: a target's distance is ``leg + path(target node -> station node) + station leg``; every edge
is at least as long as the great circle between its ends (true here and for OSM networks), so a path of length d
stays within d of the cell centre, and every cell whose baseline distance is <= H gets exactly the baseline distance
from a halo of H — provided the cell and the stations snap to the same nodes (see the snapping counts).  Times are
exact where ``time x the fastest speed (edges or legs) <= H``.  Memory is not measured; timings are sequential in
one process.  The default run (1 M nodes) should take about a minute on 2 cores (extrapolated from 200,000 nodes:
6 s); no timing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_network import road_like_graph  # noqa: E402

from yizhan.coverage import hexgrid  # noqa: E402
from yizhan.coverage.analysis import measure  # noqa: E402
from yizhan.coverage.network import snap  # noqa: E402
from yizhan.geodata.roads import RoadNetwork, network_from_edges  # noqa: E402
from yizhan.geodata.sphere import EARTH_RADIUS_M, haversine_m, m_to_chord, unit_vectors  # noqa: E402

TOL = 1e-6


def box_distance_m(lon: np.ndarray, lat: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Great-circle metres from points to a lon/lat rectangle ``(lon0, lon1, lat0, lat1)`` (0 inside).

    Exact on the sphere for a box spanning less than 180 degrees of longitude away from the poles: inside the
    box's longitudes the nearest point is straight north or south; outside, it is on the nearer meridian edge
    (the foot of the perpendicular when it falls on the edge, else a corner)."""
    lon0, lon1, lat0, lat1 = box
    dlat = np.maximum(lat0 - lat, 0.0) + np.maximum(lat - lat1, 0.0)
    inside_lon = (lon >= lon0) & (lon <= lon1)
    edge = np.where(lon < lon0, lon0, lon1)
    dl = np.radians(np.abs(lon - edge))
    phi = np.radians(lat)
    foot = np.degrees(np.arctan(np.tan(phi) / np.cos(dl)))
    cross = EARTH_RADIUS_M * np.arcsin(np.clip(np.cos(phi) * np.sin(dl), 0.0, 1.0))
    corner = np.minimum(haversine_m(lon, lat, edge, lat0), haversine_m(lon, lat, edge, lat1))
    outside = np.where((foot >= lat0) & (foot <= lat1), cross, corner)
    return np.where(inside_lon, np.radians(dlat) * EARTH_RADIUS_M, outside)


class Cutter:
    """Cuts induced sub-networks out of a network (vectorised; cost grows with the sub-network, plus a binary
    search on the nodes sorted by latitude)."""

    def __init__(self, net: RoadNetwork) -> None:
        self.net = net
        self.by_lat = np.argsort(net.lat, kind="stable")
        self.lat_sorted = net.lat[self.by_lat]
        self.member = np.zeros(net.n_nodes, dtype=bool)
        self.new_index = np.zeros(net.n_nodes, dtype=np.int64)
        m = net.length_m
        if not (np.array_equal(m.indptr, net.time_s.indptr) and np.array_equal(m.indices, net.time_s.indices)):
            raise ValueError("length_m and time_s must share their sparsity")

    def halo_nodes(self, lon: np.ndarray, lat: np.ndarray, halo_m: float, shape: str) -> np.ndarray:
        """Sorted positions of the nodes within ``halo_m`` of the points' bounding box (``box``) or of one of the
        points (``discs``)."""
        box = (lon.min(), lon.max(), lat.min(), lat.max())
        dlat = np.degrees(halo_m / EARTH_RADIUS_M)
        i0 = np.searchsorted(self.lat_sorted, box[2] - dlat, side="left")
        i1 = np.searchsorted(self.lat_sorted, box[3] + dlat, side="right")
        cand = self.by_lat[i0:i1]
        # a point within H of the box is within asin(sin(H/R) / cos(lat)) of its longitudes (cross-track bound)
        phi_max = np.radians(min(89.0, max(abs(box[2] - dlat), abs(box[3] + dlat))))
        dlon = np.degrees(np.arcsin(min(1.0, np.sin(halo_m / EARTH_RADIUS_M) / np.cos(phi_max))))
        nlon = self.net.lon[cand]
        cand = cand[(nlon >= box[0] - dlon) & (nlon <= box[1] + dlon)]
        near = box_distance_m(self.net.lon[cand], self.net.lat[cand], box) <= halo_m
        cand = cand[near]
        if shape == "discs" and len(cand):
            tree = cKDTree(unit_vectors(lon, lat))
            d, _ = tree.query(unit_vectors(self.net.lon[cand], self.net.lat[cand]),
                              distance_upper_bound=m_to_chord(halo_m) * (1 + 1e-12))
            cand = cand[np.isfinite(d)]
        return np.sort(cand)

    def sub_network(self, keep: np.ndarray) -> RoadNetwork:
        """The network induced by the (sorted) node positions ``keep``: edges with both ends kept, node order
        (Z-order) kept."""
        net, k = self.net, len(keep)
        m = net.length_m
        self.member[keep] = True
        self.new_index[keep] = np.arange(k)
        starts = m.indptr[keep].astype(np.int64)
        counts = m.indptr[keep + 1].astype(np.int64) - starts
        total = int(counts.sum())
        pos = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)
        dst = m.indices[pos]
        ok = self.member[dst]
        pos, dst = pos[ok], dst[ok]
        row = np.repeat(np.arange(k), counts)[ok]
        indptr = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=k), out=indptr[1:])
        indices = self.new_index[dst].astype(m.indices.dtype)
        indptr = indptr.astype(m.indptr.dtype)
        self.member[keep] = False
        length = sp.csr_matrix((m.data[pos], indices, indptr), shape=(k, k))
        times = sp.csr_matrix((net.time_s.data[pos], indices.copy(), indptr.copy()), shape=(k, k))
        return RoadNetwork(node_id=net.node_id[keep], lon=net.lon[keep], lat=net.lat[keep], length_m=length,
                           time_s=times, mode=net.mode, source=f"{net.source} (halo)",
                           leg_speed_kmh=net.leg_speed_kmh)


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal to TOL, inf equal to inf."""
    with np.errstate(invalid="ignore"):
        return (np.isinf(a) & np.isinf(b)) | (np.abs(a - b) <= TOL)


def share(mask: np.ndarray, among: np.ndarray | None = None) -> str:
    sel = mask if among is None else mask[among]
    n = len(sel)
    return f"{100.0 * sel.sum() / n:.3f} % ({int(sel.sum()):,}/{n:,})" if n else "n/a (no cells)"


def run_halo(cutter: Cutter, parts: list[np.ndarray], clon: np.ndarray, clat: np.ndarray, cells: np.ndarray,
             stations: pd.DataFrame, s_node_full: np.ndarray, halo_m: float, shape: str, rule: str,
             c_node_full: np.ndarray) -> dict:
    """Every partition on its halo sub-network; per-cell results in the order of ``cells``."""
    n = len(cells)
    dist, secs, owner = np.full(n, np.inf), np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    cut_t, run_t, sub_nodes, sub_edges = [], [], 0, 0
    cell_snap_diff, station_snap_diff, n_stations = 0, 0, []
    slon, slat = stations["lon"].to_numpy(), stations["lat"].to_numpy()
    for idx in parts:
        t0 = time.perf_counter()
        keep = cutter.halo_nodes(clon[idx], clat[idx], halo_m, shape)
        sub = cutter.sub_network(keep) if len(keep) else None
        if sub is not None:
            if rule == "node":
                chosen = np.flatnonzero(np.isin(s_node_full, keep, assume_unique=False))
            elif shape == "box":
                chosen = np.flatnonzero(box_distance_m(slon, slat, (clon[idx].min(), clon[idx].max(),
                                                                    clat[idx].min(), clat[idx].max())) <= halo_m)
            else:
                d, _ = cKDTree(unit_vectors(clon[idx], clat[idx])).query(
                    unit_vectors(slon, slat), distance_upper_bound=m_to_chord(halo_m) * (1 + 1e-12))
                chosen = np.flatnonzero(np.isfinite(d))
        t1 = time.perf_counter()
        if sub is not None:
            r = measure(cells[idx], stations.iloc[chosen], metric="network", res=9, network=sub)
            dist[idx], secs[idx] = r.distance_m, r.time_s
            if len(chosen):
                owner[idx] = np.where(r.station >= 0, chosen[np.maximum(r.station, 0)], -1)
        t2 = time.perf_counter()
        cut_t.append(t1 - t0)
        run_t.append(t2 - t1)
        if sub is None:
            continue
        # not timed: did the cells and the stations snap to the same nodes as on the full network?
        node, _ = snap(sub, clon[idx], clat[idx])
        cell_snap_diff += int((keep[node] != c_node_full[idx]).sum())
        if len(chosen):
            node, _ = snap(sub, slon[chosen], slat[chosen])
            station_snap_diff += int((keep[node] != s_node_full[chosen]).sum())
        sub_nodes += sub.n_nodes
        sub_edges += sub.n_edges
        n_stations.append(len(chosen))
        del sub
    cut_t, run_t = np.array(cut_t), np.array(run_t)
    return {"distance": dist, "time": secs, "owner": owner, "cut": cut_t.sum(), "run": run_t.sum(),
            "critical": (cut_t + run_t).max(), "sub_nodes": sub_nodes, "sub_edges": sub_edges,
            "cell_snap_diff": cell_snap_diff, "station_snap_diff": station_snap_diff,
            "stations_mean": float(np.mean(n_stations)) if n_stations else 0.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000_000, help="road-like graph size (default 1,000,000)")
    parser.add_argument("--stations", type=int, default=1_000)
    parser.add_argument("--points", type=int, default=300_000,
                        help="random points whose res-9 cells are the demand cells (--cells random)")
    parser.add_argument("--cells", choices=["random", "nodes"], default="random",
                        help="demand cells: cells of random points over the extent, or every cell holding a node")
    parser.add_argument("--parent-res", type=int, default=5, help="partition key: H3 parent resolution (0-8)")
    parser.add_argument("--halos", default="1000,3000,10000", help="halo widths H in metres, comma-separated")
    parser.add_argument("--threshold-m", type=float, default=1000.0, help="coverage threshold (default 1 km)")
    parser.add_argument("--station-jitter-m", type=float, default=50.0,
                        help="stations are moved off their node by up to this many metres")
    parser.add_argument("--station-rule", choices=["node", "location", "both"], default="node",
                        help="stations of a halo: snapped node (full network) in it, or own position in it")
    parser.add_argument("--halo-shape", choices=["box", "discs"], default="box",
                        help="nodes within H of the partition's bounding box, or of one of its cell centres")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    if not 0 <= args.parent_res < 9:
        parser.error("--parent-res must be 0..8 (coarser than the res-9 cells)")
    halos = [float(h) for h in args.halos.split(",") if h.strip()]
    rules = ["node", "location"] if args.station_rule == "both" else [args.station_rule]
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    net = network_from_edges(*road_like_graph(args.nodes, rng), mode="custom", leg_speed_kmh=15.0, reorder=True)
    pick = rng.choice(net.n_nodes, args.stations, replace=False)
    r = args.station_jitter_m * np.sqrt(rng.random(args.stations))
    theta = rng.uniform(0, 2 * np.pi, args.stations)
    s_lat = net.lat[pick] + np.degrees(r * np.cos(theta) / EARTH_RADIUS_M)
    s_lon = net.lon[pick] + np.degrees(r * np.sin(theta) / (EARTH_RADIUS_M * np.cos(np.radians(net.lat[pick]))))
    stations = pd.DataFrame({"lon": s_lon, "lat": s_lat})
    if args.cells == "random":
        p_lon = rng.uniform(net.lon.min(), net.lon.max(), args.points)
        p_lat = rng.uniform(net.lat.min(), net.lat.max(), args.points)
        cells = np.unique(hexgrid.points_to_cells(p_lon, p_lat, 9))
    else:
        cells = np.unique(hexgrid.points_to_cells(net.lon, net.lat, 9))
    clon, clat = hexgrid.cells_to_lonlat(cells)
    keys, inverse = np.unique(hexgrid.parents(cells, args.parent_res), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    parts = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(keys)))[:-1])
    speeds = net.length_m.data[net.time_s.data > 0] / net.time_s.data[net.time_s.data > 0]
    v_max = max(float(speeds.max()), net.leg_speed_mps)
    print(f"graph: {net.n_nodes:,} nodes, {net.n_edges:,} directed edges; {len(stations):,} stations (up to "
          f"{args.station_jitter_m:g} m off a node); {len(cells):,} res-9 cells ({args.cells}) in {len(parts):,} "
          f"res-{args.parent_res} partitions (median {int(np.median([len(p) for p in parts])):,} cells); fastest "
          f"speed {v_max * 3.6:.0f} km/h (generated in {time.perf_counter() - t0:.1f} s, not timed)")

    # -- baseline: after aggregation, on the client (cold: the network's KD-tree and transposes are built inside)
    t0 = time.perf_counter()
    base = measure(cells, stations, metric="network", res=9, network=net)
    t_base = time.perf_counter() - t0
    bd, bt = base.distance_m, base.time_s
    finite = np.isfinite(bd)
    c_node, c_leg = snap(net, clon, clat)                 # not timed: for the snapping checks
    s_node, s_leg = snap(net, s_lon, s_lat)
    covered = bd <= args.threshold_m
    print(f"baseline (one measure over all cells, on the client): {t_base:.2f} s; distance median "
          f"{np.median(bd[finite]):.0f} m, max {bd[finite].max():.0f} m; covered (<= {args.threshold_m:g} m) "
          f"{share(covered)}; unreachable {int((~finite).sum()):,}; cell legs max {c_leg.max():.0f} m, "
          f"station legs max {s_leg.max():.0f} m")

    cutter = Cutter(net)
    conclusions = []
    for rule in rules:
        for halo in halos:
            h = run_halo(cutter, parts, clon, clat, cells, stations, s_node, halo, args.halo_shape, rule, c_node)
            d, t = h["distance"], h["time"]
            ok_d, ok_t = same(d, bd), same(t, bt)
            within = bd <= halo
            t_within = bt * v_max <= halo
            with np.errstate(invalid="ignore"):
                farther = (d > bd + TOL) & ~(np.isinf(d) & np.isinf(bd))
                nearer = d < bd - TOL
            cut_off = np.isinf(d) & finite
            cov_same = (d <= args.threshold_m) == covered
            wrong = ~ok_d
            first_wrong = float(bd[wrong].min()) if wrong.any() else np.inf
            dup = h["sub_nodes"] / net.n_nodes
            total = h["cut"] + h["run"]
            print(f"\nhalo H = {halo:g} m ({args.halo_shape}, stations by {rule}):")
            print(f"  duplication: {dup:.2f}x the network's nodes ({h['sub_edges'] / net.n_edges:.2f}x edges); "
                  f"{h['stations_mean']:.0f} stations per partition on average")
            print(f"  time: cut {h['cut']:.2f} s + measure {h['run']:.2f} s = {total:.2f} s over {len(parts)} "
                  f"partitions = {total / t_base:.2f}x the baseline ({h['run'] / t_base:.2f}x without cutting); "
                  f"critical path (slowest partition) {h['critical']:.3f} s = {h['critical'] / t_base:.3f}x")
            print(f"  distance exact (1e-6 m): all cells {share(ok_d)}; baseline <= H {share(ok_d, within)}; "
                  f"covered cells {share(ok_d, covered)}; 'covered' the same for {share(cov_same)}")
            print(f"  differing: {int(farther.sum()):,} farther ({int(cut_off.sum()):,} of them no station, inf), "
                  f"{int(nearer.sum()):,} nearer than the baseline; smallest baseline distance of a differing "
                  f"cell {first_wrong:.0f} m")
            print(f"  time_s exact (1e-6 s): all cells {share(ok_t)}; time x {v_max * 3.6:.0f} km/h <= H "
                  f"{share(ok_t, t_within)}; covered cells {share(ok_t, covered)}; nearest station the same "
                  f"{share(h['owner'] == base.station)}")
            print(f"  snapping unlike the full network's: {h['cell_snap_diff']:,} cells, "
                  f"{h['station_snap_diff']:,} station copies")
            guarantee = bool(ok_d[within].all())
            conclusions.append(
                f"H = {halo:>6g} m ({rule}): {dup:.2f}x nodes, work {total / t_base:.2f}x / critical path "
                f"{h['critical'] / t_base:.3f}x the client-side step; distances exact up to H: "
                f"{'yes' if guarantee else 'NO'}; coverage identical: {'yes' if cov_same.all() else 'NO'}; "
                f"all distances exact: {share(ok_d)}; time_s exact for covered cells: {share(ok_t, covered)}")
    print("\nconclusion (baseline = one measure on the client after aggregation, "
          f"{t_base:.2f} s for {len(cells):,} cells on {net.n_nodes:,} nodes):")
    for line in conclusions:
        print("  " + line)


if __name__ == "__main__":
    main()
