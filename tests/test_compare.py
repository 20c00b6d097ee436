"""Change over time (issue 13, part 2): :func:`yizhan.coverage.compare.compare_results`, ``yizhan compare``
and ``yizhan report --compare-dataset``.

A hand-built case (a few cells and stations placed with h3, the expected changes and blind zones
worked out here with h3 and plain Python sets), the per-district shares against each analysis's own
summary, a dataset compared with itself, refused mismatches, and the command line end to end on the
Guangzhou sample with a copy of its hotspots thinned in one district.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from conftest import clear_settings

from yizhan.cli import main
from yizhan.config import load_config
from yizhan.coverage import aggregate, analyze, read_hotspots
from yizhan.coverage.compare import CHANGES, compare_results
from yizhan.stations import model
from yizhan.stations.storage import Registry

THRESHOLD = 1000.0
RES = 9


def _stations(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """rows: (id, lon, lat) -> a registry frame of in-service 工会爱心驿站 open all day."""
    frame = model.empty_frame().reindex(range(len(rows)))
    frame["id"] = [r[0] for r in rows]
    frame["name"] = [f"站{r[0]}" for r in rows]
    frame["type"] = "工会爱心驿站"
    frame["groups"] = model.SEP.join(model.DEFAULT_GROUPS_BY_TYPE["工会爱心驿站"])
    frame["lon"] = [r[1] for r in rows]
    frame["lat"] = [r[2] for r in rows]
    frame["hours"] = "24h"
    frame["status"] = "在运营"
    for c in ("address", "adcode", "host", "services", "phone", "source", "updated_at", "orig_crs"):
        frame[c] = ""
    return frame


def _points(cells: dict[str, float]) -> pd.DataFrame:
    """One hotspot at the centre of each cell, with the given weight."""
    lat, lon = np.array([h3.cell_to_latlng(c) for c in cells]).T
    return pd.DataFrame({"lon": lon, "lat": lat, "weight": list(cells.values()),
                         "hour": np.full(len(cells), -1, np.int8), "group": [""] * len(cells)})


# -- a hand-built case ---------------------------------------------------------------------------------
S1, S2, S3 = (113.30, 23.12), (113.35, 23.12), (113.30, 23.17)        # 5 km apart: far beyond 1 km


def _cell(lon: float, lat: float) -> str:
    return h3.latlng_to_cell(lat, lon, RES)


@pytest.fixture(scope="module")
def hand() -> SimpleNamespace:
    """Then: stations S1, S2; now: S1, S3 (S2 closed, S3 opened).  Cells (res 9):
    a at S1 (demand both times, covered), g/h neighbours of a (demand only now / only then, covered),
    b at S2 (demand both; covered then, not now), f at S3 (demand both; uncovered then, covered now),
    c far away (demand both, uncovered both), c2 a neighbour of c (demand only now), d far away (only
    then), e far away (only now)."""
    a, b, f = _cell(*S1), _cell(*S2), _cell(*S3)
    ring = sorted(h3.grid_ring(a, 1))
    g, h = ring[0], ring[3]
    c = _cell(113.35, 23.17)
    c2 = sorted(h3.grid_ring(c, 1))[0]
    d, e = _cell(113.40, 23.12), _cell(113.40, 23.17)
    then = {a: 5, h: 1, b: 3, f: 2, c: 1, d: 1}
    now = {a: 5, g: 2, b: 3, f: 2, c: 1, c2: 1, e: 1}
    st_then = _stations([("S1", *S1), ("S2", *S2)])
    st_now = _stations([("S1", *S1), ("S3", *S3)])
    before = analyze(st_then, aggregate(_points(then), RES), threshold_m=THRESHOLD)
    after = analyze(st_now, aggregate(_points(now), RES), threshold_m=THRESHOLD)
    return SimpleNamespace(a=a, b=b, c=c, c2=c2, d=d, e=e, f=f, g=g, h=h, then=then, now=now,
                           st_then=[S1, S2], st_now=[S1, S3], before=before, after=after,
                           cmp=compare_results(before, after, before_name="九月", after_name="十月"))


def _covered(cell: str, stations: list[tuple[float, float]]) -> bool:
    centre = h3.cell_to_latlng(cell)
    return min(h3.great_circle_distance(centre, (lat, lon), unit="m") for lon, lat in stations) <= THRESHOLD


def _components(cells: set[str]) -> list[frozenset[str]]:
    """Connected groups of ``cells`` under H3 edge adjacency (plain breadth-first search)."""
    left, out = set(cells), []
    while left:
        todo, seen = [left.pop()], set()
        while todo:
            x = todo.pop()
            seen.add(x)
            for n in h3.grid_ring(x, 1):
                if n in left:
                    left.discard(n)
                    todo.append(n)
        out.append(frozenset(seen))
    return out


def test_hand_built_cells_and_zones(hand: SimpleNamespace) -> None:
    # the expectation, independently: coverage by h3's distances, the rules on plain sets
    cov_then = {x for x in hand.then if _covered(x, hand.st_then)}
    cov_now = {x for x in hand.now if _covered(x, hand.st_now)}
    unc_then, unc_now = set(hand.then) - cov_then, set(hand.now) - cov_now
    expected = {
        "lost_coverage": unc_now & cov_then,
        "new_uncovered_demand": unc_now - set(hand.then),
        "gained_coverage": unc_then & cov_now,
        "demand_gone": unc_then - set(hand.now),
    }
    # ... which is the case as built
    assert expected == {"lost_coverage": {hand.b}, "new_uncovered_demand": {hand.c2, hand.e},
                        "gained_coverage": {hand.f}, "demand_gone": {hand.d}}
    cells = hand.cmp.cells
    got = {k: set(cells.loc[cells["change"] == k, "h3"]) for k in CHANGES}
    assert got == expected
    assert len(cells) == 5 and not {hand.a, hand.g, hand.h, hand.c} & set(cells["h3"])
    assert set(hand.cmp.became_uncovered["h3"]) == {hand.b, hand.c2, hand.e}
    assert set(hand.cmp.became_covered["h3"]) == {hand.f}
    row = cells.set_index("h3")
    assert row.loc[hand.e, "demand_before"] == 0 and row.loc[hand.e, "demand_after"] == 1
    assert pd.isna(row.loc[hand.e, "covered_before"]) and not row.loc[hand.e, "covered_after"]
    assert bool(row.loc[hand.b, "covered_before"]) and row.loc[hand.b, "nearest_before"] == "S2"
    assert row.loc[hand.d, "demand_after"] == 0 and pd.isna(row.loc[hand.d, "covered_after"])
    assert np.isnan(row.loc[hand.d, "distance_m_after"]) and row.loc[hand.d, "zone_after"] == 0

    # blind zones: new = a zone now sharing no cell with any zone then; gone = the reverse
    zones_then, zones_now = _components(unc_then), _components(unc_now)
    new = {z for z in zones_now if not z & unc_then}
    gone = {z for z in zones_then if not z & unc_now}
    assert new == {frozenset({hand.b}), frozenset({hand.e})}
    assert gone == {frozenset({hand.f}), frozenset({hand.d})}
    by_zone = hand.after.cells.groupby("zone")["h3"].agg(frozenset)
    assert {by_zone[z] for z in hand.cmp.new_zones["zone"]} == new
    by_zone_then = hand.before.cells.groupby("zone")["h3"].agg(frozenset)
    assert {by_zone_then[z] for z in hand.cmp.gone_zones["zone"]} == gone
    nz = hand.cmp.new_zones.set_index(hand.cmp.new_zones["zone"].map(lambda z: next(iter(by_zone[z]))))
    assert nz.loc[hand.b, "demand"] == 3 and nz.loc[hand.b, "n_lost_coverage"] == 1
    assert nz.loc[hand.e, "n_new_uncovered_demand"] == 1 and nz.loc[hand.e, "n_cells"] == 1
    hexagon = shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(hand.b)])
    assert shapely.equals_exact(shapely.normalize(nz.loc[hand.b, "geometry"]), shapely.normalize(hexagon), 1e-9)

    h = hand.cmp.headline
    assert (h["n_lost_coverage"], h["n_new_uncovered_demand"], h["n_gained_coverage"], h["n_demand_gone"]) == (1, 2, 1, 1)
    assert (h["n_became_uncovered"], h["n_became_covered"], h["n_new_zones"], h["n_gone_zones"]) == (3, 1, 2, 2)
    # covered demand: then a+h+b = 9 of 13, now a+g+f = 9 of 15
    assert h["covered_share_before"] == pytest.approx(9 / 13) and h["covered_share_after"] == pytest.approx(9 / 15)
    assert h["change_pp"] == pytest.approx((9 / 15 - 9 / 13) * 100)
    assert (h["before_name"], h["after_name"], h["n_stations_before"], h["n_stations_after"]) == ("九月", "十月", 2, 2)


def test_hand_built_outputs(hand: SimpleNamespace, tmp_path: Path) -> None:
    fc = hand.cmp.to_geojson_cells()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    props = {f["properties"]["h3"]: f["properties"] for f in fc["features"]}
    assert props[hand.b]["change"] == "lost_coverage" and props[hand.b]["change_zh"] == "失去覆盖"
    assert props[hand.d]["distance_m_after"] is None and props[hand.d]["demand_after"] == 0
    poly = shapely.geometry.shape(next(f["geometry"] for f in fc["features"] if f["properties"]["h3"] == hand.e))
    assert poly.contains(shapely.Point(h3.cell_to_latlng(hand.e)[::-1]))
    paths = hand.cmp.write(tmp_path / "out")
    names = {p.name for p in paths}
    assert {"compare_districts.csv", "compare_cells.geojson", "new_blind_zones.geojson"} <= names
    table = pd.read_csv(tmp_path / "out" / "compare_districts.csv", encoding="utf-8-sig", dtype={"adcode": str})
    total = table[table["level"] == "total"].iloc[0]
    assert total["covered_share_before"] == pytest.approx(9 / 13) and total["n_lost_coverage"] == 1
    assert total["n_new_zones"] == 2
    zones = json.loads((tmp_path / "out" / "new_blind_zones.geojson").read_text(encoding="utf-8"))
    assert sorted(f["properties"]["demand"] for f in zones["features"]) == [1, 3]
    assert json.loads((tmp_path / "out" / "compare_cells.geojson").read_text(encoding="utf-8")) == fc
    assert hand.cmp.to_json()["headline"]["n_new_zones"] == 2


def test_mismatched_options_are_refused(hand: SimpleNamespace) -> None:
    coarse = analyze(_stations([("S1", *S1)]), aggregate(_points(hand.then), 8), threshold_m=THRESHOLD)
    with pytest.raises(ValueError) as exc:
        compare_results(hand.before, coarse)
    assert "分辨率" in str(exc.value) and "res" in str(exc.value) and "cannot be compared" in str(exc.value)
    grid = analyze(_stations([("S1", *S1)]), aggregate(_points(hand.now), RES), metric="grid", threshold_m=THRESHOLD)
    with pytest.raises(ValueError, match="距离度量.*metric 'great-circle' vs 'grid'"):
        compare_results(hand.before, grid)
    wider = analyze(_stations([("S1", *S1)]), aggregate(_points(hand.now), RES), threshold_m=1500)
    with pytest.raises(ValueError, match="threshold_m"):
        compare_results(hand.before, wider)
    riders = analyze(_stations([("S1", *S1)]), aggregate(_points(hand.now), RES), group="外卖配送员",
                     threshold_m=THRESHOLD)
    with pytest.raises(ValueError, match="劳动者群体"):
        compare_results(hand.before, riders)
    # other stations are allowed: then and now
    assert compare_results(hand.before, analyze(_stations([("S9", 113.5, 23.3)]), aggregate(_points(hand.now), RES),
                                                threshold_m=THRESHOLD)).headline["covered_share_after"] == 0


# -- the Guangzhou sample ------------------------------------------------------------------------------
THINNED = "440106"          # 天河区: its hotspots east of 113.36 dropped in the "now" dataset


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A home with the Guangzhou sample and two datasets: the sample's hotspots (九月) and a copy
    without the hotspots of 天河区 (district of their H3 cell) east of 113.36°E (十月)."""
    from yizhan.coverage import hexgrid
    from yizhan.geodata.boundaries import district_of

    home = tmp_path_factory.mktemp("compare") / "home"
    hot = home / "sample" / "hotspots.csv"
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        runner = CliRunner()

        def run(*args: str):
            return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

        assert run("demo").exit_code == 0
        raw = pd.read_csv(hot)
        lon, lat = hexgrid.cells_to_lonlat(hexgrid.points_to_cells(raw["lon"], raw["lat"], RES))
        drop = (district_of(lon, lat) == THINNED) & (raw["lon"].to_numpy() > 113.36)
        assert 500 < drop.sum() < (district_of(lon, lat) == THINNED).sum()
        thinned = home.parent / "thinned.csv"
        raw[~drop].to_csv(thinned, index=False)
        first = json.loads(run("datasets", "add", str(hot), "--name", "九月", "--json").stdout)
        second = json.loads(run("datasets", "add", str(thinned), "--name", "十月", "--json").stdout)
        registry = Registry(load_config(home)["DATABASE_URL"])
    stations = registry.stations()
    before = analyze(stations, aggregate(read_hotspots(hot), RES))
    after = analyze(stations, aggregate(read_hotspots(thinned), RES))
    return SimpleNamespace(home=home, run=run, before_id=first["id"], after_id=second["id"], before=before,
                           after=after, thinned=thinned, hot=hot)


def _districts(summary: pd.DataFrame) -> pd.Series:
    s = summary[summary["level"] == "district"]
    return pd.Series(s["covered_share"].to_numpy(), index=s["adcode"].to_numpy())


def test_district_shares_equal_each_summary(sample: SimpleNamespace) -> None:
    cmp = compare_results(sample.before, sample.after)
    d = cmp.districts[cmp.districts["level"] == "district"].set_index("adcode")
    then, now = _districts(sample.before.summary), _districts(sample.after.summary)
    pd.testing.assert_series_equal(d["covered_share_before"].reindex(then.index), then, check_names=False)
    pd.testing.assert_series_equal(d["covered_share_after"].reindex(now.index), now, check_names=False)
    # and the summaries' shares are the cells' (recomputed here from the cell tables)
    for result, col in ((sample.before, "covered_share_before"), (sample.after, "covered_share_after")):
        c = result.cells.assign(cov=np.where(result.cells["covered"], result.cells["demand"], 0.0))
        g = c.groupby("adcode")[["cov", "demand"]].sum()
        np.testing.assert_allclose(d.loc[g.index, col].to_numpy(), (g["cov"] / g["demand"]).to_numpy(), rtol=1e-12)
    # only 天河区 changed, and only by demand leaving
    assert abs(d.loc[THINNED, "change_pp"]) > 1
    assert (d.drop(index=THINNED)["change_pp"].fillna(0) == 0).all()
    assert set(cmp.cells["change"]) == {"demand_gone"} and set(cmp.cells["adcode"]) == {THINNED}
    assert cmp.headline["n_demand_gone"] == d.loc[THINNED, "n_demand_gone"] > 0
    assert cmp.headline["n_new_zones"] == 0 and cmp.headline["n_gone_zones"] > 0
    total = cmp.districts[cmp.districts["level"] == "total"].iloc[0]
    assert total["covered_share_after"] == pytest.approx(sample.after.covered_share)
    assert cmp.headline["covered_share_before"] == pytest.approx(sample.before.covered_share)


def test_a_dataset_compared_with_itself_has_no_change(sample: SimpleNamespace) -> None:
    again = analyze(sample.before.stations, aggregate(read_hotspots(sample.hot), RES))
    for other in (sample.before, again):
        cmp = compare_results(sample.before, other)
        assert cmp.cells.empty and cmp.new_zones.empty and cmp.gone_zones.empty
        assert (cmp.districts["change_pp"].dropna() == 0).all()
        h = cmp.headline
        assert h["change_pp"] == 0 and h["n_became_uncovered"] == h["n_became_covered"] == h["n_demand_gone"] == 0
        assert cmp.to_geojson_cells() == {"type": "FeatureCollection", "features": []}


def test_cli_compare_and_report_section(sample: SimpleNamespace, tmp_path: Path) -> None:
    run, b, a = sample.run, str(sample.before_id), str(sample.after_id)
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        done = run("compare", "--before", b, "--after", a, "--json")
        assert done.exit_code == 0, done.output
        data = json.loads(done.stdout)
        text = run("compare", "--before", b, "--after", a, "--out", str(tmp_path / "cmp"))
        by_file = run("compare", "--before-hotspots", str(sample.hot), "--after", a, "--json")
        refused = run("compare", "--before", b)
        unknown = run("compare", "--before", b, "--after", "999")
        page = tmp_path / "天河.html"
        made = run("report", "--area", THINNED, "--dataset", a, "--compare-dataset", b, "--out", str(page))
    expected = compare_results(sample.before, sample.after)
    h = data["headline"]
    assert (h["before_name"], h["after_name"]) == ("九月", "十月")
    assert h["covered_share_after"] == pytest.approx(expected.headline["covered_share_after"])
    assert h["n_demand_gone"] == expected.headline["n_demand_gone"] and h["n_new_zones"] == 0
    row = next(r for r in data["districts"] if r["adcode"] == THINNED and r["level"] == "district")
    assert row["covered_share_before"] == pytest.approx(_districts(sample.before.summary)[THINNED])
    assert row["covered_share_after"] == pytest.approx(_districts(sample.after.summary)[THINNED])
    assert json.loads(by_file.stdout)["headline"]["covered_share_after"] == pytest.approx(h["covered_share_after"])

    assert text.exit_code == 0, text.output
    assert "“九月” → “十月”" in text.stdout and "天河区" in text.stdout
    assert f"{h['covered_share_before']:.1%} → {h['covered_share_after']:.1%}" in text.stdout
    for name in ("compare_districts.csv", "compare_cells.geojson", "new_blind_zones.geojson"):
        assert (tmp_path / "cmp" / name).is_file(), name
    assert refused.exit_code == 2 and "--after-hotspots" in refused.output
    assert unknown.exit_code == 2 and "no such hotspot dataset: 999" in unknown.output

    assert made.exit_code == 0, made.output
    assert "自“九月”以来" in made.stdout
    html = page.read_text(encoding="utf-8")
    assert "变化 / Change since 九月" in html and 'alt="天河区覆盖变化地图"' in html
    assert f"<td class=\"n\">{row['covered_share_before']:.1%}</td><td class=\"n\">{row['covered_share_after']:.1%}</td>" \
        in html
    assert f"另有 {row['n_demand_gone']} 个未覆盖网格需求消失" in html
    assert "对比数据 compared with" in html
