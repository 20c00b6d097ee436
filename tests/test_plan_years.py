"""A siting plan year by year (``plan_years``, ``yizhan site --years``) against brute-force enumeration,
and the ``ANNUAL_TARGETS`` setting."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import clear_settings

from yizhan.cli import main
from yizhan.app import create_app
from yizhan.config import DEFAULTS, load_config
from yizhan.stations.model import normalize_annual_targets as check_annual_targets
from yizhan.coverage import siting
from yizhan.coverage.analysis import CoverageResult
from yizhan.coverage.plan import plan_sites, plan_years
from yizhan.geodata.sphere import haversine_m

LON0, LAT0 = 113.3245, 23.1375
M_PER_DEG_LON = 111_320.0 * np.cos(np.radians(LAT0))


# -- hand-built instances -------------------------------------------------------------------------

def _within(lon: np.ndarray, lat: np.ndarray, s_lon: np.ndarray, s_lat: np.ndarray, threshold_m: float) -> np.ndarray:
    """Demand points within ``threshold_m`` great-circle metres of any of the given sites."""
    if len(s_lon) == 0:
        return np.zeros(len(lon), dtype=bool)
    return (haversine_m(lon[:, None], lat[:, None], s_lon[None, :], s_lat[None, :]) <= threshold_m).any(axis=1)


def _result(lon, lat, weights, st_lon, st_lat, threshold_m: float) -> CoverageResult:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    covered = _within(lon, lat, np.asarray(st_lon, dtype=float), np.asarray(st_lat, dtype=float), threshold_m)
    cells = pd.DataFrame({"h3": [f"c{i}" for i in range(len(lon))], "lon": lon, "lat": lat,
                          "demand": np.asarray(weights, dtype=float), "covered": covered})
    stations = pd.DataFrame({"lon": np.asarray(st_lon, dtype=float), "lat": np.asarray(st_lat, dtype=float)})
    return CoverageResult({"metric": "great-circle", "threshold_m": float(threshold_m), "res": 9}, cells,
                          pd.DataFrame(), None, pd.DataFrame(), pd.DataFrame(), stations)


def _random_instance(seed: int, n: int = 30, m: int = 8, threshold_m: float = 900.0):
    rng = np.random.default_rng(seed)
    spread = 0.025
    d_lon, d_lat = LON0 + rng.uniform(-spread, spread, n), LAT0 + rng.uniform(-spread, spread, n)
    weights = rng.integers(1, 20, n).astype(float)
    st_lon, st_lat = LON0 + rng.uniform(-spread, spread, 2), LAT0 + rng.uniform(-spread, spread, 2)
    cands = pd.DataFrame({"lon": LON0 + rng.uniform(-spread, spread, m), "lat": LAT0 + rng.uniform(-spread, spread, m),
                          "name": [f"候选{j}" for j in range(m)], "host": "超市"})
    return _result(d_lon, d_lat, weights, st_lon, st_lat, threshold_m), cands, threshold_m


def _covered_share(result: CoverageResult, cands: pd.DataFrame, chosen: list[int], threshold_m: float) -> float:
    """Independent recomputation: share of demand within the threshold of an existing station or a chosen site."""
    cells = result.cells
    lon = np.concatenate([result.stations["lon"].to_numpy(), cands["lon"].to_numpy()[chosen]])
    lat = np.concatenate([result.stations["lat"].to_numpy(), cands["lat"].to_numpy()[chosen]])
    hit = _within(cells["lon"].to_numpy(), cells["lat"].to_numpy(), lon, lat, threshold_m)
    w = cells["demand"].to_numpy()
    return float(w[hit].sum() / w.sum())


def _best_gain(result: CoverageResult, cands: pd.DataFrame, earlier: list[int], k: int, threshold_m: float) -> float:
    """Brute force: the most demand k of the remaining candidates can newly cover, given the earlier sites."""
    cells = result.cells
    lon, lat, w = cells["lon"].to_numpy(), cells["lat"].to_numpy(), cells["demand"].to_numpy()
    already = _within(lon, lat, np.concatenate([result.stations["lon"].to_numpy(), cands["lon"].to_numpy()[earlier]]),
                      np.concatenate([result.stations["lat"].to_numpy(), cands["lat"].to_numpy()[earlier]]),
                      threshold_m)
    remaining = [j for j in range(len(cands)) if j not in earlier]
    reach = haversine_m(lon[:, None], lat[:, None], cands["lon"].to_numpy()[None, remaining],
                        cands["lat"].to_numpy()[None, remaining]) <= threshold_m
    free = np.where(already, 0.0, w)
    size = min(k, len(remaining))
    return max(float(free[reach[:, list(s)].any(axis=1)].sum()) for s in itertools.combinations(range(len(remaining)), size))


def _check_plan(plan, result, cands, threshold_m: float, per_year: list[int], *, optimal: bool) -> None:
    total = float(result.cells["demand"].sum())
    earlier: list[int] = []
    assert [y.year for y in plan.years] == [2031 + i for i in range(len(per_year))]
    for y, k in zip(plan.years, per_year):
        chosen = [int(j) for j in y.sites["candidate"]]
        assert len(chosen) <= k and not set(chosen) & set(earlier)          # never a site twice
        best = _best_gain(result, cands, earlier, k, threshold_m)
        if optimal:
            assert y.gain == pytest.approx(best)
        else:
            assert y.gain <= best + 1e-9
        assert y.gain == pytest.approx(float(y.sites["gain"].sum()))
        earlier += chosen
        assert y.share_after == pytest.approx(_covered_share(result, cands, earlier, threshold_m))
        assert y.as_dict()["covered_after"] == pytest.approx(y.share_after)
        # the sites table: the year, names and coordinates of the chosen candidates, cumulative share
        assert (y.sites["year"] == y.year).all()
        assert list(y.sites["name"]) == [cands["name"][j] for j in chosen]
        if len(chosen):
            assert y.sites["share"].iloc[-1] == pytest.approx(y.share_after)
    assert len(set(earlier)) == len(earlier)
    assert list(plan.sites["candidate"]) == earlier
    assert list(plan.sites["rank"]) == list(range(1, len(earlier) + 1))
    assert plan.covered_before == pytest.approx(float(result.cells.loc[result.cells["covered"], "demand"].sum()))
    assert plan.share_after == pytest.approx(_covered_share(result, cands, earlier, threshold_m))
    assert plan.covered_after == pytest.approx(plan.covered_before + sum(y.gain for y in plan.years))
    assert plan.total_demand == pytest.approx(total)


# -- plan_years against enumeration ----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_exact_years_are_optimal_given_the_earlier_years(seed: int) -> None:
    result, cands, threshold = _random_instance(seed)
    per_year = [2, 2, 1]
    exact = plan_years(result, cands, per_year=per_year, first_year=2031, solver="exact")
    _check_plan(exact, result, cands, threshold, per_year, optimal=True)
    assert all(y.solver == "exact" and y.result.status == "optimal" for y in exact.years)
    assert exact.status == "optimal" and exact.gap is not None and exact.gap <= 1e-9
    greedy = plan_years(result, cands, per_year=per_year, first_year=2031, solver="greedy")
    _check_plan(greedy, result, cands, threshold, per_year, optimal=False)
    assert greedy.status == "done" and all(y.solver == "greedy" for y in greedy.years)
    # greedy never beats the optimum of the same year from the same start
    assert greedy.years[0].gain <= exact.years[0].gain + 1e-9


@pytest.mark.parametrize("per_year", [[1, 3, 2], [3, 0, 1], [4, 4]])
def test_per_year_lists_and_running_out_of_candidates(per_year: list[int]) -> None:
    result, cands, threshold = _random_instance(11, m=7)
    plan = plan_years(result, cands, per_year=per_year, first_year=2031, solver="exact")
    _check_plan(plan, result, cands, threshold, per_year, optimal=True)
    assert [y.k for y in plan.years] == per_year
    assert [y["k"] for y in plan.as_dict()["years"]] == per_year


def test_sequential_plan_can_be_worse_than_all_at_once() -> None:
    # demand on a line every 1000 m; candidates midway: c0 covers rows 1-2, c1 rows 0-1, c2 rows 2-3
    step = 1000.0 / M_PER_DEG_LON
    lon = LON0 + step * np.arange(4)
    result = _result(lon, np.full(4, LAT0), [1.5, 2.0, 2.0, 1.5], [], [], 600.0)
    cands = pd.DataFrame({"lon": LON0 + step * np.array([1.5, 0.5, 2.5]), "lat": LAT0, "name": ["c0", "c1", "c2"]})
    plan = plan_years(result, cands, per_year=[1, 1], first_year=2031, solver="exact")
    _check_plan(plan, result, cands, 600.0, [1, 1], optimal=True)
    assert plan.sites["name"].iloc[0] == "c0" and plan.covered_after == pytest.approx(5.5)
    at_once = plan_sites(result, cands, k=2, solver="exact")
    assert sorted(at_once.sites["name"]) == ["c1", "c2"] and at_once.result.covered_after == pytest.approx(7.0)


def test_exact_stopped_at_the_time_limit_falls_back_to_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    result, cands, threshold = _random_instance(3)
    monkeypatch.setattr(siting, "_milp", lambda *a, **k: SimpleNamespace(status=1, x=None, message="Time limit reached",
                                                                        mip_dual_bound=None))
    plan = plan_years(result, cands, per_year=[2, 2], first_year=2031, solver="exact", time_limit_s=0.01)
    greedy = plan_years(result, cands, per_year=[2, 2], first_year=2031, solver="greedy")
    assert [y.solver for y in plan.years] == ["greedy", "greedy"]
    assert [y.result.status for y in plan.years] == ["time_limit", "time_limit"] and plan.status == "time_limit"
    assert list(plan.sites["candidate"]) == list(greedy.sites["candidate"])
    out = plan.as_dict()
    assert all("greedy" in y["message"] for y in out["years"]) and "2031" in out["message"]
    assert out["years"][0]["status"] == "time_limit" and out["gap"] is None


def test_plan_years_validation() -> None:
    result, cands, _ = _random_instance(0)
    for bad in ([], [0, 0], [2, -1], [1.5]):
        with pytest.raises(ValueError, match="per-year"):
            plan_years(result, cands, per_year=bad, first_year=2031)
    with pytest.raises(ValueError, match="solver"):
        plan_years(result, cands, per_year=[1], first_year=2031, solver="magic")


# -- the command line --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the embedded Guangzhou sample (``yizhan demo``), made once for the module."""
    home = tmp_path_factory.mktemp("plan_years") / "home"
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        result = CliRunner().invoke(main, ["--home", str(home), "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def run(sample_home: Path, monkeypatch: pytest.MonkeyPatch):
    clear_settings(monkeypatch)
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(main, ["--home", str(sample_home), *args], catch_exceptions=False)

    return _run


def test_site_years_json_shape(run, sample_home: Path, tmp_path: Path) -> None:
    hot = str(sample_home / "sample" / "hotspots.csv")
    out_file = tmp_path / "plan.csv"
    res = run("site", "--hotspots", hot, "--group", "外卖配送员", "--years", "3", "--per-year", "2", "--json",
              "--out", str(out_file))
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    years = got["years"]
    first = datetime.now(ZoneInfo("Asia/Shanghai")).year + 1
    assert [y["year"] for y in years] == [first, first + 1, first + 2]
    for y in years:
        assert {"year", "sites", "gain", "covered_after"} <= set(y)
        assert len(y["sites"]) == 2 and {"lon", "lat", "gain", "rank", "share", "name"} <= set(y["sites"][0])
        assert y["gain"] == pytest.approx(sum(s["gain"] for s in y["sites"])) and y["gain"] > 0
        assert 0 <= y["covered_after"] <= 1 and y["covered_after"] == pytest.approx(y["sites"][-1]["share"])
    shares = [got["share_before"]] + [y["covered_after"] for y in years]
    assert shares == sorted(shares)
    assert got["sites"] == [s for y in years for s in y["sites"]]
    assert len({(s["lon"], s["lat"]) for s in got["sites"]}) == 6
    assert got["share_after"] == pytest.approx(years[-1]["covered_after"])
    assert got["covered_after"] == pytest.approx(years[-1]["covered_after"] * got["total_demand"])
    assert got["covered_after"] == pytest.approx(got["covered_before"] + sum(y["gain"] for y in years))
    table = pd.read_csv(out_file, encoding="utf-8-sig")
    assert list(table["year"]) == [first, first, first + 1, first + 1, first + 2, first + 2]
    assert list(table["rank"]) == [1, 2, 3, 4, 5, 6]
    # per-year list, --first-year and the text output
    res = run("site", "--hotspots", hot, "--group", "外卖配送员", "--years", "2", "--per-year", "1,3", "--first-year",
              "2030")
    assert res.exit_code == 0, res.output
    assert "2030 年" in res.output and "2031 年" in res.output
    # without --years the single-shot output is unchanged
    single = json.loads(run("site", "--hotspots", hot, "--group", "外卖配送员", "--k", "2", "--json").stdout)
    assert "years" not in single and single["sites"] == got["sites"][:2]


@pytest.mark.parametrize("args, message", [
    (["--years", "2", "--objective", "lscp"], "mclp"),
    (["--years", "3", "--per-year", "2,2"], "--per-year"),
    (["--years", "2", "--per-year", "2", "--k", "3"], "--k"),
    (["--years", "2", "--per-year", "a,b"], "--per-year"),
    (["--years", "2"], "--per-year"),
    (["--per-year", "2", "--k", "2"], "--years"),
    (["--first-year", "2030", "--k", "2"], "--years"),
])
def test_site_years_usage_errors(run, args: list[str], message: str) -> None:
    res = run("site", "--hotspots", "nowhere.csv", *args)
    assert res.exit_code == 2 and message in res.output


def test_site_years_with_k_for_every_year(run, sample_home: Path) -> None:
    hot = str(sample_home / "sample" / "hotspots.csv")
    got = json.loads(run("site", "--hotspots", hot, "--group", "外卖配送员", "--years", "2", "--k", "1",
                         "--first-year", "2040", "--json").stdout)
    assert [(y["year"], len(y["sites"])) for y in got["years"]] == [(2040, 1), (2041, 1)]


# -- ANNUAL_TARGETS ----------------------------------------------------------------------------------

def test_annual_targets_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)
    assert DEFAULTS["ANNUAL_TARGETS"] == {"new_stations": {"工会爱心驿站": 200}, "covered_share": {}}
    assert load_config(tmp_path / "a")["ANNUAL_TARGETS"] == DEFAULTS["ANNUAL_TARGETS"]
    home = tmp_path / "b"
    home.mkdir()
    (home / "config.py").write_text('ANNUAL_TARGETS = {"new_stations": {"爱心驿站": 150, "司机之家": 20}, '
                                    '"covered_share": {"外卖骑手": 0.95, "货车司机": 1}}\n', encoding="utf-8")
    # read as written by config (the bottom layer), made canonical by the vocabulary when the app or CLI starts
    assert check_annual_targets(load_config(home)["ANNUAL_TARGETS"]) == {
        "new_stations": {"工会爱心驿站": 150, "司机之家": 20}, "covered_share": {"外卖配送员": 0.95, "货车司机": 1.0}}
    monkeypatch.setenv("YIZHAN_ANNUAL_TARGETS", '{"covered_share": {"快递员": 0.9}}')
    assert check_annual_targets(load_config(home)["ANNUAL_TARGETS"]) == {"new_stations": {},
                                                                         "covered_share": {"快递员": 0.9}}
    monkeypatch.setenv("YIZHAN_ANNUAL_TARGETS", '{"covered_share": {"快递员": 90}}')
    with pytest.raises(ValueError, match="ANNUAL_TARGETS.*0..1"):
        create_app({"HOME": str(home)})
    from click.testing import CliRunner

    from yizhan.cli import main

    refused = CliRunner().invoke(main, ["--home", str(home), "history"])
    assert refused.exit_code == 1 and "invalid ANNUAL_TARGETS" in refused.output and "Traceback" not in refused.output
    assert DEFAULTS["ANNUAL_TARGETS"] == {"new_stations": {"工会爱心驿站": 200}, "covered_share": {}}


@pytest.mark.parametrize("bad, fragment", [
    ({"new_stations": {"加油站": 3}}, "unknown station type"),
    ({"new_stations": {"司机之家": -1}}, "whole number"),
    ({"new_stations": {"司机之家": 2.5}}, "whole number"),
    ({"covered_share": {"程序员": 0.5}}, "unknown worker group"),
    ({"covered_share": {"快递员": float("nan")}}, "0..1"),
    ({"targets": {}}, "keys"),
    ([200], "keys"),
])
def test_annual_targets_validation(bad, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        check_annual_targets(bad)
    text = str(info.value)
    assert "设置 ANNUAL_TARGETS 无效" in text and "invalid ANNUAL_TARGETS" in text and fragment in text
