"""The coverage engine: hotspots -> H3 demand -> distance to the nearest station -> 空白点 and 盲区.

Import as ``yizhan.coverage`` (never plain ``coverage``, which is coverage.py).  Pure functions
over frames and arrays: no files except in :mod:`.outputs` and :mod:`.demand` readers, no Flask.
"""

from __future__ import annotations

from .analysis import CoverageResult, analyze, coverage_by_hour, select_stations, threshold_for
from .corridors import CorridorResult, analyze_corridors, write_corridor_outputs
from .demand import DemandGrid, aggregate, read_hotspots
from .impact import Impact, site_impact
from .plan import Plan, plan_sites

__all__ = ["CorridorResult", "CoverageResult", "DemandGrid", "Impact", "Plan", "aggregate", "analyze", "analyze_corridors", "coverage_by_hour",
           "plan_sites", "read_hotspots", "select_stations", "site_impact", "threshold_for",
           "write_corridor_outputs"]
