"""Road networks for walking, e-bike, car and truck from a local OpenStreetMap file.

The only module of yizhan that imports osmnx and pyosmium (``osmium``), both lazily inside the
functions that need them.  Nothing is downloaded: the network is built from a file on disk.

Build pipeline (:func:`network_from_file`, used by :func:`load_network`; the same for ``.osm``
XML and ``.osm.pbf``):

1. one streaming pass of pyosmium (``FileProcessor`` with a ``flex_mem`` node-location index and a
   ``KeyFilter("highway")``) keeps the ways the travel mode may use (see :data:`MODES` and
   :func:`way_allowed`) and appends their node ids and fixed-point coordinates to flat typed
   arrays, with per-way offsets and small integer codes for ``highway``, direction and
   ``maxspeed`` -- no Python object per node survives the pass;
2. numpy does the rest: nodes missing from the file (clipped extracts) split their ways at the
   gaps; unique node ids become positions; consecutive node pairs become directed edges (one-way
   streets respected for ``car``/``truck`` with osmnx's rules -- ``oneway`` yes/true/1/-1/
   reverse/T/F and ``junction=roundabout`` --, every way two-way for ``walk``/``ebike``); edge
   lengths are great-circle metres (haversine, osmnx's radius 6,371,009 m); speeds follow
   osmnx's ``add_edge_speeds`` (``maxspeed`` parsed like osmnx: mph converted, ``"50|60"``
   averaged, implicit values such as ``DE:urban``; else the mode's ``hwy_speeds_kmh``), then the
   mode's caps; travel time = length / speed;
3. the arrays become a :class:`RoadNetwork`: compressed sparse row matrices of edge lengths and
   travel times (self-loops dropped, the minimum of parallel edges kept), nodes in
   :func:`spatial_order`, restricted to the largest strongly connected component (``car``/
   ``truck``) or the largest connected component (``walk``/``ebike``), so that every node can
   reach every other and a snapped point can reach every station.

Why hand-written and not ``osmnx.graph_from_xml``: osmnx builds a networkx MultiDiGraph, with
Python dicts per node and per edge, which is fine for a city but takes many GB and minutes for a
province (Guangdong's ``.osm.pbf`` is about 200 MB).  The streaming builder stays in flat arrays
(about 16 bytes per way node plus 16 per file node for the location index) and reproduces the
osmnx network exactly: :func:`graph_from_file` (pyosmium filter -> temporary XML ->
``osmnx.graph_from_xml`` -> osmnx speeds) is kept as the independent oracle the tests compare
against (``network_from_graph(graph_from_file(...))``).  ``benchmarks/bench_roads.py`` measures
both.

Networks are cached on disk (``cache_dir``, normally ``<home>/cache``) as ``.npz`` archives of
plain arrays keyed by the SHA-256 of the file, the mode and a format version.

Coordinates are WGS-84 (EPSG:4326) ``lon, lat`` in degrees; lengths in metres; times in seconds.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import tempfile
import time
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "MODES",
    "TravelMode",
    "RoadNetwork",
    "way_allowed",
    "graph_from_file",
    "network_from_file",
    "parse_maxspeed_kmh",
    "load_network",
    "network_from_edges",
    "network_from_graph",
    "largest_component",
    "spatial_order",
]

logger = logging.getLogger(__name__)

#: Bump when the cached arrays or the way filters change: old cache files are then ignored.
#: 2: built by the streaming builder (:func:`network_from_file`) instead of osmnx.
CACHE_FORMAT_VERSION = 2

_XML_SUFFIXES = (".osm", ".osm.xml", ".xml")
_PBF_SUFFIXES = (".osm.pbf", ".pbf")

#: Access values that close a way to a mode, and values that open a conditional way to it.
#: ``use_sidepath`` is *not* a refusal: the side path runs alongside at the same length and
#: extracts often lack it, so dropping the road would cut the network for no gain in accuracy.
DENY_VALUES = frozenset({"no", "private"})
GRANT_VALUES = frozenset({"yes", "designated", "permissive", "destination"})

_MAJOR = ("trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link",
          "tertiary", "tertiary_link", "unclassified", "road")

#: Car speeds (km/h) for ways without a usable ``maxspeed``; with ``maxspeed`` the tag wins.
CAR_SPEEDS_KMH: dict[str, float] = {
    "motorway": 100, "motorway_link": 60, "trunk": 80, "trunk_link": 50,
    "primary": 60, "primary_link": 40, "secondary": 50, "secondary_link": 40,
    "tertiary": 40, "tertiary_link": 30, "unclassified": 30, "road": 30,
    "residential": 30, "living_street": 10, "service": 20,
}


@dataclass(frozen=True)
class TravelMode:
    """How one group of workers moves on the road network.

    ``highways`` are the ``highway`` values always usable (unless an access tag refuses them);
    ``conditional`` are usable only when the most specific access tag grants them (e.g. a
    footway with ``bicycle=yes`` for e-bikes).  ``access_keys`` are read most specific first:
    the first one present decides.  ``exclude`` lists other tags whose values close a way.
    ``speed_kmh`` is a constant speed on every edge (walk, e-bike) or None for per-highway speeds
    (``maxspeed`` where tagged, else ``hwy_speeds_kmh``), capped by ``cap_kmh``.  ``leg_speed_kmh``
    is the speed of the straight legs between a point and its nearest network node.
    """

    name: str
    description: str
    highways: frozenset[str]
    access_keys: tuple[str, ...]
    two_way: bool
    leg_speed_kmh: float
    conditional: frozenset[str] = frozenset()
    exclude: Mapping[str, frozenset[str]] = field(default_factory=dict)
    speed_kmh: float | None = None
    hwy_speeds_kmh: Mapping[str, float] = field(default_factory=dict)
    cap_kmh: Mapping[str, float] = field(default_factory=dict)
    default_cap_kmh: float | None = None

    def speed_for(self, highway: str) -> float:
        """Speed (km/h) of a way of this highway type without ``maxspeed``."""
        if self.speed_kmh is not None:
            return self.speed_kmh
        speed = float(self.hwy_speeds_kmh.get(highway, 30.0))
        return min(speed, self.cap_for(highway))

    def cap_for(self, highway: str) -> float:
        """Highest speed (km/h) allowed for this mode on a highway type (inf: no cap)."""
        cap = self.cap_kmh.get(highway, self.default_cap_kmh)
        return float("inf") if cap is None else float(cap)


#: Travel modes.  Speeds are plain averages for coverage planning, not routing-grade estimates.
MODES: dict[str, TravelMode] = {
    "walk": TravelMode(
        name="walk",
        description="walking, 4.5 km/h; footways, paths, pedestrian streets, steps and every road "
                    "except motorways and motor roads (motorroad=yes, e.g. elevated expressways); "
                    "cycleways only with foot=yes; every way two-way",
        highways=frozenset({"footway", "path", "pedestrian", "steps", "corridor", "track",
                            "living_street", "residential", "service", *_MAJOR}),
        conditional=frozenset({"cycleway", "bridleway"}),
        access_keys=("foot", "access"),
        exclude={"motorroad": frozenset({"yes"}), "area": frozenset({"yes"})},
        two_way=True, speed_kmh=4.5, leg_speed_kmh=4.5,
    ),
    "ebike": TravelMode(
        name="ebike",
        description="delivery rider on an e-bike (电动自行车, a non-motor vehicle in China), "
                    "15 km/h on average including stops; cycleways and every road except "
                    "motorways and motor roads; footways, paths and pedestrian streets only with "
                    "bicycle=yes/designated/permissive; bicycle=no closes a way; every way two-way",
        highways=frozenset({"cycleway", "living_street", "residential", "service", "track",
                            *_MAJOR}),
        conditional=frozenset({"footway", "path", "pedestrian"}),
        access_keys=("bicycle", "vehicle", "access"),
        exclude={"motorroad": frozenset({"yes"}), "area": frozenset({"yes"})},
        two_way=True, speed_kmh=15.0, leg_speed_kmh=15.0,
    ),
    "car": TravelMode(
        name="car",
        description="ride-hailing car: motorway to residential, living streets and service roads "
                    "(not parking aisles, driveways or emergency access); one-way respected; "
                    "speed from maxspeed, else per highway type (motorway 100, trunk 80, primary "
                    "60, secondary 50, tertiary 40, residential 30, service 20 km/h ...)",
        highways=frozenset({"motorway", "motorway_link", "living_street", "residential",
                            "service", *_MAJOR}),
        access_keys=("motorcar", "motor_vehicle", "vehicle", "access"),
        exclude={"service": frozenset({"parking_aisle", "driveway", "emergency_access"}),
                 "area": frozenset({"yes"})},
        two_way=False, hwy_speeds_kmh=CAR_SPEEDS_KMH, leg_speed_kmh=20.0,
    ),
    "truck": TravelMode(
        name="truck",
        description="goods vehicle: the car network without service roads and living streets; "
                    "hgv=no closes a way; one-way respected; car speeds capped at 80 km/h on "
                    "motorways and 60 km/h elsewhere",
        highways=frozenset({"motorway", "motorway_link", "residential", *_MAJOR}),
        access_keys=("hgv", "motor_vehicle", "vehicle", "access"),
        exclude={"area": frozenset({"yes"})},
        two_way=False, hwy_speeds_kmh=CAR_SPEEDS_KMH,
        cap_kmh={"motorway": 80, "motorway_link": 80}, default_cap_kmh=60,
        leg_speed_kmh=20.0,
    ),
}


def _mode(mode: str) -> TravelMode:
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"unknown travel mode {mode!r}; expected one of {sorted(MODES)}") from None


def way_allowed(mode: str | TravelMode, tags: Mapping[str, str]) -> bool:
    """Whether a way with these OSM tags belongs to the mode's network (see :class:`TravelMode`)."""
    travel = mode if isinstance(mode, TravelMode) else _mode(mode)
    highway = tags.get("highway")
    if highway not in travel.highways and highway not in travel.conditional:
        return False
    for key, values in travel.exclude.items():
        if tags.get(key) in values:
            return False
    access = next((tags[k] for k in travel.access_keys if k in tags), None)
    if highway in travel.conditional:
        return access in GRANT_VALUES
    return access not in DENY_VALUES


# -- the network -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A directed road network as sparse matrices (row = from node, column = to node).

    ``node_id`` are OSM node ids (int64; 0..n-1 for generated networks), ``lon``/``lat`` WGS-84
    degrees; networks read from OSM files store their nodes in :func:`spatial_order`.  ``length_m`` holds edge lengths in metres and ``time_s`` travel times in seconds for
    ``mode``; both are ``(n, n)`` CSR matrices with the same sparsity (explicit zeros are real
    zero-length edges).  Parallel edges keep the minimum of each (so the shortest and the fastest
    parallel edge may differ).  A two-way street is two edges.  ``leg_speed_kmh`` is the speed of
    the straight legs from a point to its nearest node.  Compared by identity (hashable), so it
    can key caches.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    length_m: sp.csr_matrix
    time_s: sp.csr_matrix
    mode: str
    source: str = ""
    leg_speed_kmh: float = 4.5

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_id.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges (parallel edges counted once)."""
        return int(self.length_m.nnz)

    @property
    def leg_speed_mps(self) -> float:
        """Leg speed in metres per second."""
        return self.leg_speed_kmh / 3.6

    def __repr__(self) -> str:
        return (f"RoadNetwork(mode={self.mode!r}, n_nodes={self.n_nodes}, n_edges={self.n_edges}, "
                f"source={self.source!r})")


def _spread_bits(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                        (2, 0x3333333333333333), (1, 0x5555555555555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def spatial_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Permutation putting points in Z-order (Morton code on a 65536 x 65536 grid over their bbox).

    Nodes close on the ground end up close in memory, which makes Dijkstra on the CSR matrices
    about 20 % faster than in OSM-id or random order (cache locality).
    """
    if len(lon) == 0:
        return np.empty(0, dtype=np.int64)
    x = (lon - lon.min()) / max(float(np.ptp(lon)), 1e-12) * 65535
    y = (lat - lat.min()) / max(float(np.ptp(lat)), 1e-12) * 65535
    code = _spread_bits(x) | (_spread_bits(y) << np.uint64(1))
    return np.argsort(code, kind="stable")


def _build(node_id: np.ndarray, lon: np.ndarray, lat: np.ndarray, src: np.ndarray, dst: np.ndarray,
           length_m: np.ndarray, time_s: np.ndarray, *, mode: str, source: str,
           leg_speed_kmh: float, reorder: bool = False) -> RoadNetwork:
    """Validated arrays -> RoadNetwork: drop self-loops, keep the minimum of parallel edges;
    with ``reorder`` put the nodes in :func:`spatial_order` first.

    Edges are sorted on one int64 key (row * n + column) rather than ``lexsort`` over two arrays:
    fewer and smaller temporaries on province-sized networks, and ``indptr`` comes from a binary
    search on the sorted keys.
    """
    n = len(node_id)
    index_dtype = np.int32 if len(src) < 2**31 and n < 2**31 else np.int64
    if reorder:
        perm = spatial_order(lon, lat)
        new_index = np.empty(n, dtype=index_dtype)
        new_index[perm] = np.arange(n, dtype=index_dtype)
        node_id, lon, lat = node_id[perm], lon[perm], lat[perm]
        src, dst = new_index[src], new_index[dst]
        del perm, new_index
    keep = src != dst
    key = src[keep].astype(np.int64) * n + dst[keep]
    length_m, time_s = length_m[keep], time_s[keep]
    del keep, src, dst
    order = np.argsort(key)                  # ties are parallel edges: reduced by minimum below
    key, length_m, time_s = key[order], length_m[order], time_s[order]
    del order
    if len(key):
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        length_m = np.minimum.reduceat(length_m, starts)
        time_s = np.minimum.reduceat(time_s, starts)
        key = key[starts]
    indptr = np.searchsorted(key, np.arange(n + 1, dtype=np.int64) * n).astype(index_dtype)
    indices = (key % max(n, 1)).astype(index_dtype)
    del key
    length = sp.csr_matrix((np.asarray(length_m, dtype=np.float64), indices, indptr), shape=(n, n))
    times = sp.csr_matrix((np.asarray(time_s, dtype=np.float64), indices.copy(), indptr.copy()),
                          shape=(n, n))
    return RoadNetwork(node_id=node_id.astype(np.int64), lon=lon.astype(np.float64),
                       lat=lat.astype(np.float64), length_m=length, time_s=times, mode=mode,
                       source=source, leg_speed_kmh=float(leg_speed_kmh))


def network_from_edges(
    lon: ArrayLike,
    lat: ArrayLike,
    src: ArrayLike,
    dst: ArrayLike,
    length_m: ArrayLike,
    time_s: ArrayLike,
    *,
    node_id: ArrayLike | None = None,
    mode: str = "custom",
    two_way: bool = False,
    leg_speed_kmh: float | None = None,
    source: str = "",
    reorder: bool = False,
) -> RoadNetwork:
    """A :class:`RoadNetwork` from node coordinates and directed edge arrays (tests, benchmarks).

    ``src``/``dst`` are node positions (0..n-1), ``length_m`` metres, ``time_s`` seconds, one value
    per directed edge; ``two_way=True`` adds every edge in the other direction too.  ``node_id``
    defaults to ``0..n-1``.  Nodes keep their input order unless ``reorder=True``, which stores
    them in :func:`spatial_order` (faster shortest paths; find a node again by ``node_id``).  ``leg_speed_kmh`` defaults to the mode's (see :data:`MODES`), or for
    other modes to the network's mean speed (total length / total time).  Every component is
    kept.  Raises ValueError listing every problem with the arrays.
    """
    lon_a = np.asarray(lon, dtype=np.float64).ravel()
    lat_a = np.asarray(lat, dtype=np.float64).ravel()
    src_a = np.asarray(src).ravel()
    dst_a = np.asarray(dst).ravel()
    len_a = np.asarray(length_m, dtype=np.float64).ravel()
    time_a = np.asarray(time_s, dtype=np.float64).ravel()
    n = len(lon_a)
    ids = np.arange(n, dtype=np.int64) if node_id is None else np.asarray(node_id).ravel()
    problems = []
    if len(lat_a) != n or len(ids) != n:
        problems.append(f"lon, lat and node_id lengths differ ({n}, {len(lat_a)}, {len(ids)})")
    if not (len(src_a) == len(dst_a) == len(len_a) == len(time_a)):
        problems.append(f"src, dst, length_m and time_s lengths differ ({len(src_a)}, {len(dst_a)}, "
                        f"{len(len_a)}, {len(time_a)})")
    if problems:
        raise ValueError("; ".join(problems))
    if not (np.issubdtype(src_a.dtype, np.integer) or len(src_a) == 0) or \
            not (np.issubdtype(dst_a.dtype, np.integer) or len(dst_a) == 0):
        problems.append("src and dst must be integer node positions")
    else:
        src_a, dst_a = src_a.astype(np.int64), dst_a.astype(np.int64)
        if len(src_a) and (min(src_a.min(), dst_a.min()) < 0 or max(src_a.max(), dst_a.max()) >= n):
            problems.append(f"src/dst outside 0..{n - 1}")
    if not (np.all(np.isfinite(lon_a)) and np.all(np.isfinite(lat_a))):
        problems.append("node coordinates must be finite")
    elif n and (np.abs(lat_a).max() > 90 or np.abs(lon_a).max() > 180):
        problems.append("node coordinates outside lon -180..180 / lat -90..90")
    if not np.all(np.isfinite(len_a) & (len_a >= 0)):
        problems.append("length_m must be finite and >= 0")
    if not np.all(np.isfinite(time_a) & (time_a >= 0)):
        problems.append("time_s must be finite and >= 0")
    if len(np.unique(ids)) != n:
        problems.append("node_id values must be unique")
    if problems:
        raise ValueError("invalid network: " + "; ".join(problems))
    if two_way:
        src_a, dst_a = np.r_[src_a, dst_a], np.r_[dst_a, src_a]
        len_a, time_a = np.r_[len_a, len_a], np.r_[time_a, time_a]
    if leg_speed_kmh is None:
        if mode in MODES:
            leg_speed_kmh = MODES[mode].leg_speed_kmh
        elif time_a.sum() > 0:
            leg_speed_kmh = 3.6 * float(len_a.sum() / time_a.sum())
        else:
            leg_speed_kmh = MODES["walk"].leg_speed_kmh
    if not leg_speed_kmh > 0:
        raise ValueError(f"leg_speed_kmh must be > 0, got {leg_speed_kmh}")
    return _build(ids, lon_a, lat_a, src_a, dst_a, len_a, time_a, mode=mode, source=source,
                  leg_speed_kmh=leg_speed_kmh, reorder=reorder)


def _edges(network: RoadNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(src, dst, length_m, time_s)`` of every edge; positions in the matrices' index dtype."""
    m = network.length_m
    src = np.repeat(np.arange(network.n_nodes, dtype=m.indices.dtype), np.diff(m.indptr))
    return src, m.indices, m.data, network.time_s.data


def largest_component(network: RoadNetwork, *, strongly: bool = True) -> RoadNetwork:
    """The network restricted to its largest strongly (or weakly) connected component."""
    from scipy.sparse.csgraph import connected_components

    if network.n_nodes == 0:
        return network
    n_comp, labels = connected_components(network.length_m, directed=True,
                                          connection="strong" if strongly else "weak")
    if n_comp == 1:
        return network
    keep = labels == np.argmax(np.bincount(labels))
    del labels
    new_index = np.full(network.n_nodes, -1, dtype=network.length_m.indices.dtype)
    new_index[keep] = np.arange(int(keep.sum()))
    src, dst, length, times = _edges(network)
    both = keep[src] & keep[dst]
    return _build(network.node_id[keep], network.lon[keep], network.lat[keep], new_index[src[both]],
                  new_index[dst[both]], length[both], times[both], mode=network.mode,
                  source=network.source, leg_speed_kmh=network.leg_speed_kmh)


# -- reading OSM files -----------------------------------------------------------------------------

def osm_file_format(path: Path) -> str:
    """``"pbf"`` or ``"xml"`` from the file name; a clear error for anything else."""
    name = path.name.lower()
    if name.endswith(_PBF_SUFFIXES):
        return "pbf"
    if name.endswith(_XML_SUFFIXES):
        return "xml"
    raise ValueError(f"不支持的道路文件 {path.name!r}，应为 .osm、.osm.xml、.xml 或 .osm.pbf / "
                     f"unsupported road file {path.name!r}: expected .osm, .osm.xml, .xml or .osm.pbf")


#: Way tags copied to the temporary XML (the ones osmnx reads for routing and labels).
_KEPT_TAGS = ("highway", "oneway", "junction", "maxspeed", "name", "ref", "service", "access")


def _write_mode_ways(path: Path, travel: TravelMode, out: Path) -> tuple[int, int]:
    """Write the mode's ways and their nodes to an OSM XML file; returns (ways, nodes).

    Ways whose nodes are missing from the file (clipped extracts) are split at the gaps.
    """
    import osmium
    from osmium.osm.mutable import Node, Way

    ways: list[tuple[int, list[int], dict[str, str]]] = []
    nodes: dict[int, tuple[float, float]] = {}
    n_incomplete = 0
    next_synthetic = -1
    source = osmium.io.File(str(path), "pbf" if osm_file_format(path) == "pbf" else "osm")
    processor = (osmium.FileProcessor(source).with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.KeyFilter("highway")))
    for way in processor:
        tags = {t.k: t.v for t in way.tags}
        if not way_allowed(travel, tags):
            continue
        kept = {k: tags[k] for k in _KEPT_TAGS if k in tags}
        runs: list[list[int]] = [[]]
        missing = False
        for nd in way.nodes:
            loc = nd.location
            if loc.valid():
                nodes[nd.ref] = (loc.lon, loc.lat)
                runs[-1].append(nd.ref)
            else:
                missing = True
                if runs[-1]:
                    runs.append([])
        runs = [r for r in runs if len(r) >= 2]
        n_incomplete += missing
        for i, run in enumerate(runs):
            way_id = way.id if i == 0 else next_synthetic
            if i:
                next_synthetic -= 1
            ways.append((way_id, run, kept))
    if n_incomplete:
        logger.warning("%s: %d ways reference nodes missing from the file; split at the gaps",
                       path.name, n_incomplete)
    used = sorted({ref for _, refs, _ in ways for ref in refs})
    writer = osmium.SimpleWriter(str(out), overwrite=True)
    try:
        for ref in used:
            writer.add_node(Node(id=ref, location=nodes[ref]))
        for way_id, refs, tags in ways:
            writer.add_way(Way(id=way_id, nodes=refs, tags=tags))
    finally:
        writer.close()
    return len(ways), len(used)


def _add_speeds(G: nx.MultiDiGraph, travel: TravelMode) -> None:
    import networkx as nx
    import osmnx as ox

    if travel.speed_kmh is not None:
        nx.set_edge_attributes(G, float(travel.speed_kmh), "speed_kph")
    else:
        ox.routing.add_edge_speeds(G, hwy_speeds=dict(travel.hwy_speeds_kmh), fallback=30.0)
        for _, _, data in G.edges(data=True):
            highway = data.get("highway")
            highway = highway[0] if isinstance(highway, list) else highway
            speed = float(data.get("speed_kph", np.nan))
            if not (np.isfinite(speed) and speed > 0):   # maxspeed=0 or unparsable
                speed = travel.speed_for(highway)
            data["speed_kph"] = min(speed, travel.cap_for(highway))
    ox.routing.add_edge_travel_times(G)


def graph_from_file(path: str | Path, *, mode: str = "ebike") -> nx.MultiDiGraph:
    """The osmnx MultiDiGraph of a local OSM file (``.osm``/``.osm.xml``/``.xml``/``.osm.pbf``).

    Only the ways usable by ``mode`` (see :data:`MODES`), unsimplified, every component kept.
    Edges carry osmnx's ``length`` (metres, great-circle), ``speed_kph`` and ``travel_time``
    (seconds); nodes carry ``x``/``y`` (WGS-84 lon/lat).  Never touches the network.
    """
    import osmnx as ox

    travel = _mode(mode)
    path = Path(path)
    osm_file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"road file not found: {path}")
    with tempfile.TemporaryDirectory(prefix="yizhan-roads-") as tmp:
        xml = Path(tmp) / "roads.osm"
        n_ways, n_nodes = _write_mode_ways(path, travel, xml)
        if n_ways == 0:
            raise ValueError(f"{path.name}: no ways usable by mode {mode!r}")
        logger.debug("%s: %d ways and %d nodes usable by %s", path.name, n_ways, n_nodes, mode)
        G = ox.graph_from_xml(xml, bidirectional=travel.two_way, simplify=False, retain_all=True)
    _add_speeds(G, travel)
    return G


def network_from_graph(G: nx.MultiDiGraph, *, mode: str, source: str = "",
                       largest: bool = True) -> RoadNetwork:
    """A :class:`RoadNetwork` from an osmnx graph with ``length`` and ``travel_time`` edges.

    With ``largest`` only the largest strongly (car, truck, other modes) or connected (walk,
    e-bike: every edge two-way) component is kept.  Nodes are stored in :func:`spatial_order`.
    """
    node_id = np.fromiter(G.nodes, dtype=np.int64, count=len(G))
    lon = np.array([d["x"] for _, d in G.nodes(data=True)], dtype=np.float64)
    lat = np.array([d["y"] for _, d in G.nodes(data=True)], dtype=np.float64)
    order = np.argsort(node_id)
    node_id, lon, lat = node_id[order], lon[order], lat[order]
    m = G.number_of_edges()
    u = np.fromiter((e[0] for e in G.edges(keys=False)), dtype=np.int64, count=m)
    v = np.fromiter((e[1] for e in G.edges(keys=False)), dtype=np.int64, count=m)
    length = np.fromiter((d["length"] for _, _, d in G.edges(data=True)), dtype=np.float64, count=m)
    times = np.fromiter((d["travel_time"] for _, _, d in G.edges(data=True)), dtype=np.float64,
                        count=m)
    src, dst = np.searchsorted(node_id, u), np.searchsorted(node_id, v)
    leg = MODES[mode].leg_speed_kmh if mode in MODES else None
    net = network_from_edges(lon, lat, src, dst, length, times, node_id=node_id, mode=mode,
                             leg_speed_kmh=leg, source=source, reorder=True)
    if largest:
        strongly = not (mode in MODES and MODES[mode].two_way)
        net = largest_component(net, strongly=strongly)
    return net


# -- the streaming builder -----------------------------------------------------------------------
#
# Hand-written rather than osmnx (see the module docstring): osmnx's networkx graph needs Python
# dicts per node and edge, far too much memory and time for a province.  Every rule below copies
# what osmnx 2.x does in graph_from_xml / add_edge_speeds / add_edge_travel_times, so that
# network_from_file(path) == network_from_graph(graph_from_file(path)); tests/test_roads_build.py
# checks it on real files and on hand-made edge cases.

#: osmnx's Earth radius (metres) for edge lengths (``osmnx.distance.EARTH_RADIUS_M``); not the
#: mean radius of :mod:`yizhan.geodata.sphere`, so that lengths agree with osmnx to the last bit.
OSMNX_EARTH_RADIUS_M = 6_371_009

#: Node-location index of the streaming pass.  libosmium's ``flex_mem`` keeps 16 bytes per node of
#: the file in a vector (id + location; up to twice that while the vector grows) and switches to
#: dense blocks only past 16.7 million nodes holding over a third of all ids below the largest --
#: planet-like density, never an extract: a province of ~30 million nodes needs about 0.5-1 GB.
LOCATION_INDEX = "flex_mem"

#: Valid fixed-point coordinates (1e-7 degree), as libosmium's ``Location::valid()``.
_MAX_X, _MAX_Y = 1_800_000_000, 900_000_000
_COORDINATE_PRECISION = 10_000_000.0

#: osmnx's ``oneway`` values (``graph._add_paths``): one-way, and one-way against the node order.
_ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
_REVERSED_VALUES = frozenset({"-1", "reverse", "T"})

#: osmnx's ``maxspeed`` grammar (``routing._clean_maxspeed``); "|" separates per-lane values.
_MAXSPEED_PATTERN = re.compile(r"^([0-9][\.,0-9]*?)(?:[ ]?(?:km/h|kmh|kph|mph|knots))?$")
_MILES_TO_KM = 1.60934
#: Speed (km/h) of highway types missing from ``hwy_speeds_kmh`` without any tagged maxspeed
#: (the ``fallback`` that :func:`_add_speeds` passes to osmnx).
_FALLBACK_KMH = 30.0
#: osmnx's implicit ``maxspeed`` values in km/h (``routing._IMPLICIT_MAXSPEEDS``, from the OSM wiki
#: page Key:maxspeed); copied so that building needs no osmnx import; a test keeps it equal.
_IMPLICIT_MAXSPEEDS_KMH: dict[str, float] = {
    "AR:rural": 110, "AR:urban": 40, "AR:urban:primary": 60, "AR:urban:secondary": 60,
    "AT:bicycle_road": 30, "AT:motorway": 130, "AT:rural": 100, "AT:trunk": 100, "AT:urban": 50,
    "BE-BRU:rural": 70, "BE-BRU:urban": 30, "BE-VLG:rural": 70, "BE-VLG:urban": 50,
    "BE-WAL:rural": 90, "BE-WAL:urban": 50, "BE:cyclestreet": 30, "BE:living_street": 20,
    "BE:motorway": 120, "BE:trunk": 120, "BE:zone30": 30, "BG:living_street": 20,
    "BG:motorway": 140, "BG:rural": 90, "BG:trunk": 120, "BG:urban": 50, "BY:living_street": 20,
    "BY:motorway": 110, "BY:rural": 90, "BY:urban": 60, "CA-AB:rural": 90, "CA-AB:urban": 65,
    "CA-BC:rural": 80, "CA-BC:urban": 50, "CA-MB:rural": 90, "CA-MB:urban": 50, "CA-ON:rural": 80,
    "CA-ON:urban": 50, "CA-QC:motorway": 100, "CA-QC:rural": 75, "CA-QC:urban": 50,
    "CA-SK:nsl": 80, "CH:motorway": 120, "CH:rural": 80, "CH:trunk": 100, "CH:urban": 50,
    "CZ:living_street": 20, "CZ:motorway": 130, "CZ:pedestrian_zone": 20, "CZ:rural": 90,
    "CZ:trunk": 110, "CZ:urban": 50, "CZ:urban_motorway": 80, "CZ:urban_trunk": 80,
    "DE:bicycle_road": 30, "DE:living_street": 15, "DE:motorway": 120, "DE:rural": 80,
    "DE:urban": 50, "DK:motorway": 130, "DK:rural": 80, "DK:urban": 50, "EE:rural": 90,
    "EE:urban": 50, "ES:living_street": 20, "ES:motorway": 120, "ES:rural": 90, "ES:trunk": 90,
    "ES:urban": 50, "ES:zone30": 30, "FI:motorway": 120, "FI:rural": 80, "FI:trunk": 100,
    "FI:urban": 50, "FR:motorway": 120, "FR:rural": 80, "FR:urban": 50, "FR:zone30": 30,
    "GB:nsl_restricted": 48.28, "GR:motorway": 130, "GR:rural": 90, "GR:trunk": 110,
    "GR:urban": 50, "HU:living_street": 20, "HU:motorway": 130, "HU:rural": 90, "HU:trunk": 110,
    "HU:urban": 50, "IT:motorway": 130, "IT:rural": 90, "IT:trunk": 110, "IT:urban": 50,
    "JP:express": 100, "JP:nsl": 60, "LT:rural": 90, "LT:urban": 50, "NO:rural": 80,
    "NO:urban": 50, "PH:express": 100, "PH:rural": 80, "PH:urban": 30, "PT:motorway": 120,
    "PT:rural": 90, "PT:trunk": 100, "PT:urban": 50, "RO:motorway": 130, "RO:rural": 90,
    "RO:trunk": 100, "RO:urban": 50, "RS:living_street": 10, "RS:motorway": 130, "RS:rural": 80,
    "RS:trunk": 100, "RS:urban": 50, "RU:living_street": 20, "RU:motorway": 110, "RU:rural": 90,
    "RU:urban": 60, "SE:rural": 70, "SE:urban": 50, "SI:motorway": 130, "SI:rural": 90,
    "SI:trunk": 110, "SI:urban": 50, "SK:living_street": 20, "SK:motorway": 130,
    "SK:motorway_urban": 90, "SK:rural": 90, "SK:trunk": 90, "SK:urban": 50,
    "TR:living_street": 20, "TR:motorway": 130, "TR:rural": 90, "TR:trunk": 110, "TR:urban": 50,
    "TR:zone30": 30, "UA:living_street": 20, "UA:motorway": 130, "UA:rural": 90, "UA:trunk": 110,
    "UA:urban": 50, "UK:motorway": 112.65, "UK:nsl_dual": 112.65, "UK:nsl_single": 96.56,
    "UZ:living_street": 30, "UZ:motorway": 110, "UZ:rural": 100, "UZ:urban": 70,
}

#: Edges per block when computing lengths and times (bounds the float64 temporaries to ~100 MB).
_EDGE_BLOCK = 1 << 20


def parse_maxspeed_kmh(value: str | None) -> float:
    """Speed in km/h of an OSM ``maxspeed`` value, read exactly as osmnx reads it; NaN if unusable.

    ``"60"``, ``"60 km/h"``, ``"7,5"`` -> km/h; ``"30 mph"`` -> x 1.60934; ``"50|60"`` (per
    lane) -> the mean; implicit values such as ``"DE:urban"`` from osmnx's table.  Everything
    else (``"none"``, ``"signals"``, ``"50;60"``, ``"30 MPH"``, None) is NaN, so the highway
    type's default speed applies.  ``"0"`` is 0.0: the caller treats it as unusable too.
    """
    if not isinstance(value, str):
        return math.nan
    try:
        speeds = []
        for part in value.split("|"):
            match = _MAXSPEED_PATTERN.match(part)
            speed = float(match.group(1).replace(",", "."))  # type: ignore[union-attr]
            if "mph" in value.lower():
                speed = speed * _MILES_TO_KM
            speeds.append(speed)
        return float(np.mean(speeds))
    except (ValueError, AttributeError):     # no match or not a number: maybe an implicit value
        return float(_IMPLICIT_MAXSPEEDS_KMH.get(value, math.nan))


def _way_direction(tags: Mapping[str, str], two_way: bool) -> int:
    """+1: one-way along the node order, -1: one-way against it, 0: both ways.

    osmnx's ``_is_path_one_way`` and ``_is_path_reversed``: with ``two_way`` (walk, e-bike)
    nothing is one-way; else the ``oneway`` values of :data:`_ONEWAY_VALUES` and
    ``junction=roundabout`` are.
    """
    if two_way:
        return 0
    oneway = tags.get("oneway")
    if oneway in _ONEWAY_VALUES:
        return -1 if oneway in _REVERSED_VALUES else 1
    return 1 if tags.get("junction") == "roundabout" else 0


@dataclass(frozen=True)
class _Ways:
    """The mode's ways read by :func:`_read_ways`, as flat arrays.

    ``ref``, ``x``, ``y``: node id and fixed-point lon/lat (1e-7 degree, WGS-84) of every way node,
    ways concatenated (coordinates outside ``Location::valid()`` mark nodes missing from the
    file); ``end``: exclusive end offset of each way; per way ``direction`` (see
    :func:`_way_direction`), ``highway`` (index into ``highways``) and ``maxspeed`` (index into
    ``maxspeeds``, -1 without the tag).
    """

    ref: np.ndarray
    x: np.ndarray
    y: np.ndarray
    end: np.ndarray
    direction: np.ndarray
    highway: np.ndarray
    maxspeed: np.ndarray
    highways: list[str]
    maxspeeds: list[str]


def _numpy(values: array, dtype: DTypeLike) -> np.ndarray:
    """Zero-copy view of a typed array (numpy refuses empty buffers of some types)."""
    return np.frombuffer(values, dtype=dtype) if len(values) else np.empty(0, dtype=dtype)


def _read_ways(path: Path, travel: TravelMode) -> _Ways:
    """One streaming pass of pyosmium over an OSM file: the ways ``travel`` may use, as arrays.

    Nodes only feed libosmium's location index (:data:`LOCATION_INDEX`, C++); only the
    ``highway`` ways reach Python, and each way node leaves 16 bytes in typed arrays.
    """
    import osmium

    refs, xs, ys = array("q"), array("i"), array("i")
    end, direction, highway, maxspeed = array("q"), array("b"), array("H"), array("i")
    highway_code: dict[str, int] = {}
    maxspeed_code: dict[str, int] = {}
    add_ref, add_x, add_y = refs.append, xs.append, ys.append
    two_way = travel.two_way
    source = osmium.io.File(str(path), "pbf" if osm_file_format(path) == "pbf" else "osm")
    processor = (osmium.FileProcessor(source, osmium.osm.NODE | osmium.osm.WAY)
                 .with_locations(LOCATION_INDEX)
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.KeyFilter("highway")))
    for way in processor:
        tags = way.tags                      # pyosmium's TagList reads like a Mapping: no dict per way
        if not way_allowed(travel, tags):
            continue
        for nd in way.nodes:
            loc = nd.location
            add_ref(nd.ref)
            add_x(loc.x)
            add_y(loc.y)
        end.append(len(refs))
        direction.append(_way_direction(tags, two_way))
        highway.append(highway_code.setdefault(tags["highway"], len(highway_code)))
        value = tags.get("maxspeed")
        maxspeed.append(-1 if value is None else maxspeed_code.setdefault(value, len(maxspeed_code)))
    return _Ways(ref=_numpy(refs, np.int64), x=_numpy(xs, np.int32), y=_numpy(ys, np.int32),
                 end=_numpy(end, np.int64), direction=_numpy(direction, np.int8),
                 highway=_numpy(highway, np.uint16), maxspeed=_numpy(maxspeed, np.int32),
                 highways=list(highway_code), maxspeeds=list(maxspeed_code))


def _great_circle_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray,
                    lon2: np.ndarray) -> np.ndarray:
    """Great-circle metres between WGS-84 degrees: osmnx's ``distance.great_circle`` operation
    for operation (its radius, its order), so that lengths equal osmnx's bit for bit;
    :func:`yizhan.geodata.sphere.haversine_m` uses the mean Earth radius instead."""
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    x1, x2 = np.deg2rad(lon1), np.deg2rad(lon2)
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    h = np.minimum(1, h)
    dist = 2 * np.arcsin(np.sqrt(h)) * OSMNX_EARTH_RADIUS_M
    dist[np.isnan(dist)] = 0
    return dist


def _way_speeds_kmh(ways: _Ways, travel: TravelMode, real_edges: np.ndarray) -> np.ndarray:
    """Speed (km/h) on each way, as :func:`_add_speeds` gives its edges through osmnx.

    osmnx: the parsed ``maxspeed``, else the highway type's ``hwy_speeds_kmh`` (types missing
    from it: the mean tagged speed over their edges -- ``real_edges`` counts each way's edges
    the osmnx graph has --, else 30 km/h); then ours: 0 or non-finite speeds fall back to
    :meth:`TravelMode.speed_for`, and :meth:`TravelMode.cap_for` caps them.
    """
    n_ways = len(ways.end)
    if travel.speed_kmh is not None:
        return np.full(n_ways, float(travel.speed_kmh))
    highway = ways.highway
    parsed = np.array([parse_maxspeed_kmh(v) for v in ways.maxspeeds] + [math.nan])
    tagged = parsed[ways.maxspeed]                              # code -1: the trailing NaN
    default = np.empty(len(ways.highways))
    for code, name in enumerate(ways.highways):                 # a few dozen highway types
        if name in travel.hwy_speeds_kmh:
            default[code] = float(travel.hwy_speeds_kmh[name])
            continue
        known = (highway == code) & ~np.isnan(tagged) & (real_edges > 0)
        weight = real_edges[known]
        default[code] = (float(np.dot(tagged[known], weight) / weight.sum()) if weight.sum()
                         else _FALLBACK_KMH)
    speed = np.where(np.isnan(tagged), default[highway], tagged)
    fallback = np.array([travel.speed_for(name) for name in ways.highways])
    cap = np.array([travel.cap_for(name) for name in ways.highways])
    speed = np.where(np.isfinite(speed) & (speed > 0), speed, fallback[highway])
    return np.minimum(speed, cap[highway])


def _edges_from_ways(ways: _Ways, travel: TravelMode, name: str) -> tuple[np.ndarray, ...]:
    """Flat way arrays -> ``(node_id, lon, lat, src, dst, length_m, time_s)``, all vectorised.

    A node belongs to the network when it is in the file and next to another such node of the
    same way (ways are split where nodes are missing, as osmnx gets them from
    :func:`graph_from_file`).  ``node_id`` is sorted; ``src``/``dst`` are positions in it (int32
    below 2**31 nodes); self-loops and parallel edges are left to :func:`_build`.
    """
    ref, x, y, end = ways.ref, ways.x, ways.y, ways.end
    valid = (x >= -_MAX_X) & (x <= _MAX_X) & (y >= -_MAX_Y) & (y <= _MAX_Y)
    # pair i joins way nodes i and i + 1: both in the file and in the same way
    pair = valid[:-1] & valid[1:]
    pair[end[(end > 0) & (end < len(ref))] - 1] = False         # last node of a way, first of next
    n_incomplete = len(np.unique(np.searchsorted(end, np.flatnonzero(~valid), side="right")))
    if n_incomplete:
        logger.warning("%s: %d ways reference nodes missing from the file; split at the gaps",
                       name, n_incomplete)
    start = np.flatnonzero(pair)
    del pair, valid
    if len(start) == 0:
        raise ValueError(f"{name}: no ways usable by mode {travel.name!r}")
    used = np.zeros(len(ref), dtype=bool)
    used[start] = True
    used[start + 1] = True
    node_id, inverse = np.unique(ref[used], return_inverse=True)
    n = len(node_id)
    index_dtype = np.int32 if n < 2**31 else np.int64
    # fixed point -> degrees exactly as libosmium's Location::lon() and osmnx's XML round trip;
    # every occurrence of a node has the same location, so scattering them all is fine
    lon = np.empty(n)
    lat = np.empty(n)
    lon[inverse] = x[used] / _COORDINATE_PRECISION
    lat[inverse] = y[used] / _COORDINATE_PRECISION
    position = np.empty(len(ref), dtype=index_dtype)
    position[used] = inverse.ravel()
    del used, inverse
    way = np.searchsorted(end, start, side="right").astype(index_dtype)
    u, v = position[start], position[start + 1]
    del position, start
    direction = ways.direction[way]
    forward, backward = direction >= 0, direction <= 0
    src = np.concatenate([u[forward], v[backward]])
    dst = np.concatenate([v[forward], u[backward]])
    edge_way = np.concatenate([way[forward], way[backward]])
    del u, v, way, direction, forward, backward
    # edges osmnx has per way (it drops consecutive duplicate nodes, our self-loops)
    real_edges = np.bincount(edge_way[src != dst], minlength=len(end))
    speed_kmh = _way_speeds_kmh(ways, travel, real_edges)
    length_m = np.empty(len(src))
    time_s = np.empty(len(src))
    for lo in range(0, len(src), _EDGE_BLOCK):
        block = slice(lo, lo + _EDGE_BLOCK)
        s, d = src[block], dst[block]
        length_m[block] = _great_circle_m(lat[s], lon[s], lat[d], lon[d])
        # osmnx's add_edge_travel_times: km / (km/s), the same operations for the same bits
        time_s[block] = (length_m[block] / 1000) / (speed_kmh[edge_way[block]] / (60 * 60))
    return node_id, lon, lat, src, dst, length_m, time_s


def network_from_file(path: str | Path, *, mode: str = "ebike", largest: bool = True) -> RoadNetwork:
    """The road network of ``mode`` from a local OSM file, built by streaming (no osmnx, no cache).

    ``.osm``/``.osm.xml``/``.xml``/``.osm.pbf``; see the module docstring for the pipeline.  The
    result equals ``network_from_graph(graph_from_file(path, mode=mode), mode=mode)``: same
    nodes (WGS-84 degrees, :func:`spatial_order`), edges, lengths (metres) and times (seconds).
    With ``largest`` only the largest strongly (car, truck) or connected (walk, e-bike) component
    is kept.  Raises ValueError when no way of the file is usable by the mode.
    """
    travel = _mode(mode)
    path = Path(path)
    osm_file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"road file not found: {path}")
    start = time.perf_counter()
    ways = _read_ways(path, travel)
    read_s = time.perf_counter() - start
    node_id, lon, lat, src, dst, length_m, time_s = _edges_from_ways(ways, travel, path.name)
    n_ways, n_refs = len(ways.end), len(ways.ref)
    del ways
    network = _build(node_id, lon, lat, src, dst, length_m, time_s, mode=travel.name,
                     source=str(path), leg_speed_kmh=travel.leg_speed_kmh, reorder=True)
    if largest:
        network = largest_component(network, strongly=not travel.two_way)
    logger.debug("%s: %d %s ways (%d way nodes) read in %.1f s; %d nodes, %d edges after %.1f s",
                 path.name, n_ways, mode, n_refs, read_s, network.n_nodes, network.n_edges,
                 time.perf_counter() - start)
    return network


# -- cache -----------------------------------------------------------------------------------------

def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_key(digest: str, mode: str, largest: bool) -> str:
    return f"{digest}|{mode}|{'largest' if largest else 'all'}|v{CACHE_FORMAT_VERSION}"


def _cache_path(cache_dir: Path, digest: str, mode: str, largest: bool) -> Path:
    part = "" if largest else "-all"
    return cache_dir / f"roads-{mode}{part}-{digest[:32]}-v{CACHE_FORMAT_VERSION}.npz"


def _save(network: RoadNetwork, path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(
                fh, key=np.array(key), mode=np.array(network.mode),
                leg_speed_kmh=np.array(network.leg_speed_kmh), node_id=network.node_id,
                lon=network.lon, lat=network.lat, indptr=network.length_m.indptr,
                indices=network.length_m.indices, length_m=network.length_m.data,
                time_s=network.time_s.data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path, key: str, source: str) -> RoadNetwork | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            n = len(z["node_id"])
            indptr, indices = z["indptr"], z["indices"]
            return RoadNetwork(
                node_id=z["node_id"], lon=z["lon"], lat=z["lat"],
                length_m=sp.csr_matrix((z["length_m"], indices, indptr), shape=(n, n)),
                time_s=sp.csr_matrix((z["time_s"], indices.copy(), indptr.copy()), shape=(n, n)),
                mode=str(z["mode"]), source=source, leg_speed_kmh=float(z["leg_speed_kmh"]))
    except (OSError, ValueError, KeyError) as exc:   # unreadable or stale: rebuild
        logger.warning("ignoring unreadable road cache %s: %s", path, exc)
        return None


def load_network(
    path: str | Path,
    *,
    mode: str = "ebike",
    cache_dir: str | Path | None = None,
    largest: bool = True,
) -> RoadNetwork:
    """The road network of ``mode`` from a local OSM file (``.osm``/``.osm.xml``/``.xml``/``.osm.pbf``).

    See the module docstring for the pipeline and :data:`MODES` for the way filters and speeds.
    With ``largest`` (default) only the largest strongly connected component (car, truck) or
    connected component (walk, e-bike) is kept, so snapped points can always reach the stations.
    With ``cache_dir`` the result is stored there as ``.npz`` (arrays only) under a key made of the
    SHA-256 of the file, the mode and :data:`CACHE_FORMAT_VERSION`, and later calls load it
    without reading the OSM file again.  Building never imports osmnx (:func:`network_from_file`).
    """
    path = Path(path)
    travel = _mode(mode)
    osm_file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"road file not found: {path}")
    cache_file = key = None
    if cache_dir is not None:
        digest = _file_sha256(path)
        key = _cache_key(digest, travel.name, largest)
        cache_file = _cache_path(Path(cache_dir), digest, travel.name, largest)
        if cache_file.is_file():
            cached = _load(cache_file, key, str(path))
            if cached is not None:
                logger.info("%s network of %s loaded from cache %s (%d nodes, %d edges)",
                            mode, path.name, cache_file.name, cached.n_nodes, cached.n_edges)
                return cached
    start = time.perf_counter()
    network = network_from_file(path, mode=mode, largest=largest)
    logger.info("%s network of %s built in %.1f s: %d nodes, %d edges",
                mode, path.name, time.perf_counter() - start, network.n_nodes, network.n_edges)
    if cache_file is not None and key is not None:
        _save(network, cache_file, key)
    return network
