"""The notebook runs top to bottom against the current API (its code cells, executed in order)."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "coverage_walkthrough.ipynb"


def test_walkthrough_notebook_runs() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    scope: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}", "exec"), scope)  # noqa: S102
    assert scope["info"]["loaded"] and scope["info"]["stations"] > 200
    assert 0 < scope["riders"].covered_share < 1
    assert len(scope["hourly"]) == 24 and len(scope["plan"].sites) == 10
    assert scope["impact"].covered_after > scope["impact"].covered_before
    assert {"cells.parquet", "blind_zones.geojson", "summary.xlsx"} <= {p.name for p in scope["written"]}
