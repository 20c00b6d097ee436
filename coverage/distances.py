"""Distance from each demand cell centre to the nearest suitable station: three metrics.

* ``great-circle``: exact sphere distance from the cell centre (cKDTree on unit vectors, the
  same index the rider page uses);
* ``grid``: H3 grid steps, by ONE multi-source breadth-first search over the hexagon grid from
  every station's cell at once, carrying the id of the station each wave came from; steps are
  turned into metres with the mean centre spacing of the resolution;
* ``network``: along roads from a local OpenStreetMap file (:mod:`yizhan.coverage.network`).

Each returns a :class:`Distances` aligned with the input cells.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import hexgrid

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("great-circle", "grid", "network")
#: Stop a grid search after this many rings or this many visited cells (then the cells not
#: reached are reported as beyond the search: distance inf, not covered).
GRID_MAX_STEPS = 3000
GRID_MAX_VISITED = 30_000_000


@dataclass(frozen=True)
class Distances:
    """Per-cell result: metres to the nearest station and its position in the station arrays
    (-1 and inf where no station is reachable).  ``grid_steps`` for the grid metric and
    ``time_s`` for the network metric, else None."""

    distance_m: np.ndarray
    station: np.ndarray
    grid_steps: np.ndarray | None = None
    time_s: np.ndarray | None = None


def station_tree(station_lon: np.ndarray, station_lat: np.ndarray) -> tuple[Any, np.ndarray]:
    """The KD-tree of the stations' unit vectors and the vectors (what :func:`great_circle` needs;
    built once and shared, e.g. with every Dask worker)."""
    from scipy.spatial import cKDTree

    from ..geodata.sphere import unit_vectors

    vec = unit_vectors(np.asarray(station_lon, float), np.asarray(station_lat, float))
    return cKDTree(vec), vec


def great_circle(cell_lon: np.ndarray, cell_lat: np.ndarray, station_lon: np.ndarray | None,
                 station_lat: np.ndarray | None, *, workers: int = -1,
                 tree: tuple[Any, np.ndarray] | None = None) -> Distances:
    """Great-circle metres from each cell centre to the nearest station (exact).

    ``tree`` is a prebuilt :func:`station_tree` (then the station arrays may be None).  A cell's
    result does not depend on the other cells measured with it."""
    from ..stations.nearest import nearest_bulk
    from ..geodata.sphere import chord_to_m

    n = len(cell_lon)
    if tree is None:
        tree = station_tree(station_lon, station_lat) if len(station_lon) else (None, np.empty((0, 3)))
    kd, vec = tree
    if len(vec) == 0 or n == 0:
        return Distances(np.full(n, np.inf), np.full(n, -1, dtype=np.int64))
    idx, chord = nearest_bulk(kd, vec, np.asarray(cell_lon, float), np.asarray(cell_lat, float), workers=workers)
    return Distances(chord_to_m(chord), idx)


def grid(cells: np.ndarray, station_lon: np.ndarray, station_lat: np.ndarray, res: int, *,
         max_steps: int = GRID_MAX_STEPS, max_visited: int = GRID_MAX_VISITED) -> Distances:
    """H3 grid distance (steps) from each cell to the nearest station's cell, by one
    multi-source breadth-first search; ``distance_m`` = steps x mean cell spacing.

    Ties (two stations the same number of steps away) go to the station listed first.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    n = len(cells)
    steps = np.full(n, -1, dtype=np.int64)
    station = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(station_lon) == 0:
        return Distances(np.full(n, np.inf), station, steps.astype(float))
    src = hexgrid.points_to_cells(station_lon, station_lat, res)
    # first station per source cell (ties -> lower station index)
    frontier, first = np.unique(src, return_index=True)
    labels = first.astype(np.int64)
    order = np.argsort(cells)
    sorted_cells = cells[order]
    previous = np.empty(0, dtype=np.uint64)
    remaining = n
    visited = len(frontier)
    for step in range(max_steps + 1):
        # record the demand cells this ring reaches
        pos = np.searchsorted(sorted_cells, frontier)
        pos_c = np.minimum(pos, n - 1)
        hit = sorted_cells[pos_c] == frontier
        if hit.any():
            # a frontier cell may equal several identical demand cells only if cells repeat;
            # demand cells are unique, so one position per hit
            targets = order[pos_c[hit]]
            fresh = steps[targets] < 0
            steps[targets[fresh]] = step
            station[targets[fresh]] = labels[hit][fresh]
            remaining -= int(fresh.sum())
        if remaining == 0 or step == max_steps or visited > max_visited:
            break
        nb, origin = hexgrid.neighbours(frontier)
        nb_labels = labels[origin]
        # Breadth-first on a grid: a neighbour of ring k lies in ring k-1, k or k+1, so the
        # new ring is the neighbours minus the two last rings (no global visited set needed).
        seen = np.concatenate([previous, frontier])
        seen.sort()
        pos = np.minimum(np.searchsorted(seen, nb), len(seen) - 1)
        new = seen[pos] != nb
        nb, nb_labels = nb[new], nb_labels[new]
        # several waves reach one cell in the same step: keep the lowest station index
        key = np.lexsort((nb_labels, nb))
        nb, nb_labels = nb[key], nb_labels[key]
        keep = np.ones(len(nb), dtype=bool)
        keep[1:] = nb[1:] != nb[:-1]
        previous, frontier, labels = frontier, nb[keep], nb_labels[keep]
        visited += len(frontier)
        if len(frontier) == 0:
            break
    if remaining:
        log.warning("grid search stopped after %d steps with %d demand cells not reached", step, remaining)
    spacing = hexgrid.spacing_m(res)
    dist = np.where(steps >= 0, steps * spacing, np.inf)
    return Distances(dist, station, np.where(steps >= 0, steps, np.nan))
