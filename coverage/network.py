"""Road-network distance and travel time from demand points to the nearest station.

Pure array code over a :class:`yizhan.geodata.roads.RoadNetwork` (no osmnx, no files).

A point joins the network at its nearest node (great-circle, via a KD-tree of unit vectors) by a
straight *leg*, walked at the network's ``leg_speed_kmh`` (4.5 km/h for ``walk``, 15 km/h for
``ebike``, 20 km/h for ``car``/``truck``; see :data:`yizhan.geodata.roads.MODES`).  The distance
from a target to the nearest station is::

    target leg + min over stations (network path target node -> station node + station leg)

computed by ONE multi-source Dijkstra (``scipy.sparse.csgraph.dijkstra(min_only=True)``) on the
reversed graph, from one virtual node per station joined to its snapped node by an edge weighing
the station's leg.  Reversing the graph gives paths *towards* the station, so one-way streets
are respected for ``car``/``truck``.  Everything is vectorised; no Python loop per node, target
or station.  Points outside the network's area are still snapped (the leg can be long).

Per-network helpers (KD-tree, reversed matrices) are built once and cached in a module-level
``WeakKeyDictionary`` keyed by the network object, so they go away with the network.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ..geodata.roads import RoadNetwork
from ..geodata.sphere import chord_to_m, unit_vectors

__all__ = [
    "NetworkResult",
    "snap",
    "multi_source_dijkstra",
    "nearest_on_network",
    "network_distance_and_time",
]

WEIGHTS = ("length", "time")

_prepared: weakref.WeakKeyDictionary[RoadNetwork, dict] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class NetworkResult:
    """Nearest station over the road network for each target point, aligned with the targets.

    ``station`` is the index into the station arrays of the nearest station (by the weight that
    was minimised: length for ``weight="length"`` and for :func:`network_distance_and_time`, time
    for ``weight="time"``), -1 where no station can be reached.  ``distance_m`` (metres, along the
    shortest path) and ``time_s`` (seconds, along the fastest path) are inf where unreachable and
    None when not computed.  ``fastest_station`` is the station reached fastest (only from
    :func:`network_distance_and_time`).  ``target_node``/``target_leg_m`` record the snapping.
    """

    station: np.ndarray
    distance_m: np.ndarray | None
    time_s: np.ndarray | None
    weight: str
    target_node: np.ndarray
    target_leg_m: np.ndarray
    fastest_station: np.ndarray | None = None


def _cache(network: RoadNetwork) -> dict:
    with _lock:
        entry = _prepared.get(network)
        if entry is None:
            entry = _prepared[network] = {}
        return entry


def _tree(network: RoadNetwork) -> cKDTree:
    entry = _cache(network)
    if "tree" not in entry:
        entry["tree"] = cKDTree(unit_vectors(network.lon, network.lat))
    return entry["tree"]


def _reversed(network: RoadNetwork, weight: str) -> sp.csr_matrix:
    """The network's matrix for ``weight``, transposed (row = to node), in CSR."""
    entry = _cache(network)
    key = f"reversed_{weight}"
    if key not in entry:
        matrix = network.length_m if weight == "length" else network.time_s
        # transpose keeps explicit zeros (zero-length edges are real edges)
        entry[key] = matrix.T.tocsr()
    return entry[key]


def _points(lon: ArrayLike, lat: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=np.float64),
                                       np.asarray(lat, dtype=np.float64))
    lon_a, lat_a = lon_a.ravel(), lat_a.ravel()
    bad = ~(np.isfinite(lon_a) & np.isfinite(lat_a))
    bad |= (np.abs(lat_a) > 90) | (np.abs(lon_a) > 180)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} {what} coordinate(s) are missing or outside "
                         f"lon -180..180 / lat -90..90 (first at position {int(np.argmax(bad))})")
    return lon_a, lat_a


def snap(network: RoadNetwork, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Nearest network node for each WGS-84 point: ``(node index, great-circle leg in metres)``.

    Node indices are positions in ``network.node_id``.  Raises ValueError for an empty network
    or non-finite coordinates.
    """
    if network.n_nodes == 0:
        raise ValueError("the road network has no nodes")
    lon_a, lat_a = _points(lon, lat, "point")
    if len(lon_a) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    chord, node = _tree(network).query(unit_vectors(lon_a, lat_a))
    return node.astype(np.int64), chord_to_m(chord)


def multi_source_dijkstra(
    network: RoadNetwork,
    source_node: ArrayLike,
    *,
    source_offset: ArrayLike | None = None,
    weight: str = "length",
) -> tuple[np.ndarray, np.ndarray]:
    """Cost from every node TO the nearest source: ``(cost per node, source index per node)``.

    ``source_node`` are node positions, ``source_offset`` an extra cost per source (metres for
    ``weight="length"``, seconds for ``"time"``; default 0), added at the source end.  The cost of
    node ``v`` is ``min over sources s (path v -> node_s + offset_s)``, following edge directions;
    the source index is the argmin (position in ``source_node``), -1 and inf where no source can
    be reached.  One ``scipy.sparse.csgraph.dijkstra(min_only=True)`` run on the reversed graph
    with a virtual node per source.
    """
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {WEIGHTS}, got {weight!r}")
    n = network.n_nodes
    nodes = np.asarray(source_node, dtype=np.int64).ravel()
    s = len(nodes)
    offsets = np.zeros(s) if source_offset is None else np.asarray(source_offset, dtype=np.float64).ravel()
    if len(offsets) != s:
        raise ValueError(f"source_offset has {len(offsets)} values for {s} sources")
    if s and (nodes.min() < 0 or nodes.max() >= n):
        raise ValueError(f"source nodes outside 0..{n - 1}")
    if not np.all(np.isfinite(offsets) & (offsets >= 0)):
        raise ValueError("source_offset must be finite and >= 0")
    if s == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    rev = _reversed(network, weight)
    # virtual node n + i has one edge: n + i -> nodes[i] weighing offsets[i] (explicit zeros are
    # kept by csgraph as zero-weight edges)
    index_dtype = np.int64 if rev.nnz + s >= 2**31 or n + s >= 2**31 else rev.indices.dtype
    indptr = np.concatenate([rev.indptr.astype(index_dtype),
                             rev.nnz + np.arange(1, s + 1, dtype=index_dtype)])
    indices = np.concatenate([rev.indices.astype(index_dtype, copy=False), nodes.astype(index_dtype)])
    data = np.concatenate([rev.data, offsets])
    graph = sp.csr_matrix((data, indices, indptr), shape=(n + s, n + s))
    dist, _, sources = dijkstra(graph, directed=True, indices=np.arange(n, n + s),
                                return_predecessors=True, min_only=True)
    dist = dist[:n]
    station = sources[:n].astype(np.int64) - n
    station[~np.isfinite(dist)] = -1
    return dist, station


def _nearest(network: RoadNetwork, station_node: np.ndarray, station_leg_m: np.ndarray,
             target_node: np.ndarray, target_leg_m: np.ndarray, weight: str,
             leg_speed_mps: float) -> tuple[np.ndarray, np.ndarray]:
    scale = 1.0 if weight == "length" else 1.0 / leg_speed_mps
    node_cost, node_station = multi_source_dijkstra(network, station_node,
                                                    source_offset=station_leg_m * scale,
                                                    weight=weight)
    cost = target_leg_m * scale + node_cost[target_node]
    station = node_station[target_node]
    return cost, station


def _prepare(network: RoadNetwork, station_lon: ArrayLike, station_lat: ArrayLike,
             target_lon: ArrayLike, target_lat: ArrayLike, leg_speed_kmh: float | None):
    s_lon, s_lat = _points(station_lon, station_lat, "station")
    t_lon, t_lat = _points(target_lon, target_lat, "target")
    if len(s_lon):
        s_node, s_leg = snap(network, s_lon, s_lat)
    else:
        s_node, s_leg = np.empty(0, dtype=np.int64), np.empty(0)
    if len(t_lon) and network.n_nodes:
        t_node, t_leg = snap(network, t_lon, t_lat)
    else:
        t_node, t_leg = np.zeros(len(t_lon), dtype=np.int64), np.full(len(t_lon), np.inf)
    speed = network.leg_speed_kmh if leg_speed_kmh is None else float(leg_speed_kmh)
    if not speed > 0:
        raise ValueError(f"leg_speed_kmh must be > 0, got {leg_speed_kmh}")
    return s_node, s_leg, t_node, t_leg, speed / 3.6


def _unreachable(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)


def nearest_on_network(
    network: RoadNetwork,
    station_lon: ArrayLike,
    station_lat: ArrayLike,
    target_lon: ArrayLike,
    target_lat: ArrayLike,
    *,
    weight: str = "length",
    leg_speed_kmh: float | None = None,
) -> NetworkResult:
    """Nearest station over the road network for each target (WGS-84 lon/lat in degrees).

    ``weight="length"`` fills ``distance_m`` (metres: target leg + shortest path + station leg);
    ``weight="time"`` fills ``time_s`` (seconds: legs at ``leg_speed_kmh``, default the network's,
    plus the fastest path).  One multi-source Dijkstra (see the module docstring).  With no
    stations, or none reachable, the value is inf and ``station`` -1.
    """
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {WEIGHTS}, got {weight!r}")
    s_node, s_leg, t_node, t_leg, leg_mps = _prepare(network, station_lon, station_lat,
                                                     target_lon, target_lat, leg_speed_kmh)
    if len(s_node) == 0 or len(t_node) == 0:
        cost, station = _unreachable(len(t_node))
    else:
        cost, station = _nearest(network, s_node, s_leg, t_node, t_leg, weight, leg_mps)
    return NetworkResult(station=station, distance_m=cost if weight == "length" else None,
                         time_s=cost if weight == "time" else None, weight=weight,
                         target_node=t_node, target_leg_m=t_leg)


def network_distance_and_time(
    network: RoadNetwork,
    station_lon: ArrayLike,
    station_lat: ArrayLike,
    target_lon: ArrayLike,
    target_lat: ArrayLike,
    *,
    leg_speed_kmh: float | None = None,
) -> NetworkResult:
    """Both network metrics for each target: shortest distance and fastest time to a station.

    Two Dijkstra runs: ``distance_m`` is the length of the shortest path to the nearest station
    (``station``), ``time_s`` the travel time of the fastest path to the quickest station
    (``fastest_station``) — the two can differ (a detour on a fast road).  Snapping is done once.
    """
    s_node, s_leg, t_node, t_leg, leg_mps = _prepare(network, station_lon, station_lat,
                                                     target_lon, target_lat, leg_speed_kmh)
    if len(s_node) == 0 or len(t_node) == 0:
        distance, station = _unreachable(len(t_node))
        duration, fastest = _unreachable(len(t_node))
    else:
        distance, station = _nearest(network, s_node, s_leg, t_node, t_leg, "length", leg_mps)
        duration, fastest = _nearest(network, s_node, s_leg, t_node, t_leg, "time", leg_mps)
    return NetworkResult(station=station, distance_m=distance, time_s=duration, weight="both",
                         target_node=t_node, target_leg_m=t_leg, fastest_station=fastest)
