"""Siting on top of a coverage result: candidates -> sparse coverage matrix -> MCLP / LSCP.

The metric, resolution and threshold come from the :class:`~yizhan.coverage.CoverageResult`, so
a plan measures coverage exactly as the analysis did; demand already covered by existing
stations counts as covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from . import hexgrid, siting
from .analysis import CoverageResult

OBJECTIVES = ("mclp", "lscp")


@dataclass(frozen=True)
class Plan:
    """A siting plan: the solver result, the ranked sites and the candidates considered."""

    result: siting.SitingResult
    sites: pd.DataFrame
    candidates: pd.DataFrame
    objective: str

    def as_dict(self) -> dict[str, Any]:
        """The ``yizhan site --json`` object: sites, covered_before, covered_after (and gap)."""
        sites = _site_items(self.sites)
        out: dict[str, Any] = {"objective": self.objective, "solver": self.result.solver, "status": self.result.status,
                               "sites": sites, "covered_before": float(self.result.covered_before),
                               "covered_after": float(self.result.covered_after),
                               "total_demand": float(self.result.total_demand),
                               "share_before": self.result.share_before, "share_after": self.result.share_after}
        if self.result.solver == "exact":
            out["gap"] = self.result.gap
        if getattr(self.result, "message", ""):
            out["message"] = self.result.message
        return out


def _site_items(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The ``sites`` items of the JSON output: lon, lat, gain, rank, share (and name, host)."""
    sites = []
    for r in frame.itertuples(index=False):
        site = {"lon": round(float(r.lon), 7), "lat": round(float(r.lat), 7), "gain": float(r.gain),
                "rank": int(r.rank), "share": float(r.share)}
        if isinstance(r.name, str) and r.name:
            site["name"] = r.name
        if isinstance(r.host, str) and r.host:
            site["host"] = r.host
        sites.append(site)
    return sites


def uncovered_cell_candidates(result: CoverageResult) -> pd.DataFrame:
    """Candidate sites at the centres of the uncovered demand cells (when no list is given)."""
    cells = result.cells[~result.cells["covered"]]
    return pd.DataFrame({"lon": cells["lon"].to_numpy(), "lat": cells["lat"].to_numpy(),
                         "name": [f"网格 {h}" for h in cells["h3"]], "host": "", "h3": cells["h3"].to_numpy()})


def coverage_matrix_for(result: CoverageResult, candidates: pd.DataFrame, *, network: Any = None):  # noqa: ANN201
    """Sparse demand-cell x candidate coverage matrix with the result's metric and threshold."""
    p = result.params
    cells = result.cells
    if p["metric"] == "grid":
        demand_cells = hexgrid.str_to_cells(cells["h3"].to_numpy(dtype=object))
        cand_cells = hexgrid.points_to_cells(candidates["lon"].to_numpy(), candidates["lat"].to_numpy(), p["res"])
        return siting.grid_coverage_matrix(demand_cells, cand_cells, siting.grid_steps_for(p["threshold_m"], p["res"]))
    if p["metric"] == "network":
        if network is None:
            raise ValueError("道路网络度量需要 OSM 道路网 / the network metric needs the road network")
        return siting.network_coverage_matrix(network, cells["lon"], cells["lat"], candidates["lon"],
                                              candidates["lat"], p["threshold_m"])
    return siting.coverage_matrix(cells["lon"], cells["lat"], candidates["lon"], candidates["lat"], p["threshold_m"])


def plan_sites(result: CoverageResult, candidates: pd.DataFrame | None = None, *, k: int | None = None,
               objective: str = "mclp", target_share: float = 0.9, solver: str = "greedy", network: Any = None,
               time_limit_s: float = 60.0) -> Plan:
    """Choose new sites: ``mclp`` (k sites, most newly covered demand) or ``lscp`` (fewest sites
    reaching ``target_share`` of demand covered), keeping the existing stations."""
    if objective not in OBJECTIVES:
        raise ValueError(f"未知目标 {objective!r}，可选 mclp、lscp / unknown objective {objective!r}")
    cand = uncovered_cell_candidates(result) if candidates is None else candidates.reset_index(drop=True)
    A = coverage_matrix_for(result, cand, network=network)
    weights = result.cells["demand"].to_numpy(dtype=float)
    covered = result.cells["covered"].to_numpy(dtype=bool)
    if objective == "mclp":
        if not k or k < 1:
            raise ValueError("mclp 需要 k ≥ 1 / mclp needs k >= 1")
        res = siting.mclp(weights, A, int(k), covered=covered, solver=solver, time_limit_s=time_limit_s)
    else:
        if not 0 < target_share <= 1:
            raise ValueError("目标覆盖率应在 (0, 1] / target share must be in (0, 1]")
        res = siting.lscp(weights, A, float(target_share), covered=covered, solver=solver, time_limit_s=time_limit_s)
    return Plan(res, res.to_frame(cand), cand, objective)


# -- a plan year by year -------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanYear:
    """One year of a :class:`YearPlan`.

    ``result`` is that year's MCLP with ``selected`` as positions in the plan's candidate table;
    its ``covered_before`` includes the existing stations *and* the earlier years' sites.
    ``sites`` are the year's new sites (columns of :meth:`SitingResult.to_frame` with ``year``
    first; ``rank`` runs across the whole plan, ``share`` is the cumulative covered share).
    ``solver`` says what chose them: ``exact``, or ``greedy`` (asked for, or the exact solver
    stopped early and the greedy answer was as good; then ``message`` says so).
    """

    year: int
    k: int
    result: siting.SitingResult
    sites: pd.DataFrame
    solver: str
    message: str = ""

    @property
    def gain(self) -> float:
        """Demand newly covered this year (the weights' unit)."""
        return float(self.result.covered_after - self.result.covered_before)

    @property
    def covered_after(self) -> float:
        """Covered demand after this year's sites (existing stations and all years so far)."""
        return float(self.result.covered_after)

    @property
    def share_after(self) -> float:
        """Cumulative covered share of demand after this year's sites (0-1)."""
        return self.result.share_after

    def as_dict(self) -> dict[str, Any]:
        """An item of ``years`` in ``yizhan site --years N --json``."""
        out: dict[str, Any] = {"year": int(self.year), "sites": _site_items(self.sites), "gain": self.gain,
                               "covered_after": float(self.share_after), "k": int(self.k), "solver": self.solver,
                               "status": self.result.status}
        if self.result.solver == "exact":
            out["gap"] = self.result.gap
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class YearPlan:
    """A siting plan year by year: each year's sites join the existing stations (and the earlier
    years' sites) before the next year is chosen.  ``sites`` holds all years' sites in year order
    with a ``year`` column; ``solver`` is the solver asked for."""

    years: tuple[PlanYear, ...]
    sites: pd.DataFrame
    candidates: pd.DataFrame
    solver: str
    covered_before: float
    total_demand: float
    objective: str = "mclp"

    @property
    def covered_after(self) -> float:
        """Covered demand after the last year."""
        return self.years[-1].covered_after if self.years else self.covered_before

    @property
    def share_before(self) -> float:
        return self.covered_before / self.total_demand if self.total_demand > 0 else float("nan")

    @property
    def share_after(self) -> float:
        return self.covered_after / self.total_demand if self.total_demand > 0 else float("nan")

    @property
    def status(self) -> str:
        """``optimal`` (greedy: ``done``) when every year is; else the first other year status."""
        for y in self.years:
            if y.result.status not in ("optimal", "done"):
                return y.result.status
        return "optimal" if self.solver == "exact" else "done"

    @property
    def gap(self) -> float | None:
        """Largest optimality gap of the years (exact solver; None when a year has none)."""
        gaps = [y.result.gap for y in self.years]
        if any(g is None for g in gaps):
            return None
        return float(max(gaps, default=0.0))

    def as_dict(self) -> dict[str, Any]:
        """The ``yizhan site --years N --json`` object: the single-shot keys for the whole plan
        (``sites`` = all years' sites in year order, ``covered_after`` after the last year, in
        demand) and ``years`` (each ``year``, ``sites``, ``gain``, ``covered_after`` as a 0-1 share)."""
        out: dict[str, Any] = {"objective": self.objective, "solver": self.solver, "status": self.status,
                               "sites": _site_items(self.sites), "covered_before": float(self.covered_before),
                               "covered_after": float(self.covered_after), "total_demand": float(self.total_demand),
                               "share_before": self.share_before, "share_after": self.share_after}
        if self.solver == "exact":
            out["gap"] = self.gap
        messages = [f"{y.year}: {y.message}" for y in self.years if y.message]
        if messages:
            out["message"] = "\n".join(messages)
        out["years"] = [y.as_dict() for y in self.years]
        return out


def _check_per_year(per_year: Sequence[int]) -> list[int]:
    try:
        counts = [int(k) for k in per_year]
        ok = all(float(k) == int(k) for k in per_year)
    except (TypeError, ValueError):
        counts, ok = [], False
    if not ok or not counts or any(k < 0 for k in counts) or sum(counts) < 1:
        raise ValueError(f"每年新站点数应为非负整数且至少一年 ≥ 1 / per-year site counts must be whole numbers "
                         f">= 0 with at least one >= 1, got {list(per_year)!r}")
    return counts


def plan_years(result: CoverageResult, candidates: pd.DataFrame | None = None, *, per_year: Sequence[int],
               first_year: int, solver: str = "greedy", network: Any = None,
               time_limit_s: float = 60.0) -> YearPlan:
    """Choose ``per_year[i]`` new sites for year ``first_year + i``, year after year (MCLP).

    The coverage matrix is built once; each year is an MCLP on the candidates not chosen yet, with
    the demand covered by the existing stations and the earlier years' sites counted as covered.
    With ``solver="exact"`` each year is optimal *given the earlier years* -- a sequential plan,
    which may cover less after the last year than choosing all years' sites at once.
    ``time_limit_s`` applies to each year; a year whose exact search stops at the limit keeps the
    better of HiGHS's incumbent and the greedy answer (recorded in the year's status, ``solver``
    and ``message``).
    """
    counts = _check_per_year(per_year)
    first_year = int(first_year)
    cand = uncovered_cell_candidates(result) if candidates is None else candidates.reset_index(drop=True)
    csc = coverage_matrix_for(result, cand, network=network).tocsc()
    weights = result.cells["demand"].to_numpy(dtype=float)
    covered = result.cells["covered"].to_numpy(dtype=bool).copy()
    available = np.ones(csc.shape[1], dtype=bool)
    years: list[PlanYear] = []
    frames: list[pd.DataFrame] = []
    before = total = None
    rank_offset = 0
    for i, k in enumerate(counts):
        year = first_year + i
        cols = np.flatnonzero(available)
        res = siting.mclp(weights, csc[:, cols], k, covered=covered, solver=solver, time_limit_s=time_limit_s)
        res = replace(res, selected=cols[np.asarray(res.selected, dtype=np.int64)])
        used, message = solver, ""
        if solver == "exact" and res.status != "optimal":
            greedy = siting.mclp(weights, csc[:, cols], k, covered=covered, solver="greedy")
            tol = 1e-9 * max(res.total_demand, 1.0)
            if greedy.objective >= res.objective - tol:
                used = "greedy"
                message = (f"精确求解未在时限内完成（{res.status}），该年采用贪心结果 / the exact solver stopped "
                           f"early ({res.status}); this year uses the greedy answer")
            else:
                message = (f"精确求解未在时限内完成（{res.status}），该年采用求解器的最佳可行解 / the exact "
                           f"solver stopped early ({res.status}); this year uses its best solution found")
        if before is None:
            before, total = res.covered_before, res.total_demand
        frame = res.to_frame(cand)
        frame["rank"] = frame["rank"] + rank_offset
        frame.insert(0, "year", np.full(len(frame), year, dtype=np.int64))
        rank_offset += len(frame)
        chosen = np.asarray(res.selected, dtype=np.int64)
        if len(chosen):
            available[chosen] = False
            covered |= np.asarray(csc[:, chosen].sum(axis=1)).ravel() > 0
        years.append(PlanYear(year, k, res, frame, used, message))
        frames.append(frame)
    sites = pd.concat(frames, ignore_index=True)
    return YearPlan(tuple(years), sites, cand, solver, float(before), float(total))
