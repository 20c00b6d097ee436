"""The yizhan command line: every subcommand's --help, import/export/nearest contracts, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import STATION_ROWS, write_csv

from yizhan.cli import main


@pytest.fixture
def run(home: Path):
    runner = CliRunner()

    def _run(*args: str, input: str | None = None):
        return runner.invoke(main, ["--home", str(home), *args], input=input, catch_exceptions=False)

    return _run


def test_help_on_every_subcommand(run) -> None:
    top = run("--help")
    assert top.exit_code == 0
    for name in main.commands:
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert "Usage" in result.output


def test_import_exact_contents_and_nearest_json(run, tmp_path: Path) -> None:
    result = run("import-stations", str(write_csv(tmp_path / "s.csv", STATION_ROWS)))
    assert result.exit_code == 0, result.output
    out = run("nearest", "113.3240", "23.1370", "--k", "2", "--json")
    assert out.exit_code == 0
    records = json.loads(out.output)
    assert [r["id"] for r in records] == ["T1", "T2"]
    assert {"id", "name", "type", "lon", "lat", "distance_m"} <= set(records[0])
    assert records[0]["distance_m"] < 100 < records[1]["distance_m"]
    # the registry holds exactly the imported stations (the sample is never added by import)
    exp = tmp_path / "all.geojson"
    assert run("export-stations", str(exp)).exit_code == 0
    assert len(json.loads(exp.read_text(encoding="utf-8"))["features"]) == 3


def test_nearest_filters_and_crs(run, tmp_path: Path) -> None:
    run("import-stations", str(write_csv(tmp_path / "s.csv", STATION_ROWS)))
    out = json.loads(run("nearest", "113.3240", "23.1370", "--type", "司机之家", "--json").output)
    assert [r["id"] for r in out] == ["T3"]
    out = json.loads(run("nearest", "113.3240", "23.1370", "--group", "快递员", "--json").output)
    assert [r["id"] for r in out] == ["T1", "T2"]  # love station (serves all) and couriers' home, not T3
    out = json.loads(run("nearest", "113.3240", "23.1370", "--open-at", "23:00", "--json").output)
    assert "T1" not in [r["id"] for r in out]  # T1 closes at 20:00
    from yizhan.geodata.crs import wgs84_to_bd09

    blon, blat = wgs84_to_bd09(113.3245, 23.1375)
    out = json.loads(run("nearest", f"{float(blon):.8f}", f"{float(blat):.8f}", "--crs", "bd09", "--json").output)
    assert out[0]["id"] == "T1" and out[0]["distance_m"] < 1


def test_import_rejection_exit_code_and_report(run, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", STATION_ROWS + ["X,海上站,工会爱心驿站,,,,,,,114.5,21.3"])
    result = run("import-stations", str(bad))
    assert result.exit_code != 0
    assert "第 5 行" in result.stderr and "row 5" in result.stderr
    assert "第 5 行" not in result.stdout
    out = run("export-stations", str(tmp_path / "e.csv"))
    assert out.exit_code == 0
    assert (tmp_path / "e.csv").read_text(encoding="utf-8-sig").count("\n") == 1  # header only: nothing written


def test_bad_nearest_input_is_a_usage_error(run) -> None:
    assert run("nearest", "nan", "23.1").exit_code != 0
    assert run("nearest", "113.3", "95").exit_code != 0
    assert run("nearest", "113.3", "23.1", "--open-at", "25:99").exit_code != 0


def test_demo_loads_sample_once(run, home: Path) -> None:
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert (home / "sample" / "hotspots.csv").is_file()
    second = run("demo")
    assert "未载入" in second.output


def test_create_user(run) -> None:
    ok = run("create-user", "gz-admin", "--role", "admin", "--password", "a-long-password")
    assert ok.exit_code == 0
    dup = run("create-user", "gz-admin", "--role", "admin", "--password", "a-long-password")
    assert dup.exit_code != 0
    bad = run("create-user", "d1", "--role", "district", "--password", "a-long-password")
    assert bad.exit_code != 0


def test_analyze_on_the_sample_writes_the_contract_files(run, home: Path, tmp_path: Path) -> None:
    import geopandas as gpd
    import pandas as pd

    assert run("demo").exit_code == 0
    out = tmp_path / "out"
    result = run("analyze", "--hotspots", str(home / "sample" / "hotspots.csv"), "--out", str(out), "--quiet",
                 "--group", "外卖配送员", "--hourly")
    assert result.exit_code == 0, result.output
    assert "覆盖率" in result.stdout and "天河区" in result.stdout
    cells = pd.read_parquet(out / "cells.parquet")
    assert {"h3", "demand", "distance_m", "nearest_id", "covered"} <= set(cells.columns)
    assert cells["h3"].str.len().eq(15).all() and cells["h3"].is_unique
    assert (cells["covered"] == (cells["distance_m"] <= 1000)).all()
    zones = gpd.read_file(out / "blind_zones.geojson")
    assert {"demand", "area_km2", "n_cells", "districts"} <= set(zones.columns)
    assert zones["n_cells"].sum() == (~cells["covered"]).sum()   # every uncovered cell is in a zone
    spots = gpd.read_file(out / "blank_spots.geojson")
    assert len(spots) == (~cells["covered"] & (cells["demand"] > 0)).sum()
    summary = pd.read_csv(out / "summary.csv", encoding="utf-8-sig", dtype={"adcode": str})
    assert "440106" in set(summary["adcode"]) and (summary["level"] == "total").sum() == 1
    assert (out / "summary.xlsx").is_file() and (out / "hourly.csv").is_file()
    hourly = pd.read_csv(out / "hourly.csv", encoding="utf-8-sig")
    assert hourly["open_stations"].min() < hourly["open_stations"].max()   # night closures show


def test_analyze_bad_input(run, home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "h.csv"
    bad.write_text("lon,lat\n113.3,23.1\n999,23.1\n", encoding="utf-8")
    result = run("analyze", "--hotspots", str(bad), "--out", str(tmp_path / "o"), "--quiet")
    assert result.exit_code == 2 and "第 3 行" in result.stderr
    assert not (tmp_path / "o").exists()
    result = run("analyze", "--hotspots", str(bad), "--out", str(tmp_path / "o"), "--metric", "network")
    assert result.exit_code != 0 and "--osm" in result.output


def test_site_json_contract_and_outputs(run, home: Path, tmp_path: Path) -> None:
    assert run("demo").exit_code == 0
    hot = str(home / "sample" / "hotspots.csv")
    greedy = run("site", "--hotspots", hot, "--k", "5", "--group", "外卖配送员", "--json")
    assert greedy.exit_code == 0, greedy.output
    g = json.loads(greedy.stdout)
    assert len(g["sites"]) == 5 and {"lon", "lat", "gain", "name"} <= set(g["sites"][0])
    assert [s["gain"] for s in g["sites"]] == sorted((s["gain"] for s in g["sites"]), reverse=True)
    assert g["covered_after"] == pytest.approx(g["covered_before"] + sum(s["gain"] for s in g["sites"]))
    assert "gap" not in g
    exact = json.loads(run("site", "--hotspots", hot, "--k", "5", "--group", "外卖配送员", "--solver", "exact", "--json").stdout)
    assert exact["gap"] is not None and exact["gap"] <= 1e-6
    assert exact["covered_after"] >= g["covered_after"] - 1e-9          # greedy never beats the optimum
    cands = tmp_path / "c.csv"
    cands.write_text("名称,经度,纬度,host\n体育中心超市,113.3245,23.1375,超市\n从化街口银行,113.5905,23.5505,银行\n",
                     encoding="gbk")
    out = tmp_path / "sites.csv"
    res = run("site", "--hotspots", hot, "--k", "1", "--candidates", str(cands), "--out", str(out), "--group", "外卖配送员")
    assert res.exit_code == 0, res.output
    import pandas as pd

    table = pd.read_csv(out, encoding="utf-8-sig")
    # the Tianhe site is already covered; the under-served Conghua site brings new demand
    assert list(table["name"]) == ["从化街口银行"] and table["gain"].iloc[0] > 0 and table["host"].iloc[0] == "银行网点"
    lscp = json.loads(run("site", "--hotspots", hot, "--objective", "lscp", "--target-share", "0.8", "--group",
                          "外卖配送员", "--json").stdout)
    assert lscp["covered_after"] / lscp["total_demand"] >= 0.8
    assert run("site", "--hotspots", hot, "--objective", "mclp").exit_code != 0     # mclp needs --k
