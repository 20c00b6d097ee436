"""Benchmark: building the truck network from a province-sized .osm.pbf, against osmnx in the same run.

    python benchmarks/bench_roads.py [--nodes 3200000] [--baseline-nodes 250000] [--seed 2024]
                                     [--mode truck] [--skip-baseline]

The input is generated (and cached under ``benchmarks/results/``, which git ignores): a synthetic
Guangdong-like ``.osm.pbf`` written with ``osmium.SimpleWriter``.  21 cities and many towns are
perturbed street grids (about 120 m spacing) cut into ways of 4-24 segments tagged like real
Chinese OSM data -- primary/secondary/tertiary/residential/service/unclassified/living_street,
some one-way (yes, -1, roundabouts), some ``maxspeed`` (km/h, mph, per-lane "50|60", none, 0),
some refused to trucks (``hgv=no``, private, driveways), footways, cycleways and roads under
construction --; cities are joined by dual-carriageway motorways (two one-way ways, links at the
ends) and trunks, towns by primary/secondary roads; buildings, land use and rivers add the
non-road ways and nodes a real extract is mostly made of (so the highway filter matters); a few
ways reference nodes missing from the file (a clipped extract).  Node ids are sparse (average gap
3,000, up to ~1e10) like real OSM ids.

Each measurement runs in a child process, so its wall time and peak memory (``ru_maxrss``) are
its own (interpreter and imports included; the RSS before building is printed too):

  * large file (>= 3 million nodes): :func:`yizhan.geodata.roads.network_from_file` (the
    streaming builder), then ``load_network`` cold (SHA-256 of the file + build + ``.npz`` cache
    write) and warm (SHA-256 + cache read).  Goals: build under 60 s and 4 GiB;
  * baseline, on a smaller generated file (osmnx cannot do 3 million nodes in reasonable memory):
    the previous pipeline ``network_from_graph(graph_from_file(...))`` (pyosmium filter ->
    temporary XML -> ``osmnx.graph_from_xml`` -> osmnx speeds -> arrays) against the streaming
    builder on the same file; prints the time and memory ratios and checks that both networks
    are identical (node ids, coordinates, edges, lengths, times).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
GENERATOR_VERSION = 1
GOAL_S, GOAL_GIB, GOAL_NODES = 60.0, 4.0, 3_000_000

# City centres of Guangdong (WGS-84, approximate) with a rough share of the road network.
CITIES = [(113.30, 23.12, 0.20), (114.06, 22.55, 0.18), (113.12, 23.02, 0.08), (113.75, 23.02, 0.09),
          (113.39, 22.52, 0.04), (114.41, 23.11, 0.04), (113.58, 22.27, 0.03), (116.68, 23.35, 0.04),
          (110.36, 21.27, 0.04), (113.08, 22.58, 0.03), (112.47, 23.05, 0.03), (113.59, 24.81, 0.03),
          (116.12, 24.29, 0.03), (114.70, 23.74, 0.02), (115.37, 22.78, 0.02), (111.98, 21.86, 0.02),
          (110.92, 21.66, 0.02), (113.06, 23.68, 0.02), (116.62, 23.66, 0.01), (116.36, 23.55, 0.02),
          (112.04, 22.92, 0.01)]
BBOX = (110.0, 21.0, 116.8, 25.2)                     # lon0, lat0, lon1, lat1 for the towns
SPACING_DEG = 0.0011                                  # grid spacing, about 120 m

# Tag variants per road class: (tags, probability).  Index 0 of each class is the plain one.
VARIANTS: dict[str, list[tuple[dict[str, str], float]]] = {
    "minor": [
        ({"highway": "residential"}, 0.42),
        ({"highway": "residential", "maxspeed": "30", "surface": "asphalt"}, 0.06),
        ({"highway": "residential", "oneway": "yes"}, 0.06),
        ({"highway": "residential", "oneway": "-1"}, 0.01),
        ({"highway": "residential", "hgv": "no"}, 0.04),
        ({"highway": "residential", "access": "private"}, 0.02),
        ({"highway": "service"}, 0.10),
        ({"highway": "service", "service": "driveway"}, 0.04),
        ({"highway": "service", "service": "parking_aisle", "oneway": "yes"}, 0.03),
        ({"highway": "unclassified"}, 0.06),
        ({"highway": "living_street", "maxspeed": "10"}, 0.03),
        ({"highway": "footway", "surface": "paving_stones"}, 0.05),
        ({"highway": "cycleway", "foot": "designated"}, 0.03),
        ({"highway": "path"}, 0.02),
        ({"highway": "construction", "construction": "residential"}, 0.01),
        ({"highway": "pedestrian", "area": "yes"}, 0.01),
        ({"highway": "track", "tracktype": "grade3"}, 0.01),
    ],
    "tertiary": [
        ({"highway": "tertiary", "lanes": "2"}, 0.55),
        ({"highway": "tertiary", "maxspeed": "40"}, 0.30),
        ({"highway": "tertiary", "oneway": "yes", "maxspeed": "40"}, 0.06),
        ({"highway": "tertiary", "hgv": "no"}, 0.07),
        ({"highway": "tertiary", "maxspeed": "none"}, 0.02),
    ],
    "secondary": [
        ({"highway": "secondary", "lanes": "4"}, 0.45),
        ({"highway": "secondary", "maxspeed": "50"}, 0.38),
        ({"highway": "secondary", "oneway": "yes", "maxspeed": "50"}, 0.10),
        ({"highway": "secondary", "maxspeed": "50|60"}, 0.03),
        ({"highway": "secondary", "maxspeed": "30 mph"}, 0.02),
        ({"highway": "secondary", "maxspeed": "0"}, 0.02),
    ],
    "primary": [
        ({"highway": "primary", "lanes": "6"}, 0.35),
        ({"highway": "primary", "maxspeed": "60"}, 0.40),
        ({"highway": "primary", "maxspeed": "70", "oneway": "yes"}, 0.15),
        ({"highway": "primary", "maxspeed": "60", "hgv": "no"}, 0.05),
        ({"highway": "primary", "maxspeed": "signals"}, 0.05),
    ],
    "trunk": [
        ({"highway": "trunk", "maxspeed": "80"}, 0.5),
        ({"highway": "trunk", "motorroad": "yes", "maxspeed": "80"}, 0.3),
        ({"highway": "trunk"}, 0.2),
    ],
    "motorway": [
        ({"highway": "motorway", "oneway": "yes", "maxspeed": "120"}, 0.6),
        ({"highway": "motorway", "oneway": "yes", "maxspeed": "100"}, 0.2),
        ({"highway": "motorway", "oneway": "yes"}, 0.2),
    ],
    "motorway_link": [({"highway": "motorway_link", "oneway": "yes", "maxspeed": "60"}, 1.0)],
    "roundabout": [({"highway": "tertiary", "junction": "roundabout"}, 0.8),
                   ({"highway": "residential", "junction": "roundabout", "oneway": "yes"}, 0.2)],
    "building": [({"building": "yes"}, 0.7), ({"building": "residential", "building:levels": "6"}, 0.3)],
    "landuse": [({"landuse": "residential"}, 0.6), ({"landuse": "farmland"}, 0.4)],
    "river": [({"waterway": "river", "name": "珠江"}, 1.0)],
}
#: Every tag variant in one list (ways store an index into it); FIRST: each class's first index.
POOL: list[dict[str, str]] = [tags for variants in VARIANTS.values() for tags, _ in variants]
POOL_IS_ROAD = np.array(["highway" in tags for tags in POOL])
FIRST: dict[str, int] = dict(zip(VARIANTS, np.cumsum([0] + [len(v) for v in VARIANTS.values()]).tolist()))


class Builder:
    """Accumulates node coordinates and ways (node index arrays + tag-pool index) as numpy chunks."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.lon: list[np.ndarray] = []
        self.lat: list[np.ndarray] = []
        self.n_nodes = 0
        self.refs: list[np.ndarray] = []         # concatenated node indices of ways
        self.lengths: list[np.ndarray] = []      # nodes per way
        self.tags: list[np.ndarray] = []         # tag-pool index per way

    def nodes(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Add nodes; returns their indices."""
        idx = np.arange(self.n_nodes, self.n_nodes + len(lon))
        self.lon.append(np.asarray(lon, dtype=np.float64))
        self.lat.append(np.asarray(lat, dtype=np.float64))
        self.n_nodes += len(lon)
        return idx

    def ways(self, refs: np.ndarray, lengths: np.ndarray, cls: str) -> None:
        """Add ways of a road class: tag variants drawn with the class's probabilities."""
        variants = VARIANTS[cls]
        p = np.array([w for _, w in variants])
        pick = self.rng.choice(len(variants), size=len(lengths), p=p / p.sum())
        self.refs.append(np.asarray(refs, dtype=np.int64))
        self.lengths.append(np.asarray(lengths, dtype=np.int64))
        self.tags.append(FIRST[cls] + pick)

    def chunked(self, lines: np.ndarray, cls_of_line: np.ndarray) -> None:
        """Cut each row of ``lines`` (node indices, one road per row) into ways of 4-24 segments
        sharing their end nodes, vectorised over all rows."""
        n_lines, length = lines.shape
        cuts_per_line = length // 4 + 2
        steps = self.rng.integers(4, 25, size=(n_lines, cuts_per_line))
        bounds = np.minimum(np.cumsum(steps, axis=1), length - 1)
        bounds = np.concatenate([np.zeros((n_lines, 1), dtype=np.int64), bounds], axis=1)
        c0, c1 = bounds[:, :-1], bounds[:, 1:]
        keep = c1 > c0
        line = np.broadcast_to(np.arange(n_lines)[:, None], c0.shape)[keep]
        c0, c1 = c0[keep], c1[keep]
        counts = c1 - c0 + 1
        offsets = np.repeat(np.cumsum(counts) - counts, counts)
        ramp = np.arange(counts.sum()) - offsets + np.repeat(c0, counts)
        refs = lines[np.repeat(line, counts), ramp]
        classes = cls_of_line[line]
        for cls in np.unique(classes):
            sel = classes == cls
            start = np.repeat(sel, counts)
            self.ways(refs[start], counts[sel], str(cls))


def street_grid(b: Builder, lon0: float, lat0: float, n_nodes: int,
                *, arterials: bool) -> tuple[int, float, float, int]:
    """A perturbed square street grid around (lon0, lat0) with roundabouts.

    Returns the centre junction (node index, lon, lat) and the number of grid nodes."""
    rng = b.rng
    side = max(round(float(np.sqrt(n_nodes))), 8)
    dlat = SPACING_DEG
    dlon = SPACING_DEG / np.cos(np.radians(lat0))
    row, col = np.divmod(np.arange(side * side), side)
    lon = lon0 + (col - side / 2) * dlon + rng.uniform(-0.25, 0.25, side * side) * dlon
    lat = lat0 + (row - side / 2) * dlat + rng.uniform(-0.25, 0.25, side * side) * dlat
    idx = b.nodes(lon, lat).reshape(side, side)
    j = np.arange(side)
    cls = np.where(j % 8 == 0, "tertiary", "minor").astype(object)
    cls[j % 16 == 0] = "secondary"
    if arterials:
        cls[j % 32 == 0] = "primary"
        cls[side // 2] = "trunk"
    b.chunked(idx, cls)          # east-west streets
    b.chunked(idx.T, cls)        # north-south streets
    # roundabouts: a one-way ring of 5 new nodes through an interior junction
    n_ring = max(side // 12, 1)
    centre = idx[rng.integers(1, side - 1, n_ring), rng.integers(1, side - 1, n_ring)]
    angles = np.linspace(0, 2 * np.pi, 6)[1:-1]                     # 4 new nodes + the junction
    clon, clat = lon[centre - idx[0, 0]], lat[centre - idx[0, 0]]
    rlon = clon[:, None] + 0.00025 * np.cos(angles)[None, :] + 0.00025
    rlat = clat[:, None] + 0.00025 * np.sin(angles)[None, :]
    ring = b.nodes(rlon.ravel(), rlat.ravel()).reshape(n_ring, len(angles))
    refs = np.column_stack([centre, ring, centre])
    b.ways(refs.ravel(), np.full(n_ring, refs.shape[1]), "roundabout")
    middle = side // 2 * side + side // 2
    return int(idx.flat[middle]), float(lon[middle]), float(lat[middle]), side * side


def link(b: Builder, a: int, z: int, a_xy: tuple[float, float], z_xy: tuple[float, float],
         cls: str, *, dual: bool) -> None:
    """A road between two existing nodes, a new node every ~400 m; ``dual``: two carriageways
    (one-way ways on both sides, ``motorway_link`` at the ends) as motorways are mapped."""
    rng = b.rng
    (x0, y0), (x1, y1) = a_xy, z_xy
    k = max(int(np.hypot(x1 - x0, y1 - y0) / 0.004), 3)
    t = np.linspace(0, 1, k + 2)[1:-1]
    nx_, ny_ = -(y1 - y0), (x1 - x0)
    norm = np.hypot(nx_, ny_) or 1.0
    sides = (+1, -1) if dual else (0,)
    for side in sides:
        off = 0.0003 * side / norm
        lon = x0 + t * (x1 - x0) + off * nx_ + rng.normal(0, 0.0004, k)
        lat = y0 + t * (y1 - y0) + off * ny_ + rng.normal(0, 0.0004, k)
        mid = b.nodes(lon, lat)
        seq = np.r_[a, mid, z] if side >= 0 else np.r_[z, mid[::-1], a]
        if not dual:
            b.chunked(seq[None, :], np.array([cls], dtype=object))
            continue
        # links: the first and last 2 segments; the carriageway in between
        b.ways(seq[:3], np.array([3]), "motorway_link")
        b.ways(seq[-3:], np.array([3]), "motorway_link")
        b.chunked(seq[2:-2][None, :], np.array([cls], dtype=object))


def polygons(b: Builder, lon: np.ndarray, lat: np.ndarray, corners: int, radius_deg: float,
             cls: str) -> None:
    """Closed non-road ways (buildings, land use) of ``corners`` new nodes around given points."""
    n = len(lon)
    angles = np.linspace(0, 2 * np.pi, corners, endpoint=False) + np.pi / corners
    plon = lon[:, None] + radius_deg * np.cos(angles)[None, :]
    plat = lat[:, None] + radius_deg * np.sin(angles)[None, :]
    idx = b.nodes(plon.ravel(), plat.ravel()).reshape(n, corners)
    refs = np.column_stack([idx, idx[:, :1]])
    b.ways(refs.ravel(), np.full(n, corners + 1), cls)


def generate(path: Path, n_nodes: int, seed: int) -> dict[str, int]:
    """Write a synthetic province ``.osm.pbf`` of at least ``n_nodes`` nodes; returns counts."""
    import osmium
    from osmium.osm.mutable import Node, Way

    rng = np.random.default_rng(seed)
    b = Builder(rng)
    road_budget = 0.62 * n_nodes
    centres: list[tuple[int, float, float]] = []
    shares = np.array([s for *_, s in CITIES])
    for (lon0, lat0, _), share in zip(CITIES, shares / shares.sum()):
        c, cx, cy, _ = street_grid(b, lon0, lat0, int(0.75 * road_budget * share), arterials=True)
        centres.append((c, cx, cy))
    # cities joined to their two nearest neighbours: motorway (dual) or trunk
    xy = np.array([(x, y) for _, x, y in centres])
    pairs = set()
    for i in range(len(xy)):
        d = np.hypot(*(xy - xy[i]).T)
        for j in np.argsort(d)[1:3]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    for k, (i, j) in enumerate(sorted(pairs)):
        cls = "motorway" if k % 3 else "trunk"
        link(b, centres[i][0], centres[j][0], tuple(xy[i]), tuple(xy[j]), cls, dual=cls == "motorway")
    # towns of 1,500-6,000 nodes joined to the nearest city by a primary or secondary road
    town_budget = 0.25 * road_budget
    while town_budget > 0:
        size = int(rng.integers(1_500, 6_000))
        x, y = rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])
        c, cx, cy, n_grid = street_grid(b, x, y, size, arterials=False)
        town_budget -= n_grid
        near = int(np.argmin(np.hypot(xy[:, 0] - x, xy[:, 1] - y)))
        link(b, c, centres[near][0], (cx, cy), tuple(xy[near]),
             "primary" if rng.random() < 0.5 else "secondary", dual=False)
    all_lon, all_lat = np.concatenate(b.lon), np.concatenate(b.lat)
    # non-road ways: land use, rivers, then buildings until the node target is reached
    n_road = b.n_nodes
    pick = rng.integers(0, n_road, max(n_nodes // 2_000, 10))
    polygons(b, all_lon[pick] + 0.002, all_lat[pick] + 0.002, 12, 0.003, "landuse")
    for _ in range(max(n_nodes // 200_000, 2)):
        x0, y0 = rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])
        steps = rng.normal(0, 0.002, (400, 2)).cumsum(axis=0) + [0.003, 0.0]
        idx = b.nodes(x0 + steps[:, 0], y0 + steps[:, 1])
        b.chunked(idx[None, :], np.array(["river"], dtype=object))
    n_buildings = max((n_nodes - b.n_nodes) // 4 + 1, 0)
    pick = rng.integers(0, n_road, n_buildings)
    polygons(b, all_lon[pick] + 0.0003, all_lat[pick] + 0.0002, 4, 0.00012, "building")

    refs = np.concatenate(b.refs)
    lengths = np.concatenate(b.lengths)
    tags = np.concatenate(b.tags)
    lon, lat = np.concatenate(b.lon), np.concatenate(b.lat)
    n_total = b.n_nodes
    # sparse increasing ids, like real OSM ids; a few way nodes point past the last written node
    node_id = 1_000_000 + np.cumsum(rng.integers(1, 6_000, n_total + 1000))
    clipped = rng.choice(np.flatnonzero(POOL_IS_ROAD[tags]), size=min(300, len(tags)), replace=False)
    way_id = 10_000_000 + np.cumsum(rng.integers(1, 600, len(lengths)))
    ends = np.cumsum(lengths)
    ref_ids = node_id[refs].tolist()
    missing = node_id[n_total:].tolist()
    is_clipped = np.zeros(len(lengths), dtype=bool)
    is_clipped[clipped] = True

    tmp = path.with_suffix(".tmp.pbf")
    tmp.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(tmp), bufsz=16 * 1024 * 1024) as writer:
        add_node = writer.add_node
        for i, x, y in zip(node_id[:n_total].tolist(), lon.round(7).tolist(), lat.round(7).tolist()):
            add_node(Node(id=i, location=(x, y)))
        add_way = writer.add_way
        start = 0
        for k, (wid, stop, t, cut) in enumerate(zip(way_id.tolist(), ends.tolist(), tags.tolist(),
                                                   is_clipped.tolist())):
            nodes = ref_ids[start:stop]
            if cut:                       # a clipped extract: the way leaves the file
                nodes = nodes + [missing[k % len(missing)]]
            add_way(Way(id=wid, nodes=nodes, tags=POOL[t]))
            start = stop
    tmp.replace(path)
    return {"nodes": n_total, "ways": len(lengths), "road_ways": int(POOL_IS_ROAD[tags].sum()),
            "way_nodes": int(lengths.sum())}



def province_file(n_nodes: int, seed: int) -> Path:
    """The cached synthetic file for (n_nodes, seed), generated on first use."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"synthetic_province_{n_nodes}_s{seed}_v{GENERATOR_VERSION}.osm.pbf"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        print(f"  {path.name}: cached ({info['nodes']:,} nodes, {info['ways']:,} ways, "
              f"{path.stat().st_size / 2**20:.0f} MiB)")
        return path
    t = time.perf_counter()
    # generated in a child process: the parent stays small, and on Linux a child's ru_maxrss
    # starts from the RSS of the parent it was forked from
    proc = subprocess.run([sys.executable, __file__, "--generate", str(path), "--nodes", str(n_nodes),
                           "--seed", str(seed)], capture_output=True, text=True, check=False)
    if proc.returncode:
        print(proc.stderr[-3000:])
        raise SystemExit(f"generating {path.name} failed")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    meta.write_text(json.dumps(info))
    print(f"  {path.name}: generated in {time.perf_counter() - t:.0f} s ({info['nodes']:,} nodes, "
          f"{info['ways']:,} ways of which {info['road_ways']:,} highway, "
          f"{path.stat().st_size / 2**20:.0f} MiB)")
    return path


CHILD = r"""
import json, resource, sys, time
kind, path, mode, cache, save = sys.argv[1:6]
t0 = time.perf_counter()
import numpy as np
from yizhan.geodata import roads
def rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20
before = rss_mib()
t = time.perf_counter()
if kind == "new":
    net = roads.network_from_file(path, mode=mode)
elif kind == "old":
    net = roads.network_from_graph(roads.graph_from_file(path, mode=mode), mode=mode, source=path)
else:                                    # "cold" / "warm": load_network with a cache folder
    net = roads.load_network(path, mode=mode, cache_dir=cache)
elapsed = time.perf_counter() - t
if save != "-":
    np.savez(save, node_id=net.node_id, lon=net.lon, lat=net.lat, indptr=net.length_m.indptr,
             indices=net.length_m.indices, length_m=net.length_m.data, time_s=net.time_s.data)
with open("/proc/self/status") as fh:       # VmHWM: this process's own peak, a cross-check
    hwm = next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "rss_before_mib": before, "nodes": net.n_nodes,
                  "edges": net.n_edges, "osmnx_imported": "osmnx" in sys.modules, "vm_hwm_mib": hwm,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(kind: str, path: Path, mode: str, cache: Path | None = None, save: Path | None = None) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON report."""
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), mode, str(cache or "-"),
                           str(save or "-")], capture_output=True, text=True, check=False)
    if proc.returncode:
        print(proc.stderr[-3000:])
        raise SystemExit(f"{kind} run on {path.name} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def line(label: str, r: dict) -> str:
    return (f"   {label:<44s} {r['seconds']:7.2f} s   peak RSS {r['peak_rss_mib']:7.0f} MiB "
            f"(before build {r['rss_before_mib']:.0f} MiB)   {r['nodes']:,} nodes, {r['edges']:,} edges")


def same_network(a: Path, b: Path) -> str:
    """Compare two saved networks: identical arrays, or the largest differences."""
    with np.load(a) as x, np.load(b) as y:
        structure = all(np.array_equal(x[k], y[k]) for k in ("node_id", "lon", "lat", "indptr", "indices"))
        if not structure:
            return "DIFFERENT nodes or edges"
        rel_len = float(np.max(np.abs(x["length_m"] - y["length_m"]) / np.maximum(y["length_m"], 1e-300),
                               initial=0.0))
        rel_time = float(np.max(np.abs(x["time_s"] - y["time_s"]) / np.maximum(y["time_s"], 1e-300),
                                initial=0.0))
    if rel_len == 0 and rel_time == 0:
        return "identical (node ids, coordinates, edges, lengths and times bit for bit)"
    return f"same nodes and edges; max relative difference: length {rel_len:.1e}, time {rel_time:.1e}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3_200_000, help="nodes of the large file")
    parser.add_argument("--baseline-nodes", type=int, default=250_000, help="nodes of the baseline file")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--mode", default="truck")
    parser.add_argument("--skip-baseline", action="store_true", help="no osmnx run")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)   # internal: child process
    args = parser.parse_args(argv)
    if args.generate is not None:
        print(json.dumps(generate(args.generate, args.nodes, args.seed)))
        return

    print("input files (benchmarks/results/):")
    big = province_file(args.nodes, args.seed)
    small = None if args.skip_baseline else province_file(args.baseline_nodes, args.seed + 1)
    big_nodes = json.loads(big.with_suffix(".json").read_text())["nodes"]

    with tempfile.TemporaryDirectory(prefix="bench-roads-") as tmp:
        folder = Path(tmp)
        print(f"\n1. {args.mode} network of {big.name} ({big_nodes:,} nodes, "
              f"{big.stat().st_size / 2**20:.0f} MiB), each run in its own process")
        new = child("new", big, args.mode)
        print(line("streaming build (network_from_file):", new))
        cold = child("cold", big, args.mode, cache=folder / "cache")
        print(line("load_network, cold (hash + build + cache):", cold))
        warm = child("warm", big, args.mode, cache=folder / "cache")
        print(line("load_network, warm (hash + cached reload):", warm))
        print(f"   osmnx imported by the streaming build: {new['osmnx_imported']}")
        ok_nodes = big_nodes >= GOAL_NODES
        ok_time = new["seconds"] < GOAL_S and cold["seconds"] < GOAL_S
        ok_mem = max(new["peak_rss_mib"], cold["peak_rss_mib"]) / 1024 < GOAL_GIB
        print(f"   goals for >= {GOAL_NODES:,} nodes: file has {big_nodes:,} nodes: "
              f"{'yes' if ok_nodes else 'NO'}; build < {GOAL_S:.0f} s: "
              f"{'met' if ok_time else 'NOT MET'} ({new['seconds']:.1f} s, cold load "
              f"{cold['seconds']:.1f} s); peak memory < {GOAL_GIB:.0f} GiB: {'met' if ok_mem else 'NOT MET'} "
              f"({max(new['peak_rss_mib'], cold['peak_rss_mib']) / 1024:.2f} GiB)")

        if small is None:
            return
        small_nodes = json.loads(small.with_suffix(".json").read_text())["nodes"]
        print(f"\n2. baseline: {args.mode} network of {small.name} ({small_nodes:,} nodes)")
        old = child("old", small, args.mode, save=folder / "old.npz")
        print(line("osmnx pipeline (network_from_graph(graph_from_file)):", old))
        new_small = child("new", small, args.mode, save=folder / "new.npz")
        print(line("streaming build (network_from_file):", new_small))
        print(f"   ratio osmnx / streaming: time {old['seconds'] / new_small['seconds']:.1f}x, "
              f"peak RSS {old['peak_rss_mib'] / new_small['peak_rss_mib']:.1f}x, RSS growth during "
              f"the build {(old['peak_rss_mib'] - old['rss_before_mib']) / max(new_small['peak_rss_mib'] - new_small['rss_before_mib'], 1):.1f}x")
        print(f"   networks: {same_network(folder / 'new.npz', folder / 'old.npz')}")


if __name__ == "__main__":
    main()
