"""Siting on top of a coverage result: candidates -> sparse coverage matrix -> MCLP / LSCP.

The metric, resolution and threshold come from the :class:`~yizhan.coverage.CoverageResult`, so
a plan measures coverage exactly as the analysis did; demand already covered by existing
stations counts as covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        sites = []
        for r in self.sites.itertuples(index=False):
            site = {"lon": round(float(r.lon), 7), "lat": round(float(r.lat), 7), "gain": float(r.gain),
                    "rank": int(r.rank), "share": float(r.share)}
            if isinstance(r.name, str) and r.name:
                site["name"] = r.name
            if isinstance(r.host, str) and r.host:
                site["host"] = r.host
            sites.append(site)
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
