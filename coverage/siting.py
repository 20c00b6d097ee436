"""Where should a district union put its next rest stations?  Maximal covering and set covering.

Demand rows (H3 cells with their demand weights, from :mod:`yizhan.coverage.demand`) and candidate
sites (OSM POIs or a user list, :mod:`yizhan.coverage.candidates`) meet in a sparse 0/1 *coverage
matrix* ``A`` (demand x candidates, 1 where the candidate is within the threshold of the demand
cell) built by one of three metrics, each without a dense demand x candidate array:

* :func:`coverage_matrix`: great-circle metres (cKDTree on unit vectors);
* :func:`grid_coverage_matrix`: H3 grid steps (``grid_disk`` of the candidate cells, sorted join);
* :func:`network_coverage_matrix`: road metres (Dijkstra from the candidate nodes, cut at the
  threshold, on the reversed graph; straight legs as in :mod:`yizhan.coverage.network`).

Two models, each with a fast greedy and an exact solver, return a frozen :class:`SitingResult`:

* :func:`mclp` — maximal covering location problem: choose ``k`` new sites that cover the most
  demand not already covered by existing stations (``covered``);
* :func:`lscp` — (partial) location set covering: the fewest new sites that bring the covered
  share (existing + new) to ``target_share``.

Greedy is lazy greedy (CELF) over the columns of ``A``: coverage is monotone submodular, so the
greedy value is at least ``1 - 1/e`` of the optimum and a stale gain is an upper bound.  Exact is
``scipy.optimize.milp`` (HiGHS) on the sparse formulation (see :func:`mclp`).

>>> A = coverage_matrix(cells.lon, cells.lat, cand.lon, cand.lat, 1000)      # doctest: +SKIP
>>> res = mclp(cells.demand, A, 10, covered=cells.covered.to_numpy(), solver="exact")
>>> res.to_frame(cand)                       # rank, candidate, lon, lat, name, host, gain, ...
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike

log = logging.getLogger(__name__)

__all__ = [
    "SitingResult",
    "coverage_matrix",
    "grid_coverage_matrix",
    "grid_steps_for",
    "network_coverage_matrix",
    "mclp",
    "lscp",
    "marginal_curve",
    "exact_curve",
    "credit_sites",
]

SOLVERS: tuple[str, ...] = ("greedy", "exact")
_MILP_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "error"}


# -- results ------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SitingResult:
    """A siting answer (frozen: everything is there when the solver returns).

    ``selected`` are candidate positions (columns of the coverage matrix) in pick order and
    ``gains`` the demand each newly covers (same order; for the exact solver the chosen set is
    ordered greedily within itself, so the curve is meaningful).  Every pick has a positive gain:
    fewer than ``k`` sites come back when the other candidates would add nothing.
    ``covered_before``/``covered_after``/``total_demand`` are demand (the weights' unit).
    ``objective`` is the newly covered demand (MCLP) or the number of sites (LSCP; NaN when the
    target cannot be reached).  ``status`` is ``optimal`` (greedy: ``done``), ``time_limit``,
    ``infeasible`` or ``error``; ``gap`` the relative optimality gap (exact only, else None);
    ``time_s`` wall seconds; ``message`` a bilingual note for infeasible or limited runs.
    """

    problem: str
    selected: np.ndarray
    gains: np.ndarray
    covered_before: float
    covered_after: float
    total_demand: float
    objective: float
    solver: str
    status: str
    gap: float | None
    time_s: float
    message: str = ""

    @property
    def n_selected(self) -> int:
        """Number of new sites."""
        return int(len(self.selected))

    @property
    def share_before(self) -> float:
        """Covered share of demand before the new sites (0-1; NaN without demand)."""
        return self.covered_before / self.total_demand if self.total_demand > 0 else float("nan")

    @property
    def share_after(self) -> float:
        """Covered share of demand with the new sites (0-1; NaN without demand)."""
        return self.covered_after / self.total_demand if self.total_demand > 0 else float("nan")

    def to_frame(self, candidates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Ranked table of the new sites.

        Columns: rank (1 = first pick), candidate (position in the candidate table / matrix
        column), lon, lat, name, host (from ``candidates`` when it has them, else None), gain
        (newly covered demand), covered (cumulative covered demand, existing included) and share
        (cumulative covered share, 0-1).
        """
        sel = np.asarray(self.selected, dtype=np.int64)
        gains = np.asarray(self.gains, dtype=float)
        out = pd.DataFrame({"rank": np.arange(1, len(sel) + 1, dtype=np.int64), "candidate": sel})
        for column in ("lon", "lat", "name", "host"):
            if candidates is not None and column in candidates.columns:
                out[column] = candidates[column].to_numpy()[sel]
            else:
                out[column] = np.full(len(sel), None, dtype=object)
        cumulative = self.covered_before + np.cumsum(gains)
        out["gain"] = gains
        out["covered"] = cumulative
        out["share"] = cumulative / self.total_demand if self.total_demand > 0 else np.nan
        return out


# -- coverage matrices --------------------------------------------------------------------------

def _lonlat(lon: ArrayLike, lat: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    lon_a = np.asarray(lon, dtype=np.float64).ravel()
    lat_a = np.asarray(lat, dtype=np.float64).ravel()
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"{what}: lon and lat lengths differ ({len(lon_a)}, {len(lat_a)})")
    bad = ~(np.isfinite(lon_a) & np.isfinite(lat_a)) | (np.abs(lon_a) > 180) | (np.abs(lat_a) > 90)
    if bad.any():
        raise ValueError(f"坐标缺失或超出范围 / {int(bad.sum())} {what} coordinate(s) missing or outside "
                         f"lon ±180, lat ±90 (first at position {int(np.argmax(bad))})")
    return lon_a, lat_a


def _positive_threshold(threshold_m: float) -> float:
    value = float(threshold_m)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"阈值应为非负米数 / threshold must be a finite number of metres >= 0, got {threshold_m!r}")
    return value


def _from_pairs(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """0/1 int8 CSR matrix with sorted indices from (row, column) pairs (duplicates collapse)."""
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def coverage_matrix(demand_lon: ArrayLike, demand_lat: ArrayLike, cand_lon: ArrayLike, cand_lat: ArrayLike,
                    threshold_m: float) -> sp.csr_matrix:
    """Great-circle coverage: ``A[i, j] = 1`` when candidate ``j`` is within ``threshold_m`` metres
    of demand point ``i`` (WGS-84 lon/lat in degrees).

    A ``(n_demand, n_candidates)`` int8 CSR matrix, built from the pairs within the threshold
    that a cKDTree of unit vectors finds (``sparse_distance_matrix``); chords are turned into
    exact great-circle metres before the comparison.
    """
    from scipy.spatial import cKDTree

    from ..geodata.sphere import chord_to_m, m_to_chord, unit_vectors

    d_lon, d_lat = _lonlat(demand_lon, demand_lat, "demand")
    c_lon, c_lat = _lonlat(cand_lon, cand_lat, "candidate")
    threshold = _positive_threshold(threshold_m)
    shape = (len(d_lon), len(c_lon))
    if shape[0] == 0 or shape[1] == 0:
        return sp.csr_matrix(shape, dtype=np.int8)
    chord = m_to_chord(threshold)
    demand_tree = cKDTree(unit_vectors(d_lon, d_lat))
    cand_tree = cKDTree(unit_vectors(c_lon, c_lat))
    # a hair wider than the threshold, then the exact test on metres
    pairs = demand_tree.sparse_distance_matrix(cand_tree, chord * (1 + 1e-9) + 1e-15, output_type="ndarray")
    keep = chord_to_m(pairs["v"]) <= threshold
    return _from_pairs(pairs["i"][keep].astype(np.int64), pairs["j"][keep].astype(np.int64), shape)


def _cells(cells: ArrayLike) -> np.ndarray:
    arr = np.asarray(cells)
    if arr.dtype.kind in "OUS":
        from .hexgrid import str_to_cells

        return str_to_cells(arr)
    return arr.astype(np.uint64)


def grid_steps_for(threshold_m: float, res: int) -> int:
    """Largest number of H3 grid steps within ``threshold_m`` metres at ``res`` (the grid metric of
    :mod:`yizhan.coverage.distances`: steps x mean cell spacing <= threshold)."""
    from .hexgrid import check_res, spacing_m

    return int(np.floor(_positive_threshold(threshold_m) / spacing_m(check_res(res)) + 1e-9))


def _expand(keys: np.ndarray, sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ``(position in keys, position in sorted_values)`` pairs with equal values."""
    lo = np.searchsorted(sorted_values, keys, side="left")
    hi = np.searchsorted(sorted_values, keys, side="right")
    count = hi - lo
    key_pos = np.repeat(np.arange(len(keys)), count)
    offset = np.arange(len(key_pos)) - np.repeat(np.cumsum(count) - count, count)
    return key_pos, np.repeat(lo, count) + offset


def grid_coverage_matrix(demand_cells: ArrayLike, cand_cells: ArrayLike, k_steps: int) -> sp.csr_matrix:
    """H3 grid coverage: ``A[i, j] = 1`` when demand cell ``i`` lies within ``k_steps`` grid steps of
    candidate cell ``j`` (uint64 cells or hex strings, all at one resolution).

    ``grid_disk(k_steps)`` of every candidate cell, then a sorted search of the disk cells among
    the demand cells.  Use :func:`grid_steps_for` to turn a threshold in metres into steps.
    """
    import pyarrow as pa
    from h3ronpy import grid_disk

    from .hexgrid import cell_resolution

    demand = _cells(demand_cells)
    cands = _cells(cand_cells)
    k = int(k_steps)
    if k < 0:
        raise ValueError(f"k_steps must be >= 0, got {k_steps!r}")
    shape = (len(demand), len(cands))
    if shape[0] == 0 or shape[1] == 0:
        return sp.csr_matrix(shape, dtype=np.int8)
    res = np.unique(np.concatenate([cell_resolution(demand), cell_resolution(cands)]))
    if len(res) != 1:
        raise ValueError(f"需求网格与候选点网格分辨率不一致 / demand and candidate cells mix resolutions {res.tolist()}")
    unique_cands, inverse = np.unique(cands, return_inverse=True)
    disks = pa.array(grid_disk(pa.array(unique_cands), k))
    offsets = disks.offsets.to_numpy()
    values = disks.values.to_numpy(zero_copy_only=False).astype(np.uint64)
    origin = np.repeat(np.arange(len(unique_cands)), np.diff(offsets))
    order = np.argsort(demand, kind="stable")
    hit, pos = _expand(values, demand[order])
    rows, ucols = order[pos], origin[hit]
    # back from unique candidate cells to candidate positions (several candidates may share a cell)
    by_cell = np.argsort(inverse, kind="stable")
    pair, member = _expand(ucols, inverse[by_cell])
    return _from_pairs(rows[pair], by_cell[member], shape)


def network_coverage_matrix(network: Any, demand_lon: ArrayLike, demand_lat: ArrayLike, cand_lon: ArrayLike,
                            cand_lat: ArrayLike, threshold_m: float, *,
                            max_block_bytes: int = 64 * 2**20) -> sp.csr_matrix:
    """Road-network coverage over a :class:`yizhan.geodata.roads.RoadNetwork`: ``A[i, j] = 1`` when
    demand leg + shortest path (demand node -> candidate node) + candidate leg <= ``threshold_m``.

    Points snap to their nearest node with a straight leg, as in :mod:`yizhan.coverage.network`.
    Dijkstra runs from the candidate nodes on the reversed graph (paths *towards* the candidate,
    so one-way streets count) with ``limit=threshold``, in blocks of candidate nodes whose
    ``block x nodes`` distance array stays under ``max_block_bytes``.
    """
    try:
        from . import network as net
    except ImportError as exc:  # pragma: no cover - the module ships with yizhan
        raise NotImplementedError("道路网络覆盖需要 yizhan.coverage.network 模块 / the network metric needs "
                                  "yizhan.coverage.network, which is not available") from exc
    from scipy.sparse.csgraph import dijkstra

    d_lon, d_lat = _lonlat(demand_lon, demand_lat, "demand")
    c_lon, c_lat = _lonlat(cand_lon, cand_lat, "candidate")
    threshold = _positive_threshold(threshold_m)
    shape = (len(d_lon), len(c_lon))
    if shape[0] == 0 or shape[1] == 0 or network.n_nodes == 0:
        return sp.csr_matrix(shape, dtype=np.int8)
    d_node, d_leg = net.snap(network, d_lon, d_lat)
    c_node, c_leg = net.snap(network, c_lon, c_lat)
    useful_d = np.flatnonzero(d_leg <= threshold)
    useful_c = np.flatnonzero(c_leg <= threshold)
    if len(useful_d) == 0 or len(useful_c) == 0:
        return sp.csr_matrix(shape, dtype=np.int8)
    d_nodes, d_inv = np.unique(d_node[useful_d], return_inverse=True)
    c_nodes, c_inv = np.unique(c_node[useful_c], return_inverse=True)
    d_by_node = np.argsort(d_inv, kind="stable")
    c_by_node = np.argsort(c_inv, kind="stable")
    min_leg = np.full(len(c_nodes), np.inf)
    np.minimum.at(min_leg, c_inv, c_leg[useful_c])
    reverse = network.length_m.T.tocsr()        # keeps explicit zeros: zero-length edges are edges
    block = max(1, int(max_block_bytes // (8 * network.n_nodes)))
    rows_out, cols_out = [], []
    for start in range(0, len(c_nodes), block):
        stop = min(start + block, len(c_nodes))
        limit = threshold - float(min_leg[start:stop].min())
        dist = dijkstra(reverse, directed=True, indices=c_nodes[start:stop], limit=limit)
        sub = dist[:, d_nodes]                  # candidate node x demand node path metres
        a, b = np.nonzero(sub <= limit)
        path = sub[a, b]
        # expand node pairs to candidate x demand pairs, then add both legs
        pair_c, member_c = _expand(a + start, c_inv[c_by_node])
        cand = useful_c[c_by_node[member_c]]
        pair_d, member_d = _expand(b[pair_c], d_inv[d_by_node])
        dem = useful_d[d_by_node[member_d]]
        cand = cand[pair_d]
        total = d_leg[dem] + path[pair_c][pair_d] + c_leg[cand]
        ok = total <= threshold
        rows_out.append(dem[ok])
        cols_out.append(cand[ok])
    return _from_pairs(np.concatenate(rows_out), np.concatenate(cols_out), shape)


# -- problem preparation ------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Problem:
    weights: np.ndarray          # demand weights, 0 where already covered
    csc: sp.csc_matrix           # 0/1 coverage, column access
    csr: sp.csr_matrix           # 0/1 coverage, row access
    total: float
    before: float
    covered: np.ndarray


def _prepare(weights: ArrayLike, A: Any, covered: ArrayLike | None) -> _Problem:
    w = np.asarray(weights, dtype=np.float64).ravel()
    if not sp.issparse(A):
        raise TypeError("A must be a scipy.sparse matrix (use coverage_matrix); dense arrays are not accepted")
    n, m = A.shape
    if len(w) != n:
        raise ValueError(f"weights has {len(w)} values for {n} demand rows of A")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("需求权重应为非负有限数 / demand weights must be finite and >= 0")
    if covered is None:
        cov = np.zeros(n, dtype=bool)
    else:
        cov = np.asarray(covered).ravel()
        if cov.dtype != bool:
            if not np.isin(cov, (0, 1)).all():
                raise ValueError("covered must be a boolean array")
            cov = cov.astype(bool)
        if len(cov) != n:
            raise ValueError(f"covered has {len(cov)} values for {n} demand rows of A")
    csr = sp.csr_matrix(A, copy=True)
    csr.eliminate_zeros()
    csr.sum_duplicates()
    csr.data = np.ones(len(csr.data), dtype=np.int8)
    csr.sort_indices()
    csc = csr.tocsc()
    csc.sort_indices()
    total = float(w.sum())
    before = float(w[cov].sum())
    return _Problem(np.where(cov, 0.0, w), csc, csr, total, before, cov)


def _greedy(weights: np.ndarray, csc: sp.csc_matrix, *, k: int, need: float | None = None,
            tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Lazy greedy (CELF) over the columns of ``csc``: ``(selected, gains)``.

    Stops after ``k`` picks, when no column adds anything, or (``need``) once the newly covered
    demand reaches ``need - tol``.  Ties go to the lower column.
    """
    w = weights.copy()
    indptr, indices = csc.indptr, csc.indices
    m = csc.shape[1]
    col = np.repeat(np.arange(m), np.diff(indptr))
    upper = np.bincount(col, weights=w[indices], minlength=m)
    heap = [(-g, j) for j, g in enumerate(upper.tolist()) if g > 0]
    heapq.heapify(heap)
    fresh_at = np.zeros(m, dtype=np.int64)
    selected: list[int] = []
    gains: list[float] = []
    done = 0.0
    while heap and len(selected) < k:
        neg, j = heap[0]
        if fresh_at[j] == len(selected):
            heapq.heappop(heap)
            rows = indices[indptr[j]:indptr[j + 1]]
            selected.append(j)
            gains.append(-neg)
            w[rows] = 0.0
            done += -neg
            if need is not None and done >= need - tol:
                break
            continue
        gain = float(w[indices[indptr[j]:indptr[j + 1]]].sum())
        fresh_at[j] = len(selected)
        if gain > 0:
            heapq.heapreplace(heap, (-gain, j))
        else:
            heapq.heappop(heap)
    return np.asarray(selected, dtype=np.int64), np.asarray(gains, dtype=float)


def _order_greedily(problem: _Problem, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The chosen columns in greedy order within the set (zero-gain ones dropped) and their gains."""
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        return chosen, np.empty(0)
    order, gains = _greedy(problem.weights, problem.csc[:, chosen], k=len(chosen))
    return chosen[order], gains


def _merge_rows(matrix: sp.csr_matrix, weights: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows with the same candidate set merged into one (weights summed); first-seen order."""
    groups: dict[bytes, int] = {}
    group_of = np.empty(matrix.shape[0], dtype=np.int64)
    first: list[int] = []
    indptr, indices = matrix.indptr, matrix.indices
    for i in range(matrix.shape[0]):
        key = indices[indptr[i]:indptr[i + 1]].tobytes()
        g = groups.get(key)
        if g is None:
            g = groups[key] = len(first)
            first.append(i)
        group_of[i] = g
    merged = matrix[np.asarray(first, dtype=np.int64)]
    return sp.csr_matrix(merged), np.bincount(group_of, weights=weights, minlength=len(first))


def _reduce(problem: _Problem) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The MILP's rows and columns, without changing the optimum of either model.

    Rows: demand still to cover that some candidate reaches, rows with the same candidate set
    merged (weights summed).  Columns: candidates that reach any such row and are not dominated
    (a candidate whose rows are a subset of another's can always be swapped for it; of equal
    candidates the first is kept).  Returns ``(A_reduced, row weights, kept column positions)``.
    """
    csr, w = problem.csr, problem.weights
    rows = np.flatnonzero((w > 0) & (np.diff(csr.indptr) > 0))
    reduced, row_w = _merge_rows(sp.csr_matrix(csr[rows]), w[rows])
    cols = np.flatnonzero(np.diff(reduced.tocsc().indptr) > 0)
    reduced = sp.csr_matrix(reduced[:, cols])
    as_int = reduced.astype(np.int32)
    overlap = (as_int.T @ as_int).tocoo()
    size = np.diff(reduced.tocsc().indptr)
    a, b = overlap.row, overlap.col
    dominated = (a != b) & (overlap.data == size[a]) & ((size[b] > size[a]) | ((size[b] == size[a]) & (b < a)))
    keep = np.setdiff1d(np.arange(len(cols)), a[dominated])
    if len(keep) < len(cols):
        reduced, row_w = _merge_rows(sp.csr_matrix(reduced[:, keep]), row_w)
        cols = cols[keep]
    return reduced, row_w, cols


def _milp(c: np.ndarray, integrality: np.ndarray, constraints: list, time_limit_s: float,
          mip_rel_gap: float) -> Any:
    from scipy.optimize import Bounds, milp

    return milp(c, integrality=integrality, bounds=Bounds(0, 1), constraints=constraints,
                options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap),
                         "presolve": True, "disp": False})


def _covered_by(problem: _Problem, selected: np.ndarray) -> float:
    if len(selected) == 0:
        return 0.0
    hit = np.asarray(problem.csc[:, selected].sum(axis=1)).ravel() > 0
    return float(problem.weights[hit].sum())


def _check_solver(solver: str) -> str:
    if solver not in SOLVERS:
        raise ValueError(f"未知求解器 {solver!r} / unknown solver {solver!r}; expected one of {SOLVERS}")
    return solver


# -- maximal covering ----------------------------------------------------------------------------

def mclp(weights: ArrayLike, A: Any, k: int, *, covered: ArrayLike | None = None, solver: str = "greedy",
         time_limit_s: float = 60.0, mip_rel_gap: float = 0.0) -> SitingResult:
    """Maximal covering: at most ``k`` new sites (columns of ``A``) covering the most new demand.

    ``weights`` are the demand of each row of ``A`` (>= 0); ``covered`` marks the rows already
    covered by existing stations: they count in ``covered_before`` and add nothing new.

    ``solver="greedy"``: lazy greedy (CELF), O(nnz log m), within ``1 - 1/e`` of the optimum
    (usually within a percent or two).  ``solver="exact"``: HiGHS MILP through
    ``scipy.optimize.milp`` with binary ``x_j`` (open candidate j) and ``y_i`` in [0, 1] (row i
    covered) for the rows still uncovered that some candidate reaches, rows with identical
    candidate sets merged::

        max sum_i w_i y_i   s.t.   y_i - sum_j a_ij x_j <= 0,   sum_j x_j <= k.

    ``y`` need not be integer: for any binary ``x`` the best ``y_i`` is ``min(1, sum_j a_ij x_j)``,
    which is 0 or 1, so the relaxation in ``y`` has the same optimum and only ``x`` is branched on.
    ``time_limit_s`` and ``mip_rel_gap`` go to HiGHS; ``gap`` is (dual bound - objective) /
    objective.  When the time limit stops the search, the better of HiGHS's incumbent and the
    greedy answer is returned with status ``time_limit``.
    """
    _check_solver(solver)
    k = int(k)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    start = time.perf_counter()
    problem = _prepare(weights, A, covered)
    k = min(k, problem.csc.shape[1])
    greedy_sel, greedy_gains = _greedy(problem.weights, problem.csc, k=k)
    if solver == "greedy":
        gain = float(greedy_gains.sum())
        return SitingResult("mclp", greedy_sel, greedy_gains, problem.before, problem.before + gain,
                            problem.total, gain, "greedy", "done", None, time.perf_counter() - start)

    reduced, row_w, cols = _reduce(problem)
    status, gap, message = "optimal", 0.0, ""
    chosen, bound = greedy_sel, np.nan
    if len(cols) > k > 0:
        from scipy.optimize import LinearConstraint

        r, m = reduced.shape
        link = sp.hstack([-reduced.astype(np.float64), sp.identity(r, format="csr")], format="csr")
        count = sp.csr_matrix(np.concatenate([np.ones(m), np.zeros(r)])[None, :])
        c = np.concatenate([np.zeros(m), -row_w])
        integrality = np.concatenate([np.ones(m), np.zeros(r)])
        res = _milp(c, integrality, [LinearConstraint(link, -np.inf, 0.0), LinearConstraint(count, 0, k)],
                    time_limit_s, mip_rel_gap)
        status = _MILP_STATUS.get(res.status, "error")
        if res.x is not None:
            exact_sel = cols[np.flatnonzero(res.x[:m] > 0.5)]
            if _covered_by(problem, exact_sel) >= float(greedy_gains.sum()) - 1e-9 * max(problem.total, 1.0):
                chosen = exact_sel
        bound = -float(res.mip_dual_bound) if getattr(res, "mip_dual_bound", None) is not None else np.nan
        if status != "optimal":
            message = f"HiGHS: {res.message}"
            log.warning("exact MCLP stopped early (%s): %s", status, res.message)
    elif k > 0:
        # every useful candidate fits in k: taking them all is optimal
        chosen = cols
    selected, gains = _order_greedily(problem, chosen)
    objective = float(gains.sum())
    if np.isfinite(bound):
        gap = max(0.0, bound - objective) / objective if objective > 0 else (0.0 if bound <= 0 else np.inf)
    elif status == "optimal":
        gap = 0.0
    else:
        gap = None
    return SitingResult("mclp", selected, gains, problem.before, problem.before + objective, problem.total,
                        objective, "exact", status, gap, time.perf_counter() - start, message)


# -- (partial) set covering ----------------------------------------------------------------------

def lscp(weights: ArrayLike, A: Any, target_share: float, *, covered: ArrayLike | None = None,
         solver: str = "greedy", time_limit_s: float = 60.0, mip_rel_gap: float = 0.0) -> SitingResult:
    """Fewest new sites so that the covered share of demand (existing + new) reaches ``target_share``
    (0-1 of the total demand, already covered rows included).

    Greedy adds the best site until the target is reached.  Exact solves the partial set
    covering MILP ``min sum_j x_j  s.t.  sum_i w_i y_i >= target * total - already_covered,
    y_i - sum_j a_ij x_j <= 0``, ``x`` binary and ``y`` in [0, 1] (for binary ``x`` a fractional
    ``y`` can only help on rows that are covered anyway, so the feasible site sets are the same),
    with the greedy count as an upper bound.  When even all candidates together fall short, the
    result has status ``infeasible``, objective NaN, the greedy sites reaching the most that can be
    covered, and a bilingual ``message`` naming the reachable share.
    """
    _check_solver(solver)
    target = float(target_share)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"目标覆盖率应在 0 到 1 之间 / target_share must be within 0..1, got {target_share!r}")
    start = time.perf_counter()
    problem = _prepare(weights, A, covered)
    m = problem.csc.shape[1]
    tol = 1e-9 * max(problem.total, 1.0)
    need = target * problem.total - problem.before
    if need <= tol:
        return SitingResult("lscp", np.empty(0, dtype=np.int64), np.empty(0), problem.before, problem.before,
                            problem.total, 0.0, solver, "optimal" if solver == "exact" else "done",
                            0.0 if solver == "exact" else None, time.perf_counter() - start)
    greedy_sel, greedy_gains = _greedy(problem.weights, problem.csc, k=m, need=need, tol=tol)
    reached = float(greedy_gains.sum())
    if reached < need - tol:
        share = (problem.before + reached) / problem.total
        msg = (f"目标覆盖率 {target:.1%} 无法达到：全部候选点加上现有站点最多覆盖 {share:.1%} / target share "
               f"{target:.1%} is unreachable: all candidates together with the existing stations cover at most "
               f"{share:.1%}")
        log.info(msg)
        return SitingResult("lscp", greedy_sel, greedy_gains, problem.before, problem.before + reached,
                            problem.total, float("nan"), solver, "infeasible", None,
                            time.perf_counter() - start, msg)
    if solver == "greedy":
        return SitingResult("lscp", greedy_sel, greedy_gains, problem.before, problem.before + reached,
                            problem.total, float(len(greedy_sel)), "greedy", "done", None,
                            time.perf_counter() - start)

    from scipy.optimize import LinearConstraint

    reduced, row_w, cols = _reduce(problem)
    r, mm = reduced.shape
    link = sp.hstack([-reduced.astype(np.float64), sp.identity(r, format="csr")], format="csr")
    demand_row = sp.csr_matrix(np.concatenate([np.zeros(mm), row_w])[None, :])
    count_row = sp.csr_matrix(np.concatenate([np.ones(mm), np.zeros(r)])[None, :])
    c = np.concatenate([np.ones(mm), np.zeros(r)])
    integrality = np.concatenate([np.ones(mm), np.zeros(r)])
    res = _milp(c, integrality,
                [LinearConstraint(link, -np.inf, 0.0), LinearConstraint(demand_row, need - tol, np.inf),
                 LinearConstraint(count_row, 0, len(greedy_sel))], time_limit_s, mip_rel_gap)
    status = _MILP_STATUS.get(res.status, "error")
    chosen, message = greedy_sel, ""
    if res.x is not None:
        exact_sel = cols[np.flatnonzero(res.x[:mm] > 0.5)]
        if len(exact_sel) < len(greedy_sel) and _covered_by(problem, exact_sel) >= need - tol:
            chosen = exact_sel
    if status != "optimal":
        message = f"HiGHS: {res.message}"
        log.warning("exact LSCP stopped early (%s): %s", status, res.message)
    selected, gains = _order_greedily(problem, chosen)
    count = float(len(selected))
    bound = float(np.ceil(res.mip_dual_bound - 1e-6)) if getattr(res, "mip_dual_bound", None) is not None \
        and np.isfinite(res.mip_dual_bound) else np.nan
    gap = max(0.0, count - bound) / count if np.isfinite(bound) and count > 0 else (0.0 if status == "optimal" else None)
    return SitingResult("lscp", selected, gains, problem.before, problem.before + float(gains.sum()),
                        problem.total, count, "exact", status, gap, time.perf_counter() - start, message)


# -- curves and impact ---------------------------------------------------------------------------

def marginal_curve(weights: ArrayLike, A: Any, K: int, *, covered: ArrayLike | None = None) -> pd.DataFrame:
    """Greedy curve for k = 1..K new sites (nested: site k is added to the first k - 1).

    Columns: k, candidate, gain (demand newly covered by site k), new_covered (cumulative),
    covered (with the existing stations) and share (covered / total, 0-1).  Stops early when no
    candidate adds anything.
    """
    res = mclp(weights, A, K, covered=covered, solver="greedy")
    new = np.cumsum(res.gains)
    return pd.DataFrame({
        "k": np.arange(1, res.n_selected + 1, dtype=np.int64), "candidate": res.selected, "gain": res.gains,
        "new_covered": new, "covered": res.covered_before + new,
        "share": (res.covered_before + new) / res.total_demand if res.total_demand > 0 else np.nan,
    })


def exact_curve(weights: ArrayLike, A: Any, K: int, *, covered: ArrayLike | None = None,
                time_limit_s: float = 60.0, mip_rel_gap: float = 0.0) -> pd.DataFrame:
    """Exact MCLP for each k = 1..K (solutions need not be nested), beside the greedy curve.

    Columns: k, new_covered, share, status, gap, greedy_new_covered, greedy_ratio (greedy / exact).
    """
    greedy = marginal_curve(weights, A, K, covered=covered)
    greedy_new = np.zeros(int(K))
    if len(greedy):
        greedy_new[: len(greedy)] = greedy["new_covered"].to_numpy()
        greedy_new[len(greedy):] = greedy_new[len(greedy) - 1]
    rows = []
    for k in range(1, int(K) + 1):
        res = mclp(weights, A, k, covered=covered, solver="exact", time_limit_s=time_limit_s,
                   mip_rel_gap=mip_rel_gap)
        rows.append({"k": k, "new_covered": res.objective, "share": res.share_after, "status": res.status,
                     "gap": res.gap, "greedy_new_covered": greedy_new[k - 1],
                     "greedy_ratio": greedy_new[k - 1] / res.objective if res.objective > 0 else 1.0})
    return pd.DataFrame(rows)


def credit_sites(cells: pd.DataFrame, covered: ArrayLike | None, A: Any, selected: ArrayLike) -> pd.DataFrame:
    """Which demand rows the new sites cover, aligned with ``cells`` (its index kept).

    ``cells`` are the demand rows of ``A`` (e.g. the ``cells`` frame of a coverage result; only its
    length and index are used); ``covered`` the rows already covered (default ``cells["covered"]``
    when present).  Columns: covered_before, covered_after, newly_covered (bool), site (the
    candidate credited: the first of ``selected`` that covers the row, -1 if none) and rank
    (1-based pick rank of that site, 0 if none).  The caller joins these to 空白点, 盲区 or
    districts; ``cells.loc[out.newly_covered, "demand"].sum()`` is the newly covered demand.
    """
    n = len(cells)
    if covered is None:
        covered = cells["covered"].to_numpy(dtype=bool) if "covered" in cells.columns else np.zeros(n, dtype=bool)
    problem = _prepare(np.ones(n), A, covered)
    now = problem.covered.copy()
    site = np.full(n, -1, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    csc = problem.csc
    for r, j in enumerate(np.asarray(selected, dtype=np.int64).tolist(), start=1):
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        new = rows[~now[rows]]
        site[new] = j
        rank[new] = r
        now[new] = True
    return pd.DataFrame({"covered_before": problem.covered, "covered_after": now,
                         "newly_covered": now & ~problem.covered, "site": site, "rank": rank}, index=cells.index)
